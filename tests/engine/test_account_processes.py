"""Four real processes on one emulator account, rate limits on (wan2.1/wan2.2: 2 per second, 2 in
flight), each with its own WANBOOK_HOME: the emulator, the referee, answers no 429, every run
succeeds, and never more than 2 tasks run at once. On SQLite they share only the user's state
folder; with WANBOOK_DB on PostgreSQL each has its own state folder too, as on four machines,
and only the database joins them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.emulator_helpers import Referee
from wanbook._api.account_state import open_store
from wanbook.emulator import Emulator

FAST = 1 / 600
RUNS = 3  # per process

CHILD = """
import json, sys
import wanbook as wb

mode, runs = sys.argv[1], int(sys.argv[2])
requests = [
    wb.Request(prompt=f"a fox in the snow {i}", model="wan2.2-t2v-plus", size="832*480",
               seed=i, prompt_extend=False)
    for i in range(runs)
]
with wb.Session(quiet=True) as s:
    if mode == "batch":
        outcomes = s.submit_many(requests)
        statuses = [o.run.status if o.run else repr(o.error) for o in outcomes]
    else:
        statuses = [s.generate(request=r, raise_on_failure=False).status for r in requests]
print(json.dumps(statuses))
"""


@pytest.mark.slow
def test_four_processes_on_one_account_never_see_a_429(db_url: str, tmp_path: Path) -> None:
    on_pg = db_url.startswith("postgresql")
    with Emulator(time_scale=FAST, rate_limits=True) as emu:
        referee = Referee(emu)
        procs = []
        for n, mode in enumerate(["batch", "single", "batch", "single"]):
            env = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
            env |= {
                "WANBOOK_BASE_URL": emu.base_url,
                "WANBOOK_HOME": str(tmp_path / f"home-{n}"),  # each its own run log
                # WANBOOK_STATE_DIR: the conftest's, shared by all four (the user's one place)
            }
            if on_pg:  # as on separate machines: only WANBOOK_DB (the test's, in env) is shared
                env["WANBOOK_STATE_DIR"] = str(tmp_path / f"state-{n}")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", CHILD, mode, str(RUNS)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        results = [p.communicate(timeout=300) for p in procs]
        for proc, (_out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, err
        statuses = [s for out, _ in results for s in json.loads(out.strip().splitlines()[-1])]
        assert statuses == ["SUCCEEDED"] * (4 * RUNS)
        assert referee.answers == [200] * (4 * RUNS)  # not one 429
        assert referee.peak_in_flight() <= 2
    if on_pg:  # the pace and the slots were kept in the database, in no state folder
        assert not list(tmp_path.glob("state-*/account.sqlite"))
        store = open_store()
        try:
            with store.transaction() as db:
                assert db.execute("SELECT count(*) FROM pace").rows == [(1,)]
                assert db.execute("SELECT count(*) FROM slots").rows == [(0,)]  # all freed
        finally:
            store.close()
