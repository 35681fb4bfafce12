"""Media out: streamed, verified, atomic video downloads; probing; posters.

A real MP4 is made with PyAV once per module and served through ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from wanbook._errors import DownloadError
from wanbook._media.videos import (
    VideoFile,
    VideoInfo,
    backoff_delay,
    download_video,
    poster_frame,
    probe,
    redact_url,
)

URL = "https://dashscope-result.example.com/1d/abc/video.mp4?Expires=1&Signature=SECRETTOKEN"
W, H, FRAMES, FPS = 64, 64, 10, 30


def make_video(
    path: Path, *, audio: bool = True, fmt: str = "mp4", video: bool = True, w: int = W
) -> Path:
    """A tiny H.264 (+ AAC) file whose frame i is flat grey at level 20·i."""
    with av.open(str(path), "w", format=fmt) as out:
        vs = None
        if video:
            vs = out.add_stream("libx264", rate=FPS)
            vs.width, vs.height, vs.pix_fmt = w, H, "yuv420p"
        astream = out.add_stream("aac", rate=48000) if audio else None
        if vs is not None:
            for i in range(FRAMES):
                frame = av.VideoFrame.from_ndarray(np.full((H, w, 3), i * 20, np.uint8), "rgb24")
                out.mux(vs.encode(frame))
            out.mux(vs.encode())
        if astream is not None:
            total = 48000 * FRAMES // FPS
            for start in range(0, total, 1024):
                samples = np.zeros((1, min(1024, total - start)), np.float32)
                af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = 48000, start, Fraction(1, 48000)
                out.mux(astream.encode(af))
            out.mux(astream.encode())
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    return {
        "av": make_video(d / "av.mp4"),
        "silent": make_video(d / "silent.mp4", audio=False),
        "mkv": make_video(d / "v.mkv", fmt="matroska", audio=False),
        "audio_only": make_video(d / "a.mp4", video=False),
    }


@pytest.fixture(scope="module")
def mp4(videos: dict[str, Path]) -> bytes:
    return videos["av"].read_bytes()


def serve(
    responses: list[Callable[[httpx.Request], httpx.Response]],
) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """A client whose n-th request gets the n-th response (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1](request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


def body(
    data: bytes, *, length: int | None = None, status: int = 200, chunk: int = 1000, headers=None
):
    """A streamed response (the body arrives in chunks), declaring ``length`` bytes if given."""

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]

    def respond(request: httpx.Request) -> httpx.Response:
        h = dict(headers or {})
        if length is not None:
            h["Content-Length"] = str(length)
        return httpx.Response(status, headers=h, content=stream())

    return respond


def status(code: int, headers: dict[str, str] | None = None):
    return lambda request: httpx.Response(code, headers=headers or {}, content=b"error page")


def fails(exc: type[httpx.TransportError]):
    def respond(request: httpx.Request) -> httpx.Response:
        raise exc(f"failed talking to {request.url}", request=request)

    return respond


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def fetch(client: httpx.AsyncClient, dest: Path, url: str = URL, **kw) -> VideoFile:
    async def go() -> VideoFile:
        async with client:
            return await download_video(client, url, dest, **kw)

    return asyncio.run(go())


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".part-" in p.name)


# --------------------------------------------------------------------------- probe


def test_probe_reads_the_numbers(videos: dict[str, Path]) -> None:
    info = probe(videos["av"])
    assert info == VideoInfo(
        width=W,
        height=H,
        fps=30.0,
        duration=pytest.approx(FRAMES / FPS, abs=1e-3),
        has_audio=True,
        video_codec="h264",
        audio_codec="aac",
        frames=FRAMES,
    )
    silent = probe(str(videos["silent"]))
    assert (silent.has_audio, silent.audio_codec, silent.frames) == (False, None, FRAMES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mkv", "is not an MP4 (container 'matroska,webm')"),
        ("audio_only", "has no video stream"),
    ],
)
def test_probe_refuses(videos: dict[str, Path], name: str, expected: str) -> None:
    with pytest.raises(DownloadError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        probe(videos[name])


def test_probe_refuses_garbage_and_missing(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"<html>not a video</html>" * 50)
    with pytest.raises(DownloadError, match="is not a readable video"):
        probe(junk)
    with pytest.raises(DownloadError, match="no such file"):
        probe(tmp_path / "missing.mp4")


def test_probe_refuses_a_cut_file(tmp_path: Path, mp4: bytes) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(mp4[: len(mp4) // 2])
    with pytest.raises(DownloadError):
        probe(cut)


# --------------------------------------------------------------------------- download: success


def test_download_success_is_atomic_and_verified(tmp_path: Path, mp4: bytes) -> None:
    client, seen = serve([body(mp4, length=len(mp4))])
    dest = tmp_path / "runs" / "run-0001.mp4"  # the folder is created
    result = fetch(client, dest)
    assert result.path == dest
    assert result.bytes == len(mp4) == dest.stat().st_size
    assert result.sha256 == hashlib.sha256(mp4).hexdigest()
    assert dest.read_bytes() == mp4
    assert (result.info.width, result.info.height, result.info.frames) == (W, H, FRAMES)
    assert result.info.fps == 30.0 and result.info.has_audio
    assert result.info.duration == pytest.approx(FRAMES / FPS, abs=1e-3)
    assert leftovers(dest.parent) == []
    assert len(seen) == 1 and str(seen[0].url) == URL  # the signed URL is sent as is


def test_download_without_content_length(tmp_path: Path, mp4: bytes) -> None:
    client, _ = serve([body(mp4, length=None, chunk=333)])
    result = fetch(client, tmp_path / "v.mp4", chunk_size=100)
    assert result.sha256 == hashlib.sha256(mp4).hexdigest()


def test_the_server_does_not_choose_the_file_name(tmp_path: Path, mp4: bytes) -> None:
    evil = {"Content-Disposition": 'attachment; filename="../../evil.mp4"'}
    client, _ = serve([body(mp4, length=len(mp4), headers=evil)])
    fetch(client, tmp_path / "d" / "mine.mp4")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["d", "mine.mp4"]


def test_download_replaces_an_older_file(tmp_path: Path, mp4: bytes) -> None:
    dest = tmp_path / "v.mp4"
    dest.write_bytes(b"old")
    client, _ = serve([body(mp4, length=len(mp4))])
    fetch(client, dest)
    assert dest.read_bytes() == mp4


# --------------------------------------------------------------------------- download: failures


def _failure(tmp_path: Path, responses, **kw) -> tuple[str, int, Sleeps, Path]:
    client, seen = serve(responses)
    sleeps = Sleeps()
    dest = tmp_path / "v.mp4"
    dest.write_bytes(b"an earlier good copy")
    with pytest.raises(DownloadError) as info:
        fetch(client, dest, sleep=sleeps, **kw)
    assert dest.read_bytes() == b"an earlier good copy"  # never clobbered
    assert leftovers(tmp_path) == []  # no temp file survives
    message = str(info.value)
    assert "SECRETTOKEN" not in message and "Signature" not in message
    # nor anywhere in the traceback a notebook would print (causes and contexts included)
    assert "SECRETTOKEN" not in "".join(traceback.format_exception(info.value))
    return message, len(seen), sleeps, dest


def test_truncated_body_is_retried_then_refused(tmp_path: Path, mp4: bytes) -> None:
    short = body(mp4[: len(mp4) // 2], length=len(mp4))
    message, calls, sleeps, _ = _failure(tmp_path, [short], retries=2)
    assert calls == 3 and len(sleeps.calls) == 2
    assert f"body was {len(mp4) // 2} bytes, Content-Length said {len(mp4)}" in message
    assert "failed after 3 attempts" in message


def test_truncated_then_whole(tmp_path: Path, mp4: bytes) -> None:
    client, seen = serve([body(mp4[:100], length=len(mp4)), body(mp4, length=len(mp4))])
    result = fetch(client, tmp_path / "v.mp4", sleep=Sleeps())
    assert len(seen) == 2 and result.bytes == len(mp4)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"<html><body>Access denied</body></html>" * 20, "is not a readable video"),
        (b"", "is not a readable video"),
    ],
    ids=["html", "empty"],
)
def test_not_an_mp4_is_not_retried(tmp_path: Path, payload: bytes, expected: str) -> None:
    message, calls, sleeps, _ = _failure(tmp_path, [body(payload, length=len(payload))])
    assert calls == 1 and sleeps.calls == []
    assert message.startswith("download of https://dashscope-result.example.com/1d/abc/video.mp4?…")
    assert expected in message


def test_a_matroska_body_is_not_an_mp4(tmp_path: Path, videos: dict[str, Path]) -> None:
    mkv = videos["mkv"].read_bytes()
    message, calls, _, _ = _failure(tmp_path, [body(mkv, length=len(mkv))])
    assert "is not an MP4" in message and calls == 1


def test_500_then_success(tmp_path: Path, mp4: bytes) -> None:
    client, seen = serve([status(500), status(503), body(mp4, length=len(mp4))])
    sleeps = Sleeps()
    result = fetch(client, tmp_path / "v.mp4", sleep=sleeps)
    assert len(seen) == 3 and result.sha256 == hashlib.sha256(mp4).hexdigest()
    assert 0.375 <= sleeps.calls[0] <= 0.625 and 0.75 <= sleeps.calls[1] <= 1.25
    assert leftovers(tmp_path) == []


def test_retry_after_is_honoured_and_capped(tmp_path: Path, mp4: bytes) -> None:
    client, _ = serve(
        [
            status(429, {"Retry-After": "2"}),
            status(503, {"Retry-After": "3600"}),
            status(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
            body(mp4),
        ]
    )
    sleeps = Sleeps()
    fetch(client, tmp_path / "v.mp4", sleep=sleeps)
    assert sleeps.calls[:2] == [2.0, 30.0]
    assert 1.5 <= sleeps.calls[2] <= 2.5  # a date is ignored: backoff for the third try


def test_transport_error_then_success(tmp_path: Path, mp4: bytes) -> None:
    client, seen = serve([fails(httpx.ConnectError), fails(httpx.ReadTimeout), body(mp4)])
    assert fetch(client, tmp_path / "v.mp4", sleep=Sleeps()).bytes == len(mp4)
    assert len(seen) == 3


def test_transport_errors_exhausted_hide_the_query(tmp_path: Path) -> None:
    message, calls, sleeps, _ = _failure(tmp_path, [fails(httpx.ConnectError)], retries=1)
    assert calls == 2 and len(sleeps.calls) == 1
    assert "failed after 2 attempts: ConnectError" in message
    assert "video.mp4?…" in message


def test_retries_zero_means_one_attempt(tmp_path: Path) -> None:
    message, calls, sleeps, _ = _failure(tmp_path, [status(500)], retries=0)
    assert (calls, sleeps.calls) == (1, [])
    assert "failed after 1 attempt: HTTP 500" in message


@pytest.mark.parametrize(("code", "hint"), [(403, "expire"), (404, "expire"), (400, "")])
def test_client_errors_are_not_retried(tmp_path: Path, code: int, hint: str) -> None:
    message, calls, sleeps, _ = _failure(tmp_path, [status(code)])
    assert (calls, sleeps.calls) == (1, [])
    assert f"failed: HTTP {code}" in message and hint in message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/v.mp4",
        "file:///etc/passwd",
        "/tmp/v.mp4",
        "s3://bucket/v.mp4?token=SECRETTOKEN",
        "data:video/mp4;base64,AAAA",
        "https:///no-host.mp4",
    ],
)
def test_non_http_urls_are_refused_without_a_request(tmp_path: Path, url: str) -> None:
    client, seen = serve([status(200)])
    with pytest.raises(DownloadError, match="only http\\(s\\) URLs are fetched") as info:
        fetch(client, tmp_path / "v.mp4", url=url)
    assert seen == []
    assert "SECRETTOKEN" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_download_leaves_nothing(tmp_path: Path, mp4: bytes) -> None:
    gate = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield mp4[:500]
        gate.set()
        await asyncio.sleep(60)
        yield mp4[500:]

    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, content=slow()))
    )

    async def go() -> None:
        async with client:
            task = asyncio.create_task(download_video(client, URL, tmp_path / "v.mp4"))
            await gate.wait()
            await asyncio.sleep(0)
            assert leftovers(tmp_path)  # the temp file exists while streaming
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(go())
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (URL, "https://dashscope-result.example.com/1d/abc/video.mp4?…"),
        ("https://user:pw@example.com/a.mp4#frag", "https://example.com/a.mp4"),
        ("http://example.com/a.mp4", "http://example.com/a.mp4"),
        ("http://[::1/a", "<unparseable URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.5, 0.5),
        (1, 0.5, 1.0),
        (2, 0.5, 2.0),
        (3, 0.5, 4.0),
        (4, 0.5, 8.0),
        (9, 0.5, 8.0),
        (0, 0.0, 0.375),
        (0, 1.0, 0.625),
        (4, 1.0, 8.0),  # the cap holds after jitter too
    ],
)
def test_backoff_delay(attempt: int, rand: float, expected: float) -> None:
    assert backoff_delay(attempt, rand=lambda: rand) == pytest.approx(expected)


# --------------------------------------------------------------------------- poster


def _mean(path: Path) -> float:
    with Image.open(path) as img:
        return float(np.asarray(img.convert("L")).mean())


def test_poster_frame_picks_the_frame_and_scales(tmp_path: Path) -> None:
    video = make_video(tmp_path / "wide.mp4", audio=False, w=128)
    first = poster_frame(video, tmp_path / "p0.jpg", at_seconds=0, max_width=32)
    later = poster_frame(video, tmp_path / "p1.jpg", at_seconds=0.2, max_width=32)
    beyond = poster_frame(video, tmp_path / "p2.jpg", at_seconds=99)
    with Image.open(first) as img:
        assert (img.format, img.size) == ("JPEG", (32, 16))
    with Image.open(beyond) as img:
        assert img.size == (128, H)  # narrower than max_width: not scaled
    assert _mean(first) == pytest.approx(0, abs=6)
    assert _mean(later) == pytest.approx(6 * 20, abs=6)  # frame 6 is at 0.2 s
    assert _mean(beyond) == pytest.approx(9 * 20, abs=6)  # the last frame
    assert leftovers(tmp_path) == []


def test_poster_frame_is_lazy(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", audio=False)
    poster = poster_frame(video, tmp_path / "p.jpg")
    stamp = poster.stat().st_mtime_ns
    os.utime(video, ns=(stamp - 10**9, stamp - 10**9))
    assert poster_frame(video, poster).stat().st_mtime_ns == stamp  # reused
    os.utime(video, ns=(stamp + 10**9, stamp + 10**9))
    assert poster_frame(video, poster).stat().st_mtime_ns != stamp  # video newer: redone


def test_poster_frame_of_a_bad_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"nope" * 100)
    with pytest.raises(DownloadError, match="could not be read for a poster"):
        poster_frame(junk, tmp_path / "p.jpg")
    assert not (tmp_path / "p.jpg").exists()


# --------------------------------------------------------------------------- import cost


def test_import_does_not_load_heavy_modules() -> None:
    code = "import sys, wanbook._media.videos; print(sorted({'av', 'PIL', 'httpx'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
