"""`wanbook resume` in one process leaves alone the runs another live process still follows: a
teammate's kernel on a shared log, or a second notebook on one machine. Only a run whose owner
is gone is taken over (wanbook._runlog.followers). On both engines (the db_url fixture)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.engine.test_postgres_log import machine_env
from wanbook._sql import Database, DatabaseError
from wanbook.emulator import Emulator


@pytest.fixture(scope="module")
def slow_emu() -> Any:
    # a 5 s 480P task takes about 20 s here: ample time for another process to run `resume`
    with Emulator(time_scale=1 / 3) as e:
        yield e


def _task_logged(db: str, deadline: float) -> str:
    """Wait (real time, with a wide margin) until the run's task id is in the log."""
    with Database.open(db) as watcher:
        while time.monotonic() < deadline:
            try:
                rows = watcher.query("SELECT task_id FROM runs WHERE task_id IS NOT NULL")[1]
            except DatabaseError:  # no runs table yet: the generate is still starting
                rows = []
            if rows:
                return str(rows[0][0])
            time.sleep(0.1)
    raise AssertionError("the generate never logged its task")


def test_resume_leaves_a_live_processes_run_to_it(
    slow_emu: Emulator, db_url: str, tmp_path: Path
) -> None:
    a = machine_env(slow_emu, tmp_path / "a", db_url)
    b = machine_env(slow_emu, tmp_path / "b", db_url)
    generate = subprocess.Popen(
        [sys.executable, "-m", "wanbook", "generate", "--model", "wan2.2-t2v-plus",
         "--size", "832*480", "--no-prompt-extend", "--prompt", "a slow fox", "--json"],
        env=a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _task_logged(db_url, time.monotonic() + 60)
        resumed = subprocess.run(
            [sys.executable, "-m", "wanbook", "resume"],
            env=b, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        out, err = generate.communicate(timeout=120)
    finally:
        generate.kill()
    assert resumed.returncode == 0, resumed.stderr
    assert "1 unfinished run(s) left to the live process(es)" in resumed.stderr
    assert "0 unfinished run(s) looked at" in resumed.stderr
    assert generate.returncode == 0, err
    run = json.loads(out)
    assert run["status"] == "SUCCEEDED"
    assert Path(run["video_path"]).is_relative_to(tmp_path / "a")  # A followed it to the end
    assert not (tmp_path / "b" / "videos").exists() or not any(
        (tmp_path / "b" / "videos").iterdir()
    )
