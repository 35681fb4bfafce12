"""A process running a 20-task batch is killed (SIGKILL) after half the creates; ``resume`` then
finishes every task that was created, downloads every video, and creates nothing twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import wanbook as wb
from tests.conftest import TEST_API_KEY
from wanbook.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
BATCH = """
import wanbook as wb
requests = [
    wb.Request(model="wan2.5-t2v-preview", prompt="a fox in the snow", size="832*480",
               duration=5, audio=False, seed=11, prompt_extend=False)
    for _ in range(20)
]
wb.submit_many(requests)
"""


def created(db: Path) -> int:
    """Rows of the run log that have a task id (the batch's creates answered so far)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(
                conn.execute("SELECT COUNT(*) FROM runs WHERE task_id IS NOT NULL").fetchone()[0]
            )
    except sqlite3.OperationalError:
        return 0  # not created or migrated yet


def test_kill_after_half_the_creates_then_resume(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "DASHSCOPE_API_KEY": TEST_API_KEY,
        "WANBOOK_HOME": str(home),
        "PYTHONPATH": str(ROOT),
    }
    with Emulator(time_scale=1 / 30) as emu:  # a task takes about two seconds
        env["WANBOOK_BASE_URL"] = emu.base_url
        log = tmp_path / "batch.stderr"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", BATCH], env=env, cwd=tmp_path, stderr=err
            )
        try:
            give_up = time.monotonic() + 60
            while created(home / "runs.sqlite") < 10:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < give_up, "the batch did not reach 10 creates"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        killed_at = created(home / "runs.sqlite")
        assert 10 <= killed_at < 20  # killed mid-batch, not after it

        with wb.Session(api_key=TEST_API_KEY, base_url=emu.base_url, home=home, quiet=True) as s:
            s.resume()
            runs = s.runs().to_dict("records")
            on_server = {t.task_id for t in emu.service.store._tasks.values()}

    with_task = [r for r in runs if r["task_id"]]
    ids = [r["task_id"] for r in with_task]
    assert len(ids) == len(set(ids))  # no task in two runs
    assert set(ids) == on_server  # every task created is in the run log, and only those: none twice
    assert len(on_server) >= killed_at
    for r in with_task:
        assert r["status"] == "SUCCEEDED", r
        assert r["video_path"] and Path(r["video_path"]).is_file()
    # runs killed before any task existed are not paid for and not re-sent
    assert all(
        r["status"] in ("SUBMITTING", "AMBIGUOUS", "NOT_CREATED") for r in runs if not r["task_id"]
    )
