"""The emulator serves wan2.7 and kf2v (docs/dashscope-wan27.md §3-§13), end to end through ``wb.Session``.

What a person can check is checked: the output size (§9), the usage shape (§4-§8) and the cost
(§10), a first+last-frame video that starts like the first image and ends like the last, a
continuation that begins with the clip's own frames, an edit that keeps its input's length and
sound, a driving audio as the sound track, sound on every wan2.7 video, the references shown;
local audio and video go through the emulated temporary upload (once per file); each rule is a
400 InvalidParameter naming the field.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import httpx
import numpy as np
import pytest

import wanbook as wb
from tests.emulator_helpers import auth, frames, probe
from tests.fakes import FakeClock
from wanbook.emulator import Emulator

FAST = 1e-3


def write_video(
    path: Path, seconds: float, *, sound: bool, level: int = 40, size=(320, 240)
) -> Path:
    """An H.264 MP4 whose frame i is grey at ``level + 8 i`` (capped), with a 440 Hz tone."""
    import av

    w, h = size
    fps, n = 30, round(seconds * 30)
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        astream = out.add_stream("aac", rate=48000) if sound else None
        for i in range(n):
            grey = min(250, level + 8 * i)
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), grey, np.uint8), "rgb24")
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        if astream is not None:
            total = 48000 * n // fps
            t = np.arange(total) / 48000
            tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, total, 1024):
                part = tone[start : start + 1024].reshape(1, -1)
                af = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(part), format="fltp", layout="mono"
                )
                af.sample_rate, af.pts, af.time_base = 48000, start, Fraction(1, 48000)
                out.mux(astream.encode(af))
            out.mux(astream.encode())
    return path


def write_wav(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * 48000)) / 48000
    pcm = (0.6 * np.sin(2 * np.pi * 330 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm.tobytes())
    return path


def write_png(path: Path, colour: tuple[int, int, int], size=(640, 480)) -> Path:
    from PIL import Image

    Image.new("RGB", size, colour).save(path)
    return path


def sound_of(data: bytes) -> np.ndarray:
    import av

    with av.open(io.BytesIO(data)) as c:
        parts = [f.to_ndarray() for f in c.decode(audio=0)]
    return np.concatenate(parts, axis=1)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {
        "red": write_png(d / "red.png", (220, 30, 30)),
        "blue": write_png(d / "blue.png", (30, 30, 220)),
        "clip": write_video(d / "clip.mp4", 2, sound=True),
        "silent_clip": write_video(d / "silent.mp4", 2, sound=False, level=100),
        "voice": write_wav(d / "voice.wav", 2),
    }


@pytest.fixture(scope="module")
def intl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wb.Session]:
    home = tmp_path_factory.mktemp("home")  # module scope: before the per-test WANBOOK_HOME
    options = {"time_scale": FAST, "rate_limits": False}
    with wb.Session(home=home, quiet=True, emulator_options=options) as s:
        yield s


def video_of(run) -> bytes:
    return Path(run.video_path).read_bytes()


def test_t2v_ratio_size_usage_sound_and_cost(intl: wb.Session) -> None:
    run = intl.generate(
        "a red fox in the snow",
        model="wan2.7-t2v",
        ratio="1:1",
        resolution="720P",
        duration=2,
        seed=1,
    )
    info = probe(video_of(run))
    assert (info["width"], info["height"], info["frames"], info["audio"]) == (960, 960, 60, 1)
    assert run.usage == {
        "duration": 2,
        "input_video_duration": 0,
        "output_video_duration": 2,
        "video_count": 1,
        "SR": 720,
        "ratio": "1:1",
    }
    assert (run.billed_seconds, run.cost, run.currency) == (2, pytest.approx(0.2), "USD")


def test_first_and_last_frame(intl: wb.Session, media: dict[str, Path]) -> None:
    run = intl.generate(
        model="wan2.7-i2v",
        first_frame=str(media["red"]),
        last_frame=str(media["blue"]),
        resolution="720P",
        duration=2,
    )
    data = video_of(run)
    info = probe(data)
    assert (info["width"], info["height"], info["audio"]) == (1104, 816, 1)  # 4:3 kept (§9.2)
    first, last = frames(data, 0, info["frames"] - 1)
    assert first[..., 0].mean() > 150 and first[..., 2].mean() < 90  # red
    assert last[..., 2].mean() > 150 and last[..., 0].mean() < 90  # blue
    assert run.params["media"][0]["field"] == "first_frame" and "sha256" in run.params["media"][0]
    assert "base64" not in str(run.request_body)  # the log holds hashes, never bytes


def test_continuation_begins_with_the_clip_and_uploads_once(
    intl: wb.Session, media: dict[str, Path]
) -> None:
    intl.endpoint()  # starts the embedded emulator: its upload store is what the flow fills
    emulator = intl._emulator
    before = len(emulator.service.uploads)
    run = intl.generate(
        model="wan2.7-i2v", first_clip=str(media["clip"]), resolution="720P", duration=3
    )
    assert len(emulator.service.uploads) == before + 1  # getPolicy + the form POST, once
    assert str(run.request_body["input"]["media"][0]["url"]).startswith("wanbook-upload:")
    data = video_of(run)
    info = probe(data)
    assert (info["width"], info["height"], info["frames"], info["audio"]) == (1104, 816, 90, 1)
    early, later = frames(data, 0, 40)
    assert abs(early.mean() - 40) < 12 and abs(later.mean() - min(250, 40 + 8 * 40)) < 25
    assert run.usage["duration"] == 3 and run.billed_seconds == 3  # the total, clip included
    again = intl.generate(
        model="wan2.7-i2v", first_clip=str(media["clip"]), resolution="720P", duration=4
    )
    assert again.ok and len(emulator.service.uploads) == before + 1  # within 48 h: not again


def test_edit_keeps_length_and_original_sound(intl: wb.Session, media: dict[str, Path]) -> None:
    run = intl.generate(
        "turn it into clay",
        model="wan2.7-videoedit",
        video=str(media["clip"]),
        audio_setting="origin",
        resolution="720P",
    )
    data = video_of(run)
    info = probe(data)
    assert info["frames"] == 60 and info["audio"] == 1
    tone = sound_of(data)[0, 4800:48000]
    spectrum = np.abs(np.fft.rfft(tone))
    assert abs(np.argmax(spectrum) * 48000 / len(tone) - 440) < 10  # the input's own 440 Hz
    assert run.usage == {
        "duration": 4.0,
        "input_video_duration": 2.0,
        "output_video_duration": 2.0,
        "video_count": 1,
        "SR": 720,
    }
    assert (run.billed_seconds, run.cost) == (4.0, pytest.approx(0.4))
    assert run.estimate == pytest.approx(0.4)  # the estimate knew the local input's length


def test_driving_audio_is_the_sound_track(intl: wb.Session, media: dict[str, Path]) -> None:
    run = intl.generate(
        model="wan2.7-i2v",
        image=str(media["red"]),
        driving_audio=str(media["voice"]),
        resolution="720P",
        duration=2,
    )
    tone = sound_of(video_of(run))[0, 4800:48000]
    spectrum = np.abs(np.fft.rfft(tone))
    assert abs(np.argmax(spectrum) * 48000 / len(tone) - 330) < 10


def test_reference_video_shows_its_references(intl: wb.Session, media: dict[str, Path]) -> None:
    run = intl.generate(
        "Image 1 waves",
        model="wan2.7-r2v",
        reference_images=[str(media["blue"])],
        reference_videos=[str(media["silent_clip"])],
        resolution="720P",
        duration=2,
    )
    data = video_of(run)
    info = probe(data)
    assert (info["width"], info["height"], info["audio"]) == (1280, 720, 1)  # 16:9 by default
    (frame,) = frames(data, 30)
    thumb = frame[40:120, 40:120]  # the first thumbnail, top left
    assert thumb[..., 2].mean() > 150 and thumb[..., 0].mean() < 90
    # billed: the reference video's 2 s (under its 2.5 s cap for two references) + 2 s out
    assert run.usage["input_video_duration"] == 2 and run.usage["duration"] == 4
    assert run.cost == pytest.approx(0.4)


def test_kf2v_on_its_own_path_silent_and_fixed(media: dict[str, Path]) -> None:
    with wb.Session(
        quiet=True, region="cn", emulator_options={"time_scale": FAST, "rate_limits": False}
    ) as cn:
        run = cn.generate(
            model="wan2.2-kf2v-flash",
            first_frame=str(media["red"]),
            last_frame=str(media["blue"]),
            resolution="480P",
        )
    info = probe(video_of(run))
    assert (info["frames"], info["audio"]) == (150, 0)
    assert run.usage == {"video_duration": 5, "video_count": 1, "SR": 480}
    assert (run.cost, run.currency) == (pytest.approx(0.5), "CNY")
    assert run.request_body["model"] == "wan2.2-kf2v-flash"


@pytest.mark.parametrize(
    ("body", "path", "field"),
    [
        (
            {
                "model": "wan2.7-r2v",
                "input": {
                    "prompt": "p",
                    "media": [{"type": "reference_video", "url": "https://e.com/a.mp4"}],
                },
                "parameters": {"duration": 12},
            },
            "video-generation",
            "parameters.duration",
        ),
        (
            {
                "model": "wan2.7-i2v",
                "input": {"media": [{"type": "last_frame", "url": "https://e.com/a.png"}]},
            },
            "video-generation",
            "input.media",
        ),
        (
            {
                "model": "wan2.7-i2v",
                "input": {"media": [{"type": "first_frame", "url": "https://e.com/a.png"}]},
                "parameters": {"ratio": "16:9"},
            },
            "video-generation",
            "parameters.ratio",
        ),
        (
            {
                "model": "wan2.7-t2v",
                "input": {"prompt": None, "extend_prompt": True, "function": "video-synthesis"},
                "parameters": {},
            },
            "video-generation",
            "input.prompt",
        ),
        (
            {
                "model": "wan2.7-videoedit",
                "input": {"media": [{"type": "video", "url": "https://e.com/a.mp4"}]},
                "parameters": {"audio_setting": "keep"},
            },
            "video-generation",
            "parameters.audio_setting",
        ),
        (
            {"model": "wan2.7-t2v", "input": {"prompt": "p"}, "parameters": {"size": "1280*720"}},
            "video-generation",
            "parameters.size",
        ),
        (
            {
                "model": "wan2.2-kf2v-flash",
                "input": {"first_frame_url": "https://e.com/a.png"},
                "parameters": {},
            },
            "video-generation",
            "model",
        ),
        (
            {
                "model": "wan2.2-kf2v-flash",
                "input": {"last_frame_url": "https://e.com/a.png"},
                "parameters": {},
            },
            "image2video",
            "input.first_frame_url",
        ),
        (
            {
                "model": "wan2.7-i2v",
                "input": {"media": [{"type": "first_clip", "url": "data:video/mp4;base64,AAAA"}]},
            },
            "video-generation",
            "input.media[0]",
        ),
    ],
    ids=[
        "r2v-duration",
        "i2v-combination",
        "i2v-ratio",
        "t2v-null-prompt",
        "edit-audio-setting",
        "t2v-size",
        "kf2v-wrong-path",
        "kf2v-no-first-frame",
        "clip-data-uri",
    ],
)
def test_each_rule_is_a_400_naming_the_field(body: dict, path: str, field: str) -> None:
    with (
        Emulator(region="cn", rate_limits=False, time_scale=FAST) as emu,
        httpx.Client(timeout=30) as c,
    ):
        answer = c.post(
            f"{emu.base_url}/services/aigc/{path}/video-synthesis", json=body, headers=auth()
        )
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "InvalidParameter"
    assert f"{field}:" in answer.json()["message"]


def test_sdk_bodies_with_null_prompt_and_empty_parameters_are_accepted() -> None:
    body = {
        "model": "wan2.7-i2v-2026-04-25",
        "parameters": {},
        "input": {
            "prompt": None,
            "extend_prompt": True,
            "function": "video-synthesis",
            "media": [{"type": "first_frame", "url": "https://e.com/a.png"}],
        },
    }
    with (
        Emulator(rate_limits=False, time_scale=FAST) as emu,
        httpx.Client(timeout=30) as c,
    ):
        answer = c.post(
            f"{emu.base_url}/services/aigc/video-generation/video-synthesis",
            json=body,
            headers=auth(),
        )
    assert answer.status_code == 200, answer.text


def test_rerun_reads_local_media_again_and_reuses_the_upload(
    intl: wb.Session, media: dict[str, Path]
) -> None:
    first = intl.generate(
        "Image 1 waves",
        model="wan2.7-r2v",
        reference_images=[wb.Reference(str(media["blue"]), voice=str(media["voice"]))],
        reference_videos=[str(media["silent_clip"])],
        resolution="720P",
        duration=2,
        seed=4,
    )
    uploads = len(intl._emulator.service.uploads)
    again = intl.rerun(first.run_id, duration=3)
    assert again.ok and again.rerun_of == first.run_id and again.usage["output_video_duration"] == 3
    assert len(intl._emulator.service.uploads) == uploads  # voice and clip: recorded, not re-sent
    fields = [m["field"] for m in again.params["media"]]
    assert fields == ["reference_images[0]", "reference_images[0].voice", "reference_videos[0]"]
    made = intl.generate(
        model="wan2.7-i2v", first_frame=media["red"].read_bytes(), resolution="720P", duration=2
    )
    assert made.ok
    with pytest.raises(wb.ValidationError, match="pass first_frame=... to run it again"):
        intl.rerun(made.run_id)


def test_compare_takes_the_new_fields(intl: wb.Session, media: dict[str, Path]) -> None:
    grid = wb.compare(
        "day turns to night",
        session=intl,
        models=["wan2.7-i2v", "wan2.7-i2v-2026-04-25"],
        seeds=[1],
        first_frame=str(media["red"]),
        last_frame=str(media["blue"]),
        resolution="720P",
        duration=2,
        progress=False,
    )
    assert list(grid["status"]) == ["SUCCEEDED", "SUCCEEDED"]
    assert list(grid["cost"]) == [pytest.approx(0.2), pytest.approx(0.2)]
    runs = intl.runs(model="wan2.7-i2v-2026-04-25")  # the run log's view: param_* columns
    assert [m["field"] for m in runs["param_media"].iloc[-1]] == ["first_frame", "last_frame"]
    assert runs["param_media"].iloc[-1][0]["sha256"]  # by hash and path, never bytes


def test_the_emulator_applies_a_region_s_stricter_rate() -> None:
    body = {"model": "wan2.1-kf2v-plus", "input": {"first_frame_url": "https://e.com/a.png"}}
    clock = FakeClock()
    with (
        Emulator(region="intl", time_scale=FAST, clock=clock) as emu,
        httpx.Client(timeout=30) as c,
    ):
        url = f"{emu.base_url}/services/aigc/image2video/video-synthesis"
        first = c.post(url, json=body, headers=auth())
        second = c.post(url, json=body, headers=auth())
        clock.advance(1.0)
        third = c.post(url, json=body, headers=auth())
    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)
    assert "more than 1 task submissions per second" in second.json()["message"]


def test_t2v_takes_a_local_audio_file(intl: wb.Session, media: dict[str, Path]) -> None:
    run = intl.generate(
        "a singer on a stage",
        model="wan2.7-t2v",
        audio_url=str(media["voice"]),
        resolution="720P",
        duration=2,
    )
    assert str(run.request_body["input"]["audio_url"]).startswith("wanbook-upload:")
    assert run.params["media"][0]["field"] == "audio_url"
    tone = sound_of(video_of(run))[0, 4800:48000]
    spectrum = np.abs(np.fft.rfft(tone))
    assert abs(np.argmax(spectrum) * 48000 / len(tone) - 330) < 10  # the file is the sound track
