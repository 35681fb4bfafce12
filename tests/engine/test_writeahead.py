"""Write-ahead: kill the process at each step of a generation, resume, and lose nothing.

A subprocess generates against an emulator running in this test process and SIGKILLs itself
right after the run log records a given status (or the video, or — CREATED — right after the
create's answer arrived, before its task id is logged). A new session then resumes. Nothing paid
for is lost (the video is downloaded, the cost known) and nothing is created twice (the emulator's
task list).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

import wanbook as wb
from tests.conftest import TEST_API_KEY
from wanbook.emulator import Emulator

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import wanbook as wb

    step = sys.argv[1]

    def die_at(run):
        downloaded = step == "DOWNLOADED" and run.record.get("video_path")
        if run.record["status"] == step or downloaded:  # DOWNLOADED: before it is priced
            os.kill(os.getpid(), signal.SIGKILL)

    if step == "CREATED":  # the create's answer has arrived; its task id is not logged yet
        from wanbook._api.client import Client

        create = Client.create

        async def create_then_die(self, *args, **kwargs):
            await create(self, *args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)

        Client.create = create_then_die

    with wb.Session(quiet=True) as s:
        s.generate("a fox at dusk", model="wan2.2-t2v-plus", size="832*480", seed=5,
                   prompt_extend=False, on_update=die_at)
    """
)


@pytest.fixture(scope="module")
def emu():
    # slow enough (a 5 s 480P task takes ~3 s) that a poll sees the task RUNNING
    with Emulator(time_scale=1 / 20) as e:
        yield e


def _tasks(emu: Emulator) -> int:
    answer = httpx.get(
        f"{emu.base_url}/tasks/", headers={"Authorization": f"Bearer {TEST_API_KEY}"}
    )
    return int(answer.json()["total"])


STEPS = [
    ("PREPARED", "PREPARED", "NOT_CREATED", 0),
    ("SUBMITTING", "SUBMITTING", "NOT_CREATED", 0),
    # the task exists but its id was never logged: found through the list endpoint
    ("CREATED", "SUBMITTING", "SUCCEEDED", 1),
    ("PENDING", "PENDING", "SUCCEEDED", 1),
    ("RUNNING", "RUNNING", "SUCCEEDED", 1),
    ("SUCCEEDED", "SUCCEEDED", "SUCCEEDED", 1),
    # the video is on disk, the final update never ran: the cost was logged with SUCCEEDED
    ("DOWNLOADED", "SUCCEEDED", "SUCCEEDED", 1),
]
# On a PostgreSQL log (WANBOOK_DB): the lost create's answer and a running task (the run-log
# contract itself runs on both engines in tests/runlog).
ON_POSTGRES = [("postgresql", *s) for s in STEPS if s[0] in ("CREATED", "RUNNING")]


@pytest.mark.parametrize(
    ("engine", "step", "status", "final", "created"),
    [("sqlite", *s) for s in STEPS] + ON_POSTGRES,
)
def test_kill_at_each_step_then_resume(
    emu: Emulator,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    engine: str,
    step: str,
    status: str,
    final: str,
    created: int,
) -> None:
    db = request.getfixturevalue("pg_url") if engine == "postgresql" else None
    before = _tasks(emu)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANBOOK_", "DASHSCOPE_"))}
    env["WANBOOK_STATE_DIR"] = os.environ["WANBOOK_STATE_DIR"]  # conftest's, never the user's
    env |= {
        "DASHSCOPE_API_KEY": TEST_API_KEY,
        "WANBOOK_BASE_URL": emu.base_url,
        "WANBOOK_HOME": str(tmp_path),
    }
    if db is not None:
        env["WANBOOK_DB"] = db
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, step], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()

    with wb.Session(
        api_key=TEST_API_KEY, base_url=emu.base_url, home=tmp_path, db=db, quiet=True
    ) as s:
        (row,) = s.runs().reset_index().to_dict("records")
        assert row["status"] == status  # the row says what was known when the process died
        task_id = s.run(row["run_id"]).task_id
        assert (task_id is None) is (step in ("PREPARED", "SUBMITTING", "CREATED"))
        resumed = s.resume(list_grace=0)
        left = [] if step == "DOWNLOADED" else [row["run_id"]]  # nothing left to do there
        assert [r.run_id for r in resumed] == left
        after = s.run(row["run_id"]).record
        assert after["status"] == final
        if final == "SUCCEEDED":
            assert Path(after["video_path"]).is_file() and after["video_bytes"] > 0
            assert after["cost"] == pytest.approx(0.10)
        else:
            assert after["cost"] == 0.0
        assert s.resume() == []  # idempotent: nothing more to do
        assert len(s.runs()) == 1  # nothing duplicated in the log
    assert _tasks(emu) - before == created  # nothing created twice on the server
