"""Paths in the run log do not depend on the working directory: the home is made absolute when
the session is made, local image paths are logged absolute, and rows written relative by older
versions are still found."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

import wanbook as wb
from wanbook._notebook.display import media_src
from wanbook._runlog.schema import local_path
from wanbook._runlog.store import RunLog
from wanbook.emulator import Emulator

T2V = dict(model="wan2.2-t2v-plus", size="832*480", seed=7, prompt_extend=False)
I2V = dict(model="wan2.1-i2v-turbo", resolution="480P", seed=2, prompt_extend=False)


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 80, 40)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def emu() -> Any:
    with Emulator(time_scale=1 / 600) as e:
        yield e


def test_runs_made_with_relative_paths_work_from_another_directory(
    emu: Any, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    (project / "frame.png").write_bytes(_png())
    monkeypatch.chdir(project)
    with wb.Session(api_key=api_key, base_url=emu.base_url, home="runs", quiet=True) as s:
        assert s.home == project / "runs"
        t2v = s.generate("a fox", **T2V)
        i2v = s.generate(image="frame.png", **I2V)
        assert t2v.video_path == str(project / "runs" / "videos" / f"{t2v.run_id}.mp4")
        assert i2v.record["image_source"] == str(project / "frame.png")
        _, stored = s.log.query("SELECT image_source, video_path FROM runs ORDER BY created_at")
        assert stored[1][0] == str(project / "frame.png")  # stored absolute, not as given
        assert all(os.path.isabs(video) for _, video in stored)
        monkeypatch.chdir(elsewhere)  # a `cd` inside the same kernel
        assert s.generate("a fox", reuse=True, **T2V).run_id == t2v.run_id
        again = s.rerun(i2v.run_id)  # the image is read again from where it was
        assert again.image_sha256 == i2v.image_sha256
    # the display turns the absolute path into one relative to the notebook's folder
    assert media_src(t2v.video_path, base=project) == f"runs/videos/{t2v.run_id}.mp4"


def test_rows_written_with_relative_paths_are_still_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # wanbook 0.x, default home, run from `project`: paths relative to `project`
    project = tmp_path / "project"
    home = project / "wanbook-runs"
    (home / "videos").mkdir(parents=True)
    (home / "videos" / "r1.mp4").write_bytes(b"video")
    (project / "frame.png").write_bytes(b"png")
    with RunLog.open(home) as log:
        run_id = log.insert(
            status="SUCCEEDED",
            video_path="wanbook-runs/videos/r1.mp4",
            image_source="frame.png",
            fingerprint="f" * 64,
        )
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    with RunLog.open(home) as log:
        record = log.get(run_id)
        assert record["video_path"] == str(home / "videos" / "r1.mp4")
        assert record["image_source"] == str(project / "frame.png")  # the home's parent
        assert log.find_reusable("f" * 64)["run_id"] == run_id  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "video", "expected"),
    [
        ("https://example.com/a.png", False, "https://example.com/a.png"),
        ("<bytes>", False, "<bytes>"),
        ("<PIL image>", False, "<PIL image>"),
        ("file:///tmp/a.png", False, "file:///tmp/a.png"),
        ("/abs/a.png", False, "/abs/a.png"),
        ("missing.png", False, "{cwd}/missing.png"),  # found nowhere: as read before (cwd)
        ("custom/home/videos/r9.mp4", True, "{home}/videos/r9.mp4"),  # any old home layout
        ("frame.png", False, "{cwd}/frame.png"),  # the working directory first
    ],
)
def test_local_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, video: bool, expected: str
) -> None:
    home = tmp_path / "home"
    (home / "videos").mkdir(parents=True)
    (home / "videos" / "r9.mp4").write_bytes(b"v")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "frame.png").write_bytes(b"p")
    (tmp_path / "frame.png").write_bytes(b"p")  # also beside the home: the cwd one wins
    monkeypatch.chdir(cwd)
    assert local_path(value, home, video=video) == expected.format(cwd=cwd, home=home)
    assert os.path.isabs(local_path("x.png", home))
