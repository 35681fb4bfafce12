"""Custom audio (``audio_url``) in the emulator, over real loopback HTTP: the file becomes the
video's AAC track (cut or padded to the video), the picture follows its loudness, bad files are
refused at create like the service refuses them, and the render cache tells audio files apart by
content, not URL."""

from __future__ import annotations

import copy
import io
import socket
import threading
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import TEST_API_KEY
from tests.emulator_helpers import (
    create,
    create_id,
    frames,
    i2v,
    png_data_uri,
    probe,
    t2v,
    wait_done,
)
from wanbook.emulator import Emulator
from wanbook.emulator._audio import levels
from wanbook.emulator._overlay import LevelBar

RATE = 44100  # the test files' rate; the emulator resamples to 48 kHz
OUT_RATE = 48000
TONE = 440.0

# A 4 s pattern, as (seconds, amplitude): loud, a silent gap, loud. A 5 s video pads 1 s.
PATTERN = ((1.5, 0.5), (1.0, 0.0), (1.5, 0.5))
OSS = {"X-DashScope-OssResourceResolve": "enable"}


def _signal(pattern: tuple[tuple[float, float], ...], freq: float = TONE) -> np.ndarray:
    parts = []
    for seconds, amp in pattern:
        t = np.arange(int(seconds * RATE)) / RATE
        parts.append(amp * np.sin(2 * np.pi * freq * t))
    return np.concatenate(parts)


def wav_bytes(
    pattern: tuple[tuple[float, float], ...], channels: int = 1, freq: float = TONE
) -> bytes:
    pcm = (_signal(pattern, freq) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.repeat(pcm[:, None], channels, axis=1).tobytes())
    return buf.getvalue()


def encoded_bytes(pattern: tuple[tuple[float, float], ...], codec: str, fmt: str) -> bytes:
    """The pattern as stereo audio through PyAV (``libmp3lame``/mp3, ``flac``/flac)."""
    import av

    signal = _signal(pattern).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=RATE, layout="stereo")
        step = 1152
        for start in range(0, len(signal), step):
            part = np.ascontiguousarray(np.vstack([signal[start : start + step]] * 2))
            frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = RATE, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


class Files:
    """A tiny loopback file server: paths to bytes, 404 for the rest, and a hit count per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.hits: dict[str, int] = {}
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.partition("?")[0]
                files.hits[path] = files.hits.get(path, 0) + 1
                if path in files.redirects:
                    self.send_response(302)
                    self.send_header("Location", files.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = files.files.get(path)
                self.send_response(200 if data is not None else 404)
                self.send_header("Content-Type", "audio/mpeg")
                self.send_header("Content-Length", str(len(data or b"")))
                self.end_headers()
                self.wfile.write(data or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def put(self, path: str, data: bytes) -> str:
        self.files[path] = data
        return self.url(path)


@pytest.fixture(scope="module")
def files() -> Iterator[Files]:
    f = Files()
    f.thread.start()
    yield f
    f.server.shutdown()
    f.server.server_close()


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limits=False, time_scale=1e-3) as e:
        yield e


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as c:
        yield c


def _with_audio(body: dict, url: str) -> dict:
    body = copy.deepcopy(body)
    body["input"]["audio_url"] = url
    return body


def _run(client: httpx.Client, emu: Emulator, body: dict) -> tuple[dict, bytes]:
    answer = wait_done(client, emu.base_url, create_id(client, emu.base_url, body))
    assert answer["output"]["task_status"] == "SUCCEEDED", answer
    return answer, client.get(answer["output"]["video_url"]).content


def sound_of(video: bytes) -> tuple[np.ndarray, str, int]:
    """The decoded audio track: samples (channels, n) from time 0, codec name, channel count."""
    import av

    with av.open(io.BytesIO(video)) as c:
        stream = c.streams.audio[0]
        name, channels = stream.codec_context.name, stream.codec_context.channels
        parts = [frame.to_ndarray() for frame in c.decode(stream)]
    return np.concatenate(parts, axis=1), name, channels


def window_rms(samples: np.ndarray, start: float, end: float) -> float:
    mono = samples.mean(axis=0)[int(start * OUT_RATE) : int(end * OUT_RATE)]
    return float(np.sqrt(np.mean(mono**2)))


def meter_row(video: bytes, index: int) -> np.ndarray:
    """The middle row of the level meter's track in frame ``index``, as RGB."""
    (frame,) = frames(video, index)
    h, w = frame.shape[:2]
    x, y, mw, mh = LevelBar(w, h).box
    return frame[y + mh // 2, x : x + mw].astype(np.int16)


def meter_fill(video: bytes, index: int) -> float:
    """How much of the level meter is lit in frame ``index`` (0 = dark track, 1 = full)."""
    row = meter_row(video, index)
    return float((row[:, 1] > 128).mean())  # the fill is amber, the track nearly black


def meter_dark(video: bytes, index: int) -> float:
    """The share of the meter's place that shows the dark, unlit track."""
    return float((meter_row(video, index).max(axis=1) < 50).mean())


# ------------------------------------------------------------------ the sound track
SOUND_CASES = [
    # (request, file type served, channels expected in the AAC track)
    pytest.param(
        t2v("wan2.5-t2v-preview", prompt="a choir", seed=3, audio=False),
        "wav",
        1,
        id="t2v-wav-mono-padded-audio_url-beats-audio-false",
    ),
    pytest.param(
        i2v("wan2.5-i2v-preview", png_data_uri(640, 360), seed=3, resolution="480P"),
        "mp3",
        2,
        id="i2v-mp3-stereo",
    ),
]


@pytest.mark.parametrize(("body", "kind", "channels"), SOUND_CASES)
def test_custom_audio_is_the_sound_track_padded_to_the_video(
    emu, client, files, body, kind, channels
) -> None:
    data = wav_bytes(PATTERN) if kind == "wav" else encoded_bytes(PATTERN, "libmp3lame", "mp3")
    url = files.put(f"/track-{kind}.{kind}", data)
    answer, video = _run(client, emu, _with_audio(body, url))
    info = probe(video)
    assert info["audio"] == 1 and info["frames"] == 150
    assert info["duration"] == pytest.approx(5.0, abs=0.1)
    samples, codec, got_channels = sound_of(video)
    assert (codec, got_channels) == ("aac", channels)
    assert samples.shape[1] / OUT_RATE == pytest.approx(5.0, abs=0.1)
    loud = [window_rms(samples, a, a + 0.25) for a in (0.2, 0.8, 1.1, 2.7, 3.5)]
    quiet = [window_rms(samples, a, a + 0.25) for a in (1.7, 2.1, 4.2, 4.6)]
    assert min(loud) > 0.2, loud  # the tone (amplitude 0.5: RMS 0.35)
    assert max(quiet) < 0.01, quiet  # the gap, and the padding after the 4 s file
    spectrum = np.abs(np.fft.rfft(samples.mean(axis=0)[: OUT_RATE // 2]))
    assert np.argmax(spectrum) * 2 == pytest.approx(TONE, abs=4)  # it is the file's 440 Hz


def test_longer_audio_is_cut_to_the_video(emu, client, files) -> None:
    url = files.put("/long.wav", wav_bytes(((2.0, 0.0), (6.0, 0.5))))
    _, video = _run(client, emu, _with_audio(t2v("wan2.5-t2v-preview", seed=4), url))
    samples, _, _ = sound_of(video)
    assert samples.shape[1] / OUT_RATE == pytest.approx(5.0, abs=0.1)
    assert window_rms(samples, 0.5, 1.5) < 0.01 < 0.2 < window_rms(samples, 3.0, 4.5)


def test_the_picture_follows_the_loudness(emu, client, files) -> None:
    url = files.put("/meter.wav", wav_bytes(PATTERN))
    _, video = _run(client, emu, _with_audio(t2v("wan2.5-t2v-preview", seed=5), url))
    loud = [meter_fill(video, i) for i in (15, 40, 90, 110)]  # inside the tone (30 fps)
    quiet = [meter_fill(video, i) for i in (65, 72, 140, 145)]  # the gap, the padding
    assert min(loud) > 0.6, loud
    assert max(quiet) < 0.05, quiet
    assert min(meter_dark(video, i) for i in (65, 140)) > 0.9  # the unlit track is there


def test_no_meter_without_custom_audio(emu, client) -> None:
    _, video = _run(client, emu, t2v("wan2.5-t2v-preview", seed=5))  # a bright snow scene
    assert max(meter_dark(video, i) for i in (15, 65, 140)) < 0.5


def test_an_unfetched_url_gets_a_stand_in_the_picture_follows(emu, client) -> None:
    body = t2v("wan2.5-t2v-preview", seed=6)
    _, video = _run(client, emu, _with_audio(body, "https://example.com/voice.mp3"))
    samples, _, _ = sound_of(video)
    per_second = [window_rms(samples, a, a + 1) for a in range(5)]
    assert max(per_second) > 0.05  # a sound, not silence
    fills = [meter_fill(video, i) for i in range(0, 150, 5)]
    assert max(fills) - min(fills) > 0.3  # and the meter moves with it


def test_flash_with_audio_false_ignores_the_url(emu, client, files) -> None:
    url = files.put("/ignored.mp3", wav_bytes(PATTERN))  # not even an mp3: never read
    body = i2v("wan2.6-i2v-flash", png_data_uri(640, 360), resolution="720P", duration=2)
    body["parameters"]["audio"] = False
    answer, video = _run(client, emu, _with_audio(body, url))
    assert probe(video)["audio"] == 0 and answer["usage"]["audio"] is False
    assert files.hits.get("/ignored.mp3", 0) == 0


# ------------------------------------------------------------------ refusals at create
@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nobody listens on (bound, so nobody else takes it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _refusals(files: Files, closed_port: int) -> list[tuple[str, int, str, str]]:
    files.files["/short.wav"] = wav_bytes(((2.0, 0.5),))
    files.files["/long31.wav"] = wav_bytes(((31.0, 0.1),))
    files.files["/noise.mp3"] = b"<html><body>not audio</body></html>\n" * 500
    files.files["/flac.wav"] = encoded_bytes(((3.5, 0.3),), "flac", "flac")
    files.files["/huge.wav"] = b"\0" * (15 * 1024 * 1024 + 1)
    files.redirects["/away.mp3"] = "http://example.com/away.mp3"
    closed = f"http://127.0.0.1:{closed_port}/closed.mp3"
    return [
        (files.url("/missing.mp3"), 415, "BadRequest.InputDownloadFailed", "HTTP 404"),
        (closed, 415, "BadRequest.InputDownloadFailed", "ConnectError"),
        (files.url("/away.mp3"), 415, "BadRequest.InputDownloadFailed", "leaves loopback"),
        (files.url("/noise.mp3"), 415, "BadRequest.UnsupportedFileFormat", "wav or mp3"),
        (files.url("/flac.wav"), 415, "BadRequest.UnsupportedFileFormat", "flac"),
        (files.url("/short.wav"), 400, "InvalidParameter", "2.0 s long; it must be 3-30 s"),
        (files.url("/long31.wav"), 400, "InvalidParameter", "31.0 s long"),
        (files.url("/huge.wav"), 400, "InvalidParameter", "at most 15 MB"),
    ]


def test_bad_audio_is_refused_at_create_naming_the_field(emu, client, files, closed_port) -> None:
    for url, status, code, words in _refusals(files, closed_port):
        body = _with_audio(t2v("wan2.5-t2v-preview"), url + "?token=secret")
        r = create(client, emu.base_url, body)
        assert r.status_code == status, (url, r.text)
        answer = r.json()
        assert answer["code"] == code, (url, answer)
        assert answer["message"].startswith("audio_url: ") and words in answer["message"]
        assert "secret" not in answer["message"]
    assert files.hits.get("/away.mp3") == 1  # the redirect off loopback was not followed
    # The server survived every refusal: the next create still works.
    assert create(client, emu.base_url, t2v("wan2.1-t2v-turbo")).status_code == 200


@pytest.mark.parametrize(
    ("url", "headers", "code", "words"),
    [
        ("oss://up/voice.mp3", {}, "InvalidURL", "X-DashScope-OssResourceResolve"),
        ("oss://up/nothing-here.mp3", OSS, "InvalidURL", "no uploaded file at oss://up/"),
        ("oss://up/voice.ogg", OSS, "InvalidParameter", "'oss://up/voice.ogg'"),
    ],
)
def test_sdk_uploads_need_the_header_and_the_file(emu, client, url, headers, code, words) -> None:
    r = create(client, emu.base_url, _with_audio(t2v("wan2.5-t2v-preview"), url), **headers)
    assert (r.status_code, r.json()["code"]) == (400, code)
    assert words in r.json()["message"] and "audio_url" in r.json()["message"]


def test_the_vendor_sdk_uploads_a_local_audio_file(
    emu, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import dashscope
    from dashscope import VideoSynthesis

    monkeypatch.setattr(dashscope, "base_http_api_url", emu.base_url)
    path = tmp_path / "voice.wav"
    path.write_bytes(wav_bytes(PATTERN))
    rsp = VideoSynthesis.call(
        model="wan2.5-t2v-preview",
        prompt="a choir in a cave",
        size="832*480",
        audio_url=f"file://{path}",
        api_key=TEST_API_KEY,
    )
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED", rsp
    with httpx.Client(timeout=60) as c:
        samples, _, _ = sound_of(c.get(rsp.output.video_url).content)
    assert window_rms(samples, 0.5, 1.0) > 0.2 > 0.01 > window_rms(samples, 1.8, 2.3)


# ------------------------------------------------------------------ determinism and the cache
def test_identical_requests_give_identical_videos(client, files) -> None:
    url = files.put("/same.wav", wav_bytes(PATTERN))
    body = _with_audio(t2v("wan2.5-t2v-preview", seed=9, prompt_extend=False), url)
    videos = []
    for _ in range(2):
        with Emulator(rate_limits=False, time_scale=1e-3) as e:  # separate caches
            videos.append(_run(client, e, body)[1])
    assert videos[0] == videos[1]


def test_new_audio_at_the_same_url_is_a_new_video(emu, client, files) -> None:
    body = t2v("wan2.5-t2v-preview", seed=10, prompt_extend=False)
    url = files.put("/changing.wav", wav_bytes(PATTERN))
    first = _run(client, emu, _with_audio(body, url))[1]
    files.put("/changing.wav", wav_bytes(((0.5, 0.0), (3.0, 0.5)), freq=660.0))
    second = _run(client, emu, _with_audio(body, url))[1]
    assert first != second
    a, b = sound_of(first)[0], sound_of(second)[0]
    assert window_rms(a, 1.7, 2.2) < 0.01 < 0.2 < window_rms(b, 1.7, 2.2)  # A's gap, B's tone
    assert meter_fill(first, 65) < 0.05 < 0.6 < meter_fill(second, 65)


# ------------------------------------------------------------------ loudness, as a table
@pytest.mark.parametrize(
    ("amplitude", "expected"),
    [
        (0.0, 0.0),  # silence
        (10 ** (-60 / 20) * np.sqrt(2), 0.0),  # -60 dBFS: below the floor
        (10 ** (-27 / 20) * np.sqrt(2), 0.5),  # -27 dBFS: half way from -48 to -6
        (1.0, 1.0),  # full scale: above the top
    ],
)
def test_levels_map_loudness_to_zero_to_one(amplitude: float, expected: float) -> None:
    t = np.arange(OUT_RATE) / OUT_RATE
    tone = (amplitude * np.sin(2 * np.pi * 1000 * t)).astype(np.float32).reshape(1, -1)
    assert levels(tone, 30, 30) == pytest.approx(np.full(30, expected), abs=0.01)


def test_levels_fall_smoothly_and_cover_short_audio() -> None:
    loud = np.full((2, OUT_RATE // 30), 0.6, np.float32)  # one frame of sound, stereo
    out = levels(loud, 10, 30)  # ten frames: the rest is silence (padding)
    assert out[0] == 1.0 and list(out[1:4]) == pytest.approx([0.8, 0.64, 0.512])
    assert all(a >= b for a, b in zip(out, out[1:], strict=False))
