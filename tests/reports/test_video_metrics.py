"""Measures without a model: motion, sharpness, flicker and the PSNR of first/last frames."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

import wanbook as wb
from wanbook._reports.video_metrics import measure


def write_video(path: Path, frame: Callable[[int], np.ndarray], n: int = 30) -> Path:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"crf": "10", "preset": "ultrafast"}
        for i in range(n):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame(i), format="rgb24")))
        out.mux(stream.encode())
    return path


def pattern() -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.random((240, 320, 3)) * 255).astype(np.uint8)


def test_a_still_video_has_no_motion_or_flicker(tmp_path: Path) -> None:
    still = pattern()
    m = measure(write_video(tmp_path / "still.mp4", lambda i: still))
    assert m.frames == 30
    assert m.motion < 1.0 and m.flicker < 0.2


def stripes() -> np.ndarray:
    x = np.arange(320)
    row = (127 + 100 * np.sin(2 * np.pi * x / 64)).astype(np.uint8)
    return np.repeat(np.repeat(row[None, :, None], 240, axis=0), 3, axis=2)


def test_motion_grows_with_movement(tmp_path: Path) -> None:
    base = stripes()
    slow = measure(write_video(tmp_path / "slow.mp4", lambda i: np.roll(base, i, axis=1)))
    fast = measure(write_video(tmp_path / "fast.mp4", lambda i: np.roll(base, 8 * i, axis=1)))
    assert fast.motion > slow.motion > 1.0


def test_a_strobe_flickers_and_a_fade_does_not(tmp_path: Path) -> None:
    grey = np.full((240, 320, 3), 128, np.uint8)
    strobe = measure(write_video(tmp_path / "s.mp4", lambda i: grey + (60 if i % 2 else 0)))
    fade = measure(write_video(tmp_path / "f.mp4", lambda i: grey + 2 * i))
    assert strobe.flicker > 20 > 2 > fade.flicker


def test_sharpness_prefers_the_crisp_picture(tmp_path: Path) -> None:
    sharp_picture = pattern()
    blurred = np.asarray(
        Image.fromarray(sharp_picture).resize((40, 30)).resize((320, 240)), np.uint8
    )
    sharp = measure(write_video(tmp_path / "sharp.mp4", lambda i: sharp_picture, n=4))
    soft = measure(write_video(tmp_path / "soft.mp4", lambda i: blurred, n=4))
    assert sharp.sharpness > 5 * soft.sharpness


def test_first_and_last_frames_against_their_images(tmp_path: Path) -> None:
    first = np.zeros((240, 320, 3), np.uint8)
    first[:, :160] = 200
    last = np.zeros((240, 320, 3), np.uint8)
    last[120:] = 90
    video = write_video(tmp_path / "kf.mp4", lambda i: first if i < 15 else last)
    Image.fromarray(first).save(tmp_path / "first.png")
    Image.fromarray(last).save(tmp_path / "last.png")
    m = measure(video, first_image=tmp_path / "first.png", last_image=tmp_path / "last.png")
    swapped = measure(video, first_image=tmp_path / "last.png", last_image=tmp_path / "first.png")
    assert m.first_frame_psnr > 30 and m.last_frame_psnr > 30
    assert swapped.first_frame_psnr < 15 and swapped.last_frame_psnr < 15
    assert math.isnan(measure(video).first_frame_psnr)


def test_runs_are_measured_once_and_inputs_checked(tmp_path: Path) -> None:
    """An emulator i2v run starts from its image; the cache answers the second time; a changed
    input image gives NaN, never a measure against another picture."""
    image = tmp_path / "frame.png"
    Image.fromarray(pattern()).save(image)
    with wb.Session(home=tmp_path / "home", quiet=True, emulator=True) as s:
        run = s.generate(
            "a slow pan", model="wan2.1-i2v-turbo", image=str(image), resolution="480P", seed=3
        )
        t2v = s.generate("a fox", model="wan2.2-t2v-plus", size="832*480", seed=1)
        first = wb.video_metrics([run.run_id, t2v.run_id], session=s)
        assert list(first.index) == [run.run_id, t2v.run_id]
        assert first.loc[run.run_id, "first_frame_psnr"] > 15
        assert math.isnan(first.loc[t2v.run_id, "first_frame_psnr"])
        assert first.loc[t2v.run_id, "motion"] > 0 and first.loc[t2v.run_id, "frames"] == 150
        cached = sorted((s.home / "metrics").glob("*.json"))
        assert len(cached) == 2
        again = wb.video_metrics(s.runs(), session=s)
        assert again.loc[run.run_id, "sharpness"] == first.loc[run.run_id, "sharpness"]
        Image.fromarray(255 - pattern()).save(image)  # the input changed since the run
        changed = wb.video_metrics([run], session=s)
        assert math.isnan(changed.loc[run.run_id, "first_frame_psnr"])


def test_a_run_without_a_video_has_no_measures(tmp_path: Path) -> None:
    with wb.Session(home=tmp_path, quiet=True, emulator=True) as s:
        run_id = s.log.insert(model="wan2.2-t2v-plus", status="FAILED")
        frame = wb.video_metrics([run_id], session=s)
    assert frame.loc[run_id].drop("frames").isna().all()
    assert frame.loc[run_id, "frames"] is pd_na()


def pd_na() -> object:
    import pandas as pd

    return pd.NA


def test_a_first_and_last_frame_run_is_measured_against_both_images(tmp_path: Path) -> None:
    red, blue = tmp_path / "red.png", tmp_path / "blue.png"
    Image.new("RGB", (640, 480), (200, 30, 30)).save(red)
    Image.new("RGB", (640, 480), (30, 30, 200)).save(blue)
    with wb.Session(home=tmp_path / "home", quiet=True, emulator=True) as s:
        run = s.generate(
            "a fade", model="wanx2.1-kf2v-plus", first_frame=str(red), last_frame=str(blue), seed=1
        )
        m = wb.video_metrics([run], session=s).loc[run.run_id]
    assert m["first_frame_psnr"] > 25 and m["last_frame_psnr"] > 25
