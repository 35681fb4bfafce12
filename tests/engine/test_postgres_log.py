"""The engine's paths on a PostgreSQL run log (WANBOOK_DB): write-ahead and resume across
processes and machines (another WANBOOK_HOME), reuse, filters, the DataFrame, the cost report.

The run-log contract itself runs on both engines in tests/runlog; these tests take the session's
paths through PostgreSQL at least once each. The server is the session's throwaway PostgreSQL
(tests/pg.py; CI requires it), the service the embedded emulator on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import wanbook as wb
from tests.conftest import TEST_API_KEY
from wanbook._sql import Database
from wanbook.emulator import Emulator

T2V = dict(model="wan2.2-t2v-plus", size="832*480", prompt_extend=False)


@pytest.fixture(scope="module")
def emu() -> Any:
    # a 5 s 480P task takes ~3 s: long enough to kill a process while it waits
    with Emulator(time_scale=1 / 20) as e:
        yield e


def machine_env(emu: Emulator, home: Path, db: str) -> dict[str, str]:
    """The environment of a `wanbook` process of its own "machine": its home, the shared log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANBOOK_", "DASHSCOPE_"))}
    env["WANBOOK_STATE_DIR"] = os.environ["WANBOOK_STATE_DIR"]  # conftest's, never the user's
    return env | {
        "DASHSCOPE_API_KEY": TEST_API_KEY,
        "WANBOOK_BASE_URL": emu.base_url,
        "WANBOOK_HOME": str(home),
        "WANBOOK_DB": db,
    }


def _wanbook(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wanbook", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# `wanbook generate` (the CLI's main, in a process of its own) that dies (SIGKILL, as a kernel
# killed by the OOM killer) the moment its task id is in the log: deterministic, no race.
GENERATE_THEN_DIE = """
import os, signal, sys
from wanbook._engine.tracker import Tracker

update = Tracker.update

def update_then_die(self, run_id, **fields):
    run = update(self, run_id, **fields)
    if fields.get("task_id"):
        os.kill(os.getpid(), signal.SIGKILL)
    return run

Tracker.update = update_then_die
from wanbook._cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_run_killed_on_one_machine_is_seen_resumed_and_shown_on_another(
    emu: Emulator, pg_url: str, tmp_path: Path
) -> None:
    """`wanbook generate` on "machine A" is killed once its task is created and logged; "machine
    B" (another process, another WANBOOK_HOME, the same WANBOOK_DB) lists the run, resumes it
    (the video lands in B's home) and shows it finished. Nothing is created twice."""
    a = machine_env(emu, tmp_path / "a", pg_url)
    b = machine_env(emu, tmp_path / "b", pg_url)
    killed = subprocess.run(
        [sys.executable, "-c", GENERATE_THEN_DIE, "generate", "--prompt", "a fox at dusk",
         "--seed", "5", "--model", "wan2.2-t2v-plus", "--size", "832*480", "--no-prompt-extend"],
        env=a, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    watcher = Database.open(pg_url)
    (task_id,) = watcher.query("SELECT task_id FROM runs")[1][0]
    assert task_id

    listed = _wanbook(b, "runs", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["task_id"] == task_id and row["status"] in ("PENDING", "RUNNING")
    assert row["hostname"] and not row["video_path"]

    resumed = _wanbook(b, "resume")
    assert resumed.returncode == 0, resumed.stderr
    (done,) = json.loads(_wanbook(b, "runs", "--format", "json").stdout)
    assert done["status"] == "SUCCEEDED" and done["cost"] == pytest.approx(0.10)
    assert Path(done["video_path"]).is_file()
    assert Path(done["video_path"]).is_relative_to(tmp_path / "b")  # B's copy of the video
    assert _wanbook(b, "resume").returncode == 0  # nothing left: idempotent
    count = watcher.query("SELECT count(*) FROM runs")[1][0][0]
    assert count == 1
    watcher.close()
    # the emulator made exactly one task: A's create was not sent again by B
    with wb.Session(api_key=TEST_API_KEY, base_url=emu.base_url, db=pg_url, quiet=True) as s:
        assert s.run(row["run_id"]).task_id == task_id


def test_generate_reuse_filters_frame_and_cost_report(
    emu: Emulator, pg_url: str, tmp_path: Path
) -> None:
    with wb.Session(
        api_key=TEST_API_KEY, base_url=emu.base_url, home=tmp_path, db=pg_url, quiet=True,
        experiment="pg", tags=["team"],
    ) as s:  # fmt: skip
        assert s.log.dialect == "postgresql" and s.log.path is None
        first = s.generate("a red fox", seed=1, **T2V)
        again = s.generate("a red fox", seed=1, reuse=True, **T2V)
        assert again.reused and again.run_id == first.run_id  # reuse found it in PostgreSQL
        other = s.generate("a red fox", seed=2, model="wan2.1-t2v-turbo", size="832*480")
        frame = s.runs()
        assert list(frame.index) == [first.run_id, other.run_id]
        assert list(s.runs(model="wan2.1-t2v-turbo").index) == [other.run_id]
        assert list(s.runs(tag="team", experiment="pg").index) == [first.run_id, other.run_id]
        assert len(s.runs(tag="nobody")) == 0
        assert str(frame.dtypes["cost"]) == "float64" and frame["cost"].sum() == pytest.approx(
            0.10 + 0.18
        )
        report = wb.cost_report(session=s)
        # a key with a base URL: priced as the region (the emulator is its loopback stand-in)
        assert report.total_text("real") == "0.2800 USD"
        assert [key[1:] for key in report.by_experiment.index] == [("pg", "USD")]
    # A new process (another kernel) reads the same frame from PostgreSQL
    code = (
        "import sys, wanbook as wb; s = wb.Session(quiet=True, emulator=True);"
        " f = s.runs(); print(len(f), round(float(f['cost'].sum()), 4))"
    )
    env = {**os.environ, "WANBOOK_DB": pg_url, "WANBOOK_HOME": str(tmp_path / "other")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "0.28"]


def test_a_password_in_wanbook_db_is_refused_and_never_shown(tmp_path: Path) -> None:
    env = {**os.environ, "WANBOOK_DB": "postgresql://ann:hunter2secret@db.example/runs"}
    done = _wanbook(env, "runs")
    assert done.returncode != 0
    assert "hunter2secret" not in done.stderr + done.stdout
    assert "~/.pgpass" in done.stderr


def test_an_unreachable_database_stops_the_run_before_anything_is_sent(
    emu: Emulator, tmp_path: Path
) -> None:
    """The write-ahead row cannot be written: nothing is sent, nothing billed; the error says
    which database (never a password) and why."""
    import httpx

    def tasks() -> int:
        answer = httpx.get(
            f"{emu.base_url}/tasks/", headers={"Authorization": f"Bearer {TEST_API_KEY}"}
        )
        return int(answer.json()["total"])

    before = tasks()
    nowhere = f"postgresql://ann@/runs?host={tmp_path}&connect_timeout=2"
    with (
        wb.Session(api_key=TEST_API_KEY, base_url=emu.base_url, db=nowhere, quiet=True) as s,
        pytest.raises(wb.RunLogError, match="cannot connect") as info,
    ):
        s.generate("a red fox", seed=1, **T2V)
    assert "ann@" in str(info.value)
    assert tasks() == before  # no create was sent


def test_the_server_restarted_mid_run_loses_nothing(emu: Emulator, tmp_path: Path) -> None:
    """The database goes away the moment the task id is logged (a server restart, a network
    cut) and comes back 1.5 s later, while the task runs: the run's next writes wait for it
    (wanbook._sql.RETRY_S) and land, and the run ends SUCCEEDED with its video and cost,
    logged once. A server of its own (the session's is shared by the other tests)."""
    import threading

    from tests import pg as _pg

    server = _pg.start()
    outage: list[threading.Timer] = []

    def cut_when_created(run: Any) -> None:
        if run.task_id and not outage:
            server.down()
            outage.append(threading.Timer(1.5, server.up))
            outage[0].start()

    try:
        _, url = server.new_schema("restart")
        with wb.Session(
            api_key=TEST_API_KEY, base_url=emu.base_url, home=tmp_path, db=url, quiet=True
        ) as s:
            run = s.generate("a fox at night", seed=3, on_update=cut_when_created, **T2V)
            assert outage and not outage[0].is_alive()  # the server was down, and back
            assert run.status == "SUCCEEDED" and Path(run.record["video_path"]).is_file()
            assert run.record["cost"] == pytest.approx(0.10)
            assert len(s.runs()) == 1
            logged = s.log.get(run.run_id) or {}
            assert logged["status"] == "SUCCEEDED" and logged["task_id"] == run.task_id
    finally:
        for timer in outage:
            timer.join(30)
        server.stop()
