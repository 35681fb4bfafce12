"""One account, many processes: 1, 2 and 4 processes × N runs on one emulator account and one 2/2
rate group (wan2.2-t2v-plus: 2 submissions per second, 2 tasks in flight), three ways:

1. ``wanbook submit_many``: each process sends its N runs as one batch;
2. ``wanbook generate``: each process generates its N runs one after another (a shell loop);
3. the vendor's SDK: each process calls ``dashscope.VideoSynthesis.call`` in a loop (a 429 is
   retried after 1 s, as a user's loop would; the SDK does not retry it).

Every process has its own ``WANBOOK_HOME`` (its own run log); the wanbook processes share only the
user's state folder (one ``WANBOOK_STATE_DIR``, a temporary one here, fresh for each scenario),
which is all account-wide pacing needs. Before the scenarios each run log gets 3 runs like these
(not measured), as a user's has after a few runs: the poll schedule then aims at a task's end from
history. (On an empty log, behind a base URL of unknown pace, the first polls ramp from 1 s, which
at the emulator's seconds-long tasks would cost more than at the service's minutes.) The emulator (rate limits on, in this process) is the referee: it counts the 429s it
answers and keeps each task's submit and end times, from which the peak in flight and the mean
task time come.

``--dataframe`` measures something else: the run log's DataFrame (``wb.runs()``) of 100,000
realistic runs (``bench/runlog.py``'s) read into a **new process** (a new kernel), from SQLite
and from PostgreSQL (a throwaway server started like the tests' fixture, ``tests/pg.py``, or
``WANBOOK_TEST_PG``), each way: with the typed view kept on disk (nothing changed since, and 50
runs written since), and cold (no copy on disk: every run read; PostgreSQL through psycopg's
binary cursor). Each figure is the median of ``--processes`` fresh processes, timing
``RunLog.open`` (connect, migrations checked) and the read, after ``import pandas``. Recorded
under "Run log on PostgreSQL".

With ``--state postgresql`` the account's shared state lives in a PostgreSQL database instead
(``WANBOOK_DB``; a throwaway server started like the tests' fixture, ``tests/pg.py``, on a Unix
socket, or ``WANBOOK_TEST_PG``), and every wanbook process also gets its own state folder, as on
separate machines: only the database joins them. It then also times the state's operations
(reserve a submission time; take and free a slot) on both engines in one process. Figures go
under "Account, state on PostgreSQL".

``rate / limit`` is runs per second (runs ÷ wall time from the first create to the last task's
end) over what the group allows: ``min(per_second, in_flight / mean task time)``. Goal with 4
processes: ≥ 0.9 for wanbook, and 0 answers of 429. The table is printed and, unless
``--no-record``, appended with the command line to ``bench/RESULTS.md`` under "Account".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import headline, record  # noqa: E402
from tests.emulator_helpers import Referee  # noqa: E402
from wanbook.emulator import Emulator  # noqa: E402

MODEL = "wan2.2-t2v-plus"
PER_SECOND, IN_FLIGHT = 2, 2  # the group wan2.1/wan2.2 (models.toml [rate_groups])
PROMPT = "a red fox trotting through fresh snow at dusk"  # one prompt and seed: rendered once

WANBOOK_CHILD = """
import json, sys
import wanbook as wb

mode, n, model, prompt = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
reqs = [wb.Request(prompt=prompt, model=model, size="832*480", seed=1, prompt_extend=False)
        for _ in range(n)]
with wb.Session(quiet=True) as s:
    if mode == "batch":
        outcomes = s.submit_many(reqs)
        ok = [o.ok for o in outcomes]
    else:
        ok = [s.generate(request=r, raise_on_failure=False).ok for r in reqs]
print(json.dumps({"ok": sum(ok), "failed": len(ok) - sum(ok)}))
"""

SDK_CHILD = """
import json, sys, time
import dashscope
from dashscope import VideoSynthesis
from dashscope.common.error import InvalidTask

dashscope.base_http_api_url = sys.argv[1]
n, model, prompt = int(sys.argv[2]), sys.argv[3], sys.argv[4]
ok = failed = retried = 0
for _ in range(n):
    while True:
        try:
            rsp = VideoSynthesis.call(model=model, prompt=prompt, seed=1, size="832*480",
                                      prompt_extend=False, api_key="sk-bench")
        except InvalidTask as exc:
            if "429" in str(exc):
                retried += 1
                time.sleep(1.0)
                continue
            rsp = None
        break
    good = rsp is not None and rsp.output is not None and rsp.output.get("task_status") == "SUCCEEDED"
    ok += good
    failed += not good
print(json.dumps({"ok": ok, "failed": failed, "retried": retried}))
"""


def scenario(
    emu: Emulator,
    referee: Referee,
    way: str,
    procs: int,
    n: int,
    state: Path,
    work: Path,
    db: str | None = None,
) -> dict[str, Any]:
    referee.reset()
    children = []
    for p in range(procs):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WANBOOK_", "DASHSCOPE_"))}
        env |= {
            "WANBOOK_BASE_URL": emu.base_url,
            "WANBOOK_HOME": str(work / f"home-{p}"),
            "WANBOOK_STATE_DIR": str(state if db is None else state / f"process-{p}"),
        }
        if db is not None:  # as on separate machines: only the database is shared
            env["WANBOOK_DB"] = db
        if way == "sdk":
            argv = [sys.executable, "-c", SDK_CHILD, emu.base_url, str(n), MODEL, PROMPT]
        else:
            argv = [sys.executable, "-c", WANBOOK_CHILD, way, str(n), MODEL, PROMPT]
        children.append(
            subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    outs = []
    for child in children:
        out, err = child.communicate(timeout=1800)
        if child.returncode != 0:
            raise SystemExit(f"a {way} process failed: {err.decode(errors='replace')[-2000:]}")
        outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    if db is not None and list(state.glob("process-*/account.sqlite")):
        raise SystemExit("a process kept its account state in a file, not in the database")
    now = time.time()
    tasks = referee.tasks()
    ends = [t.end_time(now) or now for t in tasks]
    span = max(ends) - min(t.submit for t in tasks) if tasks else float("nan")
    task_time = statistics.fmean(e - t.submit for t, e in zip(tasks, ends, strict=True))
    allowed = min(PER_SECOND, IN_FLIGHT / task_time)
    rate = len(tasks) / span
    return {
        "way": way,
        "procs": procs,
        "runs": procs * n,
        "ok": sum(o["ok"] for o in outs),
        "failed": sum(o["failed"] for o in outs),
        "throttled": sum(1 for a in referee.answers if a == 429),
        "peak": referee.peak_in_flight(),
        "task_time": task_time,
        "span": span,
        "rate": rate,
        "ratio": rate / allowed,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| way | processes × runs | ok | failed | 429s answered (goal 0 for wanbook) | peak in "
        "flight (limit 2) | mean task s | wall s | runs/s | rate / limit (goal ≥ 0.9 at 4) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['way']} | {r['procs']} × {r['runs'] // r['procs']} | {r['ok']} | {r['failed']} "
            f"| {r['throttled']} | {r['peak']} | {r['task_time']:.2f} | {r['span']:.1f} "
            f"| {r['rate']:.2f} | {r['ratio']:.2f} |"
        )
    return "\n".join(lines)


WAYS = {"batch": "wanbook submit_many", "single": "wanbook generate loop", "sdk": "SDK call loop"}


# ------------------------------------------------------------------ the 100k DataFrame read
FRESH_READ = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import pandas
t = time.perf_counter()
from wanbook._runlog.dataframe import runs_frame
from wanbook._runlog.store import RunLog
log = RunLog.open(sys.argv[2], db=sys.argv[3] or None)
opened = time.perf_counter() - t
df = runs_frame(log)
total = time.perf_counter() - t
log.close()
print(json.dumps({"open": opened, "total": total, "rows": len(df)}))
"""


def _fresh(home: Path, db: str | None, times: int) -> tuple[float, float, int]:
    """(median seconds open+read, median seconds open, rows) of ``times`` new processes."""
    totals, opens, rows = [], [], 0
    root = str(Path(__file__).resolve().parents[1])
    for _ in range(times):
        out = subprocess.run(
            [sys.executable, "-c", FRESH_READ, root, str(home), db or ""],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(out.stdout)
        totals.append(figures["total"])
        opens.append(figures["open"])
        rows = figures["rows"]
    return statistics.median(totals), statistics.median(opens), rows


def _fill_postgres(log: Any, n: int) -> None:
    """``n`` realistic runs through COPY (the loader, not what is measured)."""
    import random

    from bench.runlog import realistic

    rng = random.Random(4)
    rows = []
    for i in range(n):
        row = log._row_values(realistic(i, rng))
        row.update(run_id=f"bulk{i:022d}", created_at=row["submitted_at"])
        row["updated_at"] = row["created_at"]
        rows.append(row)
    names = list(rows[0])
    with (
        log.db.raw().cursor() as cur,
        cur.copy(f"COPY runs ({', '.join(names)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([row[k] for k in names])
    log.db.execute("VACUUM ANALYZE runs")  # as autovacuum does soon after a bulk insert


def _change(log: Any, n: int) -> None:
    """``n`` new runs and ``n`` updates, as a session would write them."""
    for i in range(n):
        new = log.insert(model=MODEL, prompt=f"since {i}", tags=["new"])
        log.update(new, status="SUCCEEDED", cost=0.1, currency="USD")


def dataframe_bench(runs: int, processes: int) -> str:
    import random

    from bench.runlog import fill
    from tests import pg as _pg
    from wanbook._runlog import dataframe as _frames
    from wanbook._runlog.store import RunLog

    results: list[tuple[str, str, str]] = []
    server = _pg.start()
    try:
        with tempfile.TemporaryDirectory(prefix="wanbook-bench-frame-") as tmp:
            home = Path(tmp)
            _, url = server.new_schema("bench")
            engines = {"SQLite": None, "PostgreSQL": url}
            for name, db in engines.items():
                t = time.perf_counter()
                with RunLog.open(home / name, db=db) as log:
                    if db is None:
                        fill(log, runs, random.Random(4))
                    else:
                        _fill_postgres(log, runs)
                    assert log.count() == runs
                print(f"{name}: {runs:,} runs loaded in {time.perf_counter() - t:.1f} s")
                cache = None
                with RunLog.open(home / name, db=db) as log:  # the first read writes the copy
                    t = time.perf_counter()
                    assert len(_frames.runs_frame(log)) == runs
                    first = time.perf_counter() - t
                    cache = _frames._store_path(log)
                kept, kept_open, rows = _fresh(home / name, db, processes)
                assert rows == runs
                with RunLog.open(home / name, db=db) as log:
                    _change(log, 50)
                changed, _, rows = _fresh(home / name, db, processes)
                assert rows == runs + 50
                colds = []
                for _ in range(max(1, processes // 2)):  # each one without the copy on disk
                    cache.unlink()
                    colds.append(_fresh(home / name, db, 1)[0])
                cold = statistics.median(colds)
                results += [
                    (name, "new process, view kept on disk, nothing changed", f"{kept:.3f} s"),
                    (name, "new process, view kept on disk, 50 runs written since", f"{changed:.3f} s"),
                    (name, "  of which RunLog.open (connect, migrations checked)", f"{kept_open:.3f} s"),
                    (name, "new process, cold: no copy on disk (every run read)", f"{cold:.3f} s"),
                    (name, "first read ever, in the loading process", f"{first:.3f} s"),
                    (name, "bytes of the kept view per run", f"{cache.stat().st_size / runs:,.0f} B" if cache.exists() else "-"),
                ]  # fmt: skip
    finally:
        server.stop()
    lines = ["| engine | 100,000 runs -> wb.runs() DataFrame | seconds (median) |", "|---|---|---|"]
    lines += [f"| {e} | {what} | {value} |" for e, what, value in results]
    return "\n".join(lines)


def state_ops(where: dict[str, Any], n: int = 300) -> dict[str, float]:
    """Milliseconds per operation of the account state, one process, no contention: p50/p95 of
    ``reserve_send`` (rate 1000/s, so it never waits) and of ``try_slot`` + ``free_slot``."""
    from wanbook._api.account_state import AccountStore

    store = AccountStore(**where)
    try:
        store.in_flight("bench", "g")  # connect and make the tables first
        reserve, slot = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            store.reserve_send("bench", "g", 1000, 1.1)
            t1 = time.perf_counter()
            sid = store.try_slot("bench", "g", 5)
            assert sid is not None
            store.free_slot(sid)
            t2 = time.perf_counter()
            reserve.append((t1 - t0) * 1000)
            slot.append((t2 - t1) * 1000)
    finally:
        store.close()

    def pct(xs: list[float], q: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]

    return {
        "reserve_p50": pct(reserve, 0.5),
        "reserve_p95": pct(reserve, 0.95),
        "slot_p50": pct(slot, 0.5),
        "slot_p95": pct(slot, 0.95),
    }


def ops_table(rows: dict[str, dict[str, float]]) -> str:
    lines = [
        "| state | reserve a submission time, ms p50 / p95 | take + free a slot, ms p50 / p95 |",
        "|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['reserve_p50']:.2f} / {r['reserve_p95']:.2f} "
            f"| {r['slot_p50']:.2f} / {r['slot_p95']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10, help="runs per process (default 10)")
    ap.add_argument("--procs", default="1,2,4", help="process counts (default 1,2,4)")
    ap.add_argument("--ways", default="batch,single,sdk", help="default batch,single,sdk")
    ap.add_argument("--time-scale", type=float, default=1 / 20, help="emulator pace (1/20)")
    ap.add_argument("--no-record", action="store_true", help="print only")
    ap.add_argument("--dataframe", action="store_true", help="the 100k DataFrame read instead")
    ap.add_argument("--runs", type=int, default=100_000, help="runs for --dataframe")
    ap.add_argument("--processes", type=int, default=5, help="fresh processes per figure")
    ap.add_argument(
        "--state",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="where the account state lives: the per-user SQLite file (default) or a "
        "PostgreSQL database (a throwaway server, or WANBOOK_TEST_PG)",
    )
    args = ap.parse_args()
    if args.dataframe:
        text = dataframe_bench(args.runs, args.processes)
        print(text)
        if not args.no_record:
            cpu = f"{os.cpu_count()} cores, Python {platform.python_version()}"
            details = f"server and client on one machine (Unix socket, fsync off); {cpu}"
            record("## Run log on PostgreSQL", headline(details) + "\n\n" + text)
        return
    rows = []
    ops: dict[str, dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="wanbook-bench-account-"))
        db = None
        if args.state == "postgresql":
            from tests import pg

            server = pg.start()
            stack.callback(server.stop)
            # One schema for every scenario: the account state, and the run log with it.
            _, db = server.new_schema("bench")
            ops["SQLite file (per user)"] = state_ops({"path": Path(tmp) / "ops.sqlite"})
            _, ops_url = server.new_schema("ops")
            ops["PostgreSQL (Unix socket)"] = state_ops({"database": ops_url})
        emu = stack.enter_context(Emulator(time_scale=args.time_scale, rate_limits=True))
        referee = Referee(emu)
        counts = [int(p) for p in args.procs.split(",")]
        warm = scenario(emu, referee, "batch", max(counts), 3, Path(tmp) / "warm", Path(tmp), db)
        print(f"warm-up: {warm['ok']} runs in {max(counts)} run logs", flush=True)
        for procs in counts:
            for way in args.ways.split(","):
                state = Path(tmp) / f"state-{way}-{procs}"  # a fresh account state per scenario
                row = scenario(emu, referee, way, procs, args.n, state, Path(tmp), db)
                row["way"] = WAYS[way]
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if ops:
        text += "\n\n" + ops_table(ops)
        print(ops_table(ops))
    if not args.no_record:
        cpu = f"{os.cpu_count()} cores, Python {platform.python_version()}"
        details = (
            f"{MODEL} (group 2/s, 2 in flight), emulator time scale {args.time_scale:g}, "
            f"rate limits on; {cpu}"
        )
        if db is None:
            record("## Account", headline(details) + "\n\n" + text)
        else:
            details += (
                "; account state in PostgreSQL (throwaway server on a Unix socket, fsync off), "
                "each process its own state folder"
            )
            record("## Account, state on PostgreSQL", headline(details) + "\n\n" + text)


if __name__ == "__main__":
    main()
