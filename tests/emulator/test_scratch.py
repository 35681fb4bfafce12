"""The emulator's scratch folders: each names its owner process; a start sweeps those whose owner
is gone (a kernel killed by nbval leaves its folder behind), never a live one's."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from wanbook.emulator import Emulator
from wanbook.emulator._scratch import OWNER_FILE, PREFIX, UNOWNED_AGE, sweep


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def folder(root: Path, name: str, owner: str | None, age: float = 0.0) -> Path:
    path = root / name
    path.mkdir()
    (path / "video.mp4").write_bytes(b"x")
    if owner is not None:
        (path / OWNER_FILE).write_text(owner)
    if age:
        past = time.time() - age
        os.utime(path, (past, past))
    return path


def test_sweep_removes_only_the_folders_of_gone_processes(tmp_path: Path) -> None:
    gone = folder(tmp_path, PREFIX + "gone", str(dead_pid()))
    mine = folder(tmp_path, PREFIX + "mine", str(os.getpid()))
    parent = folder(tmp_path, PREFIX + "parent", str(os.getppid()))
    old = folder(tmp_path, PREFIX + "old", None, age=UNOWNED_AGE + 60)
    fresh = folder(tmp_path, PREFIX + "fresh", None, age=60)
    odd = folder(tmp_path, PREFIX + "odd", "not a pid")
    other = folder(tmp_path, "someone-else", str(dead_pid()))
    assert sorted(sweep(tmp_path)) == sorted([gone, old])
    for kept in (mine, parent, fresh, odd, other):
        assert kept.is_dir()


def test_a_start_sweeps_and_owns_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = folder(tmp_path, PREFIX + "left-by-a-killed-kernel", str(dead_pid()))
    with Emulator(rate_limits=False) as emu:
        assert not stale.exists()
        (own,) = tmp_path.glob(PREFIX + "*")
        assert (own / OWNER_FILE).read_text().strip() == str(os.getpid())
        with Emulator(rate_limits=False):  # a second one in the process keeps the first's
            assert own.is_dir()
        assert emu.service is not None
    assert list(tmp_path.glob(PREFIX + "*")) == []  # stop removes its own
