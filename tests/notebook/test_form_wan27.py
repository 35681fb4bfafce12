"""The form's newer kinds: first+last frame, continuation, reference, edit (docs/dashscope-wan27.md).

A slot per media input (upload or URL), checked the moment it is given, the ratio picker, and an
estimate that includes billed input. Driven as a person would, by setting widget values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

import wanbook as wb
from tests.emulator.test_wan27 import write_png, write_video
from wanbook._notebook.form.logic import controls_for, form_to_request


@pytest.fixture
def session(tmp_path: Any) -> Iterator[wb.Session]:
    with wb.Session(home=tmp_path, quiet=True, emulator=True) as s:
        yield s


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("form-media")
    return {
        "clip": write_video(d / "clip.mp4", 2, sound=True).read_bytes(),
        "short": write_video(d / "short.mp4", 1, sound=False).read_bytes(),
        "red": write_png(d / "red.png", (220, 30, 30)).read_bytes(),
    }


def _upload(widget: Any, data: bytes, name: str) -> None:
    widget.value = (
        {
            "name": name,
            "type": "application/octet-stream",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        },
    )


def test_wan27_i2v_appears_as_image_first_last_and_continuation(session: wb.Session) -> None:
    f = wb.form(session, model="wan2.7-i2v")
    assert f.kind.value == "i2v"
    assert {v for _, v in f.kind.options} >= {"frames", "continuation", "reference", "edit"}
    f.kind.value = "frames"
    assert {"image", "last_frame", "driving_audio"} <= f.shown()
    assert "first_clip" not in f.shown() and "size" not in f.shown()
    f.kind.value = "continuation"
    assert {"first_clip", "last_frame"} <= f.shown() and "image" not in f.shown()


def test_a_clip_is_checked_when_given(session: wb.Session, files: dict[str, bytes]) -> None:
    f = wb.form(session, model="wan2.7-i2v")
    f.kind.value = "continuation"
    _upload(f.media["first_clip"].upload, files["short"], "short.mp4")
    assert any("1.00 s long; it must be 2 to 10 s" in m for m in f.messages("first_clip"))
    assert f.generate.disabled
    _upload(f.media["first_clip"].upload, files["clip"], "clip.mp4")
    assert f.messages("first_clip") == [] and len(f.media["first_clip"].thumbnails.children) == 1
    assert not f.generate.disabled
    assert "clip.mp4 · 2.0 s" in f.media["first_clip"].info.value


def test_edit_estimate_includes_the_input(session: wb.Session, files: dict[str, bytes]) -> None:
    f = wb.form(session, model="wan2.7-videoedit")
    assert (
        f.kind.value == "edit"
        and {"video", "reference_images", "ratio", "audio_setting"} <= f.shown()
    )
    assert [v for _, v in f.ratio.options] == ["", "16:9", "9:16", "1:1", "4:3", "3:4"]
    f.resolution.value = "720P"
    _upload(f.media["video"].upload, files["clip"], "clip.mp4")
    assert "0.4000 USD (4 s × 0.1 USD/s)" in f.estimate.value  # 2 s in + 2 s out
    f.audio_setting.value = "origin"
    assert f.request.audio_setting == "origin" and isinstance(f.request.video, bytes)
    g = wb.form(session, model="wan2.7-videoedit")
    g.set_values(video="https://example.com/clip.mp4")
    assert "unknown (the input video&#x27;s length is not known" in g.estimate.value


def test_reference_slots_and_ratio(session: wb.Session, files: dict[str, bytes]) -> None:
    f = wb.form(session, model="wan2.7-r2v")
    assert f.kind.value == "reference"
    assert [v for _, v in f.ratio.options] == ["16:9", "9:16", "1:1", "4:3", "3:4"]
    f.prompt.value = "Image 1 waves"
    assert f.generate.disabled  # no reference yet
    assert any("1 to 5 references" in m for m in f.messages("request"))
    f.set_values(reference_images=["https://example.com/a.png", "https://example.com/b.png"])
    f.ratio.value = "9:16"
    assert not f.generate.disabled
    assert f.request.reference_images == ["https://example.com/a.png", "https://example.com/b.png"]
    assert f.request.ratio == "9:16"


def test_form_values_without_widgets() -> None:
    """The pure path a notebook without widgets uses: values in, request out."""
    req = form_to_request(
        {
            "kind": "frames",
            "model": "wan2.2-kf2v-flash",
            "image": "https://example.com/a.png",
            "last_frame": "https://example.com/b.png",
            "driving_audio": "https://example.com/v.mp3",  # not a slot of kf2v: dropped
            "resolution": "480P",
        }
    )
    assert (req.image, req.last_frame, req.driving_audio) == (
        "https://example.com/a.png",
        "https://example.com/b.png",
        None,
    )
    assert controls_for("wan2.2-kf2v-flash").media == ("last_frame",)
    assert controls_for("wan2.7-t2v").ratios == ("16:9", "9:16", "1:1", "4:3", "3:4")


def test_first_and_last_frame_generates(session: wb.Session, files: dict[str, bytes]) -> None:
    f = wb.form(session, model="wan2.7-i2v")
    f.kind.value = "frames"
    _upload(f.upload, files["red"], "red.png")
    _upload(f.media["last_frame"].upload, files["red"], "red.png")
    f.resolution.value = "720P"
    f.set_values(duration=2)
    job = f.submit()
    assert job is not None
    run = job.result(timeout=120)
    assert run is not None and run.ok
    assert [m["field"] for m in run.params["media"]] == ["first_frame", "last_frame"]
