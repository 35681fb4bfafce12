"""The emulator's videos: real H.264 at 30 fps, the service's sizes, sound when the model makes it,
usage per family, determinism, the watermark, i2v starting from the image."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.emulator_helpers import (
    create_id,
    frames,
    i2v,
    png_data_uri,
    probe,
    t2v,
    wait_done,
)
from wanbook._spec.catalogue import catalogue, i2v_output_size
from wanbook.emulator import Emulator
from wanbook.emulator._overlay import font, wrap
from wanbook.emulator._render import RenderJob, encode

URL = "https://example.com/pictures/cat.jpg"  # never fetched: a 16:9 stand-in is used
MP3 = "https://example.com/voice.mp3"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limits=False, time_scale=1e-3) as e:
        yield e


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as c:
        yield c


def _run(client: httpx.Client, emu: Emulator, body: dict) -> tuple[dict, bytes]:
    answer = wait_done(client, emu.base_url, create_id(client, emu.base_url, body))
    assert answer["output"]["task_status"] == "SUCCEEDED", answer
    video = client.get(answer["output"]["video_url"])
    assert video.status_code == 200
    return answer, video.content


USAGE_KEYS = {
    "wan2.6-t2v": {
        "duration",
        "input_video_duration",
        "output_video_duration",
        "video_count",
        "SR",
        "size",
    },
    "wan2.6-i2v-flash": {
        "duration",
        "input_video_duration",
        "output_video_duration",
        "video_count",
        "SR",
        "audio",
    },
    "wan2.6-i2v": {
        "duration",
        "input_video_duration",
        "output_video_duration",
        "video_count",
        "SR",
    },
    "sr-duration": {"duration", "SR", "video_count"},
    "t2v-legacy": {"video_duration", "video_ratio", "video_count"},
    "wan2.1-i2v": {"video_duration", "video_ratio", "video_count"},
}

# (request, expected sound track, expected size, duration)
CASES = [
    (t2v("wan2.6-t2v", size="1280*720"), True, (1280, 720), 5),
    (t2v("wan2.5-t2v-preview", audio=False), False, (832, 480), 5),
    (
        t2v("wan2.5-t2v-preview", audio=False, seed=1)
        | {"input": {"prompt": "a song", "audio_url": MP3}},
        True,
        (832, 480),
        5,
    ),  # t2v: a custom audio URL beats audio=false
    (t2v("wan2.2-t2v-plus"), False, (832, 480), 5),
    (t2v("wan2.1-t2v-turbo"), False, (832, 480), 5),
    (i2v("wan2.6-i2v-flash", URL, resolution="720P", duration=2), True, (1280, 720), 2),
    (
        i2v("wan2.6-i2v-flash", URL, resolution="720P", duration=2, audio=False)
        | {"input": {"img_url": URL, "audio_url": MP3}},
        False,
        (1280, 720),
        2,
    ),  # flash: audio wins
    (i2v("wan2.6-i2v", URL, resolution="720P", duration=2), True, (1280, 720), 2),
    (i2v("wan2.5-i2v-preview", URL, resolution="480P"), True, (832, 464), 5),
    (i2v("wan2.2-i2v-flash", URL, resolution="480P"), False, (832, 464), 5),
    (i2v("wan2.1-i2v-turbo", URL, resolution="480P", duration=3), False, (832, 464), 3),
]


@pytest.mark.parametrize(
    ("body", "sound", "size", "duration"),
    CASES,
    ids=[f"{c[0]['model']}-{'sound' if c[1] else 'silent'}" for c in CASES],
)
def test_video_usage_and_sound_match_the_model(emu, client, body, sound, size, duration) -> None:
    spec = catalogue().get(body["model"])
    params = body["parameters"]
    assert spec.has_sound(params.get("audio"), body["input"].get("audio_url")) is sound
    answer, data = _run(client, emu, body)
    info = probe(data)
    assert (info["codec"], info["fps"], info["pix_fmt"]) == ("h264", 30.0, "yuv420p")
    assert (info["width"], info["height"]) == size
    assert info["frames"] == duration * 30
    assert info["duration"] == pytest.approx(duration, abs=0.1)
    assert info["audio"] == (1 if sound else 0)
    usage = answer["usage"]
    assert set(usage) == USAGE_KEYS[spec.usage]
    billed = usage.get("duration", usage.get("video_duration"))
    assert billed == duration and usage["video_count"] == 1
    if "SR" in usage:
        assert usage["SR"] == int((params.get("resolution") or "720P").rstrip("P"))
    if spec.usage == "t2v-legacy":
        assert usage["video_ratio"] == f"{size[0]}*{size[1]}"
    if spec.usage == "wan2.6-i2v-flash":
        assert usage["audio"] is sound


def test_i2v_keeps_the_image_aspect_and_starts_from_it(emu, client) -> None:
    picture = png_data_uri(750, 1000, seed=1)
    body = i2v("wan2.6-i2v-flash", picture, resolution="720P", duration=2, audio=False)
    _, data = _run(client, emu, body)
    info = probe(data)
    assert (info["width"], info["height"]) == (816, 1104) == i2v_output_size(750, 1000, "720P")
    first, last = frames(data, 0, 59)
    expected, other = (
        _pixels(picture, (816, 1104)),
        _pixels(png_data_uri(750, 1000, seed=2), (816, 1104)),
    )
    near = np.abs(first.astype(np.int16) - expected).mean()
    assert near < 6, near  # the first frame is the picture (codec noise aside)
    assert np.abs(first.astype(np.int16) - other).mean() > 4 * near
    assert np.abs(last.astype(np.int16) - first).mean() > 1  # and the camera moves


def _pixels(data_uri: str, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])))
    return np.asarray(img.convert("RGB").resize(size), dtype=np.int16)


def test_i2v_fetches_a_loopback_url(emu, client) -> None:
    png = base64.b64decode(png_data_uri(600, 400, seed=3).split(",", 1)[1])

    class Pictures(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pictures)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/picture.png"
        _, data = _run(client, emu, i2v("wan2.1-i2v-turbo", url, resolution="480P", duration=3))
    finally:
        server.shutdown()
        server.server_close()
    assert (
        (probe(data)["width"], probe(data)["height"])
        == i2v_output_size(600, 400, "480P")
        == (768, 512)
    )


def _fixed(**params) -> dict:
    return t2v(
        "wan2.1-t2v-turbo", prompt="a lighthouse at dusk", seed=42, prompt_extend=False, **params
    )


def test_fixed_seed_without_prompt_extend_is_byte_identical(client) -> None:
    videos = []
    for _ in range(2):
        with Emulator(rate_limits=False, time_scale=1e-3) as e:
            videos.append(_run(client, e, _fixed())[1])
    assert videos[0] == videos[1]


def test_prompt_extend_varies_each_task_and_the_seed_matters(emu, client) -> None:
    body = t2v("wan2.1-t2v-turbo", prompt="a lighthouse at dusk", seed=42)
    one, two = _run(client, emu, body), _run(client, emu, body)
    assert one[1] != two[1]
    assert one[0]["output"]["actual_prompt"] == two[0]["output"]["actual_prompt"]
    assert (
        _run(client, emu, _fixed())[1]
        != _run(
            client,
            emu,
            t2v("wan2.1-t2v-turbo", prompt="a lighthouse at dusk", seed=43, prompt_extend=False),
        )[1]
    )


def test_identical_requests_share_one_rendered_file(client, tmp_path: Path) -> None:
    with Emulator(rate_limits=False, time_scale=1e-3, files_dir=tmp_path) as e:
        a, b = _run(client, e, _fixed()), _run(client, e, _fixed())
        assert a[1] == b[1] and a[0]["output"]["task_id"] != b[0]["output"]["task_id"]
        assert len(list(tmp_path.glob("*.mp4"))) == 1


def test_watermark_marks_the_bottom_right_corner(emu, client) -> None:
    plain = _run(client, emu, _fixed())[1]
    marked = _run(client, emu, _fixed(watermark=True))[1]
    assert plain != marked
    (p,), (m,) = frames(plain, 0), frames(marked, 0)
    h, w = p.shape[:2]
    diff = np.abs(p.astype(np.int16) - m.astype(np.int16)).mean(axis=2)
    assert diff[int(h * 0.9) :, int(w * 0.75) :].mean() > 5  # the "AI Generated" mark
    assert diff[: h // 2, : w // 2].mean() < 1  # the rest of the picture is the same


def test_encode_is_deterministic_and_exact(tmp_path: Path) -> None:
    job = RenderJob(
        kind="t2v",
        model="wan2.1-t2v-turbo",
        width=320,
        height=240,
        duration=1,
        prompt="a tiny test",
        seed=1,
        variation=0,
        watermark=True,
        sound=True,
    )
    encode(job, tmp_path / "a.mp4")
    encode(job, tmp_path / "b.mp4")
    a, b = (tmp_path / "a.mp4").read_bytes(), (tmp_path / "b.mp4").read_bytes()
    assert a == b
    info = probe(a)
    assert (info["frames"], info["audio"], info["width"]) == (30, 1, 320)
    assert not list(tmp_path.glob(".*.part"))


def test_caption_wraps_to_three_lines_with_an_ellipsis() -> None:
    face = font(16)
    lines = wrap("word " * 200, face, 200, max_lines=3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert all(face.getlength(line) <= 200 for line in lines)
    assert wrap("short prompt", face, 200, max_lines=3) == ["short prompt"]


def test_two_models_given_one_seed_make_different_videos(tmp_path: Path) -> None:
    """As with the real models: a seed repeats a model's video, it does not carry across models."""
    base = dict(kind="t2v", width=320, height=240, duration=1, prompt="a fox", seed=1)
    base.update(variation=0, watermark=False, sound=False)
    paths = []
    for i, model in enumerate(["wan2.2-t2v-plus", "wan2.5-t2v-preview", "wan2.2-t2v-plus"]):
        encode(RenderJob(model=model, **base), tmp_path / f"{i}.mp4")  # type: ignore[arg-type]
        paths.append((tmp_path / f"{i}.mp4").read_bytes())
    assert paths[0] == paths[2] and paths[0] != paths[1]
