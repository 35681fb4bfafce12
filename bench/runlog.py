"""Benchmark of the run log: appends, 100,000 runs -> DataFrame, bytes per run.

    .venv/bin/python bench/runlog.py [--runs 100000] [--appends 1000] [--processes 7] [--no-record]

Targets (issue 4): a single append (the write-ahead insert) <= 2 ms, median and p95, on a file
database in WAL mode; 100,000 runs -> DataFrame <= 0.5 s. Rows are realistic: a prompt, a
rewritten prompt, every parameter, the logged request body, usage, times, costs, a video path.

The DataFrame is timed where it matters: the first read in a new process (each of
``--processes`` fresh Python processes, after ``import pandas``; median, min and max), with the
view kept on disk by an earlier read (``runs.frame.npz``), and with 50 runs written since; the
very first read of a log (no copy on disk yet: every run from SQLite); later reads in one process.
The figures are printed and put in ``bench/RESULTS.md`` under "Run log" (the table replaced, a
dated line added to its history).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wanbook._runlog.dataframe import runs_frame  # noqa: E402
from wanbook._runlog.store import RunLog  # noqa: E402

WORDS = [
    "a",
    "kitten",
    "running",
    "in",
    "the",
    "moonlight",
    "over",
    "wet",
    "cobblestones",
    "cinematic",
    "slow",
    "motion",
    "golden",
    "hour",
    "red",
    "fox",
    "snow",
    "forest",
    "drone",
    "shot",
    "close",
    "up",
    "portrait",
    "neon",
    "city",
    "rain",
    "reflections",
]
MODELS = [("wan2.2-t2v-plus", "t2v"), ("wan2.1-t2v-turbo", "t2v"), ("wan2.6-i2v-flash", "i2v")]


def realistic(i: int, rng: random.Random) -> dict[str, Any]:
    """One finished run as the session logs it (all the columns a real run fills in)."""
    model, kind = MODELS[i % len(MODELS)]
    prompt = " ".join(rng.choices(WORDS, k=rng.randint(12, 40)))
    seed = rng.randint(0, 2**31 - 1)
    size = "1280*720" if kind == "t2v" else None
    params = {
        "size": size,
        "resolution": None if size else "720P",
        "duration": 5,
        "prompt_extend": False,
        "watermark": False,
        "seed": seed,
        "audio": kind == "i2v",
        "tier": "720P",
        "shot_type": None,
        "template": None,
        "audio_url": None,
        "sent": ["duration", "prompt_extend", "seed", "size"],
    }
    body = {
        "model": model,
        "input": {"prompt": prompt, "negative_prompt": "blurry"},
        "parameters": {"size": size, "duration": 5, "prompt_extend": False, "seed": seed},
    }
    t0 = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=60 * i)
    return {
        "experiment": f"study-{i % 7}",
        "tags": ["bench", f"batch-{i % 10}"],
        "backend": "emulator",
        "region": "intl",
        "endpoint_host": "127.0.0.1:8000",
        "model": model,
        "kind": kind,
        "prompt": prompt,
        "negative_prompt": "blurry",
        "seed": seed,
        "params": params,
        "request_body": body,
        "task_id": f"{rng.getrandbits(128):032x}",
        "request_id": f"{rng.getrandbits(128):032x}",
        "status": "SUCCEEDED",
        "submitted_at": t0,
        "submit_time": t0 + timedelta(seconds=1),
        "scheduled_time": t0 + timedelta(seconds=8),
        "end_time": t0 + timedelta(seconds=120),
        "queue_seconds": 7.0,
        "run_seconds": 112.0,
        "actual_prompt": prompt + ", highly detailed, soft light, shallow depth of field",
        "video_url": f"https://dashscope-result.example/{i}.mp4?Expires=1767225600&Signature=abc",
        "video_url_expires_at": t0 + timedelta(hours=24),
        "video_path": f"/home/user/wanbook-runs/videos/{i:06d}.mp4",
        "video_sha256": f"{rng.getrandbits(256):064x}",
        "video_bytes": rng.randint(1_000_000, 9_000_000),
        "width": 1280,
        "height": 720,
        "fps": 30.0,
        "duration": 5.0,
        "has_audio": kind == "i2v",
        "usage": {"video_duration": 5, "video_ratio": "1280*720", "video_count": 1},
        "billed_seconds": 5.0,
        "tier": "720P",
        "price_per_second": 0.036,
        "cost": 0.18,
        "currency": "USD",
        "price_table_date": "2026-11-01",
        "estimate": 0.18,
        "estimate_currency": "USD",
        "fingerprint": f"{rng.getrandbits(256):064x}",
        "finished_at": t0 + timedelta(seconds=125),
    }


def fill(log: RunLog, n: int, rng: random.Random) -> None:
    """Bulk-load ``n`` runs in one transaction (the loader, not the thing measured)."""
    db = log.db.raw()  # the sqlite3 connection
    batch = []
    for i in range(n):
        row = log._row_values(realistic(i, rng))
        row.update(run_id=f"bulk{i:022d}", created_at=row["submitted_at"])
        row["updated_at"] = row["created_at"]
        batch.append(row)
    names = list(batch[0])
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [tuple(r[k] for k in names) for r in batch],
    )
    db.execute("COMMIT")


def timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# One fresh Python process: import pandas, open the log, time the first DataFrame read.
FRESH_READ = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
t = time.perf_counter(); import pandas; imported = time.perf_counter() - t
from wanbook._runlog.store import RunLog
with RunLog.open(sys.argv[2]) as log:
    t = time.perf_counter(); df = runs_frame(log); read = time.perf_counter() - t
print(json.dumps({"read": read, "import": imported, "rows": len(df)}))
"""


def fresh_reads(home: str, times: int) -> tuple[list[float], list[float], int]:
    """(read seconds, import-pandas seconds, rows) of ``times`` new processes, one after another."""
    reads, imports, rows = [], [], 0
    for _ in range(times):
        out = subprocess.run(
            [sys.executable, "-c", FRESH_READ, str(ROOT), home],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(out.stdout)
        reads.append(figures["read"])
        imports.append(figures["import"])
        rows = figures["rows"]
    return reads, imports, rows


def spread(values: list[float]) -> str:
    return (
        f"{statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}, "
        f"n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=7, help="fresh processes per case")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    rng = random.Random(4)
    with tempfile.TemporaryDirectory() as home:
        with RunLog.open(home) as log:
            # 1. single appends: the write-ahead insert, then the update a run gets next.
            inserts, updates = [], []
            for i in range(args.appends):
                row = realistic(i, rng)
                ahead = {k: v for k, v in row.items() if k not in ("status", "task_id")}
                t, run_id = timed(lambda ahead=ahead: log.insert(**ahead, status="PREPARED"))
                inserts.append(t)
                t, _ = timed(
                    lambda r=run_id, row=row: log.update(
                        r, status="PENDING", task_id=row["task_id"]
                    )
                )
                updates.append(t)
            # 2. fill to --runs realistic finished runs
            fill(log, args.runs - args.appends, rng)
            log.query("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = log.count()
            size = Path(log.path).stat().st_size
        import_s, _ = timed(lambda: __import__("pandas"))
        # 3. -> DataFrame. The very first read of a log reads every run from SQLite and keeps
        # the view on disk (runs.frame.npz); a new process loads that and reads only the runs
        # changed since; within a process later reads merge only what changed.
        with RunLog.open(home) as log:
            first_ever, df = timed(lambda: runs_frame(log))
            assert len(df) == rows, (len(df), rows)
            kept_bytes = _frames_path(home).stat().st_size
        fresh, fresh_imports, fresh_rows = fresh_reads(home, args.processes)
        assert fresh_rows == rows, (fresh_rows, rows)
        with RunLog.open(home) as log:
            runs_frame(log)
            unchanged, _ = timed(lambda: runs_frame(log))
            later = []
            for round_ in range(5):
                for i in range(10):
                    new = log.insert(**realistic(rows + 10 * round_ + i, rng))
                    log.update(new, status="RUNNING", task_id=f"t{round_}-{i}")
                t, df = timed(lambda: runs_frame(log))
                later.append(t)
            assert len(df) == rows + 50
            filtered_s, filtered = timed(
                lambda: runs_frame(log, experiment="study-3", status="SUCCEEDED", tag="batch-3")
            )
            every_s, every = timed(lambda: runs_frame(log, columns="all"))
        # 50 runs written since the copy on disk: a new process merges them in
        fresh_changed, _, changed_rows = fresh_reads(home, args.processes)
        assert changed_rows == rows + 50, (changed_rows, rows)
        _frames_path(home).unlink()
        with RunLog.open(home) as log:
            no_copy, _ = timed(
                lambda: runs_frame(log)
            )  # like the first read ever (and writes the file)

    def ms(values: list[float], q: int) -> float:
        return 1000 * statistics.quantiles(values, n=100)[q - 1]

    n = f"{rows:,} runs -> DataFrame"
    results = [
        ("append (insert), median", f"{1000 * statistics.median(inserts):.3f} ms", "<= 2 ms"),
        ("append (insert), p95", f"{ms(inserts, 95):.3f} ms", "<= 2 ms"),
        ("update (status), median", f"{1000 * statistics.median(updates):.3f} ms", ""),
        ("update (status), p95", f"{ms(updates, 95):.3f} ms", ""),
        (
            f"{n}, first read in a new process (median of fresh processes)",
            spread(fresh),
            "<= 0.5 s",
        ),
        (
            f"{n}, first read in a new process, 50 runs written since",
            spread(fresh_changed),
            "<= 0.5 s",
        ),
        (
            f"{n}, same process, 10 new + 10 updated since (median of 5)",
            f"{statistics.median(later):.3f} s",
            "<= 0.5 s",
        ),
        (f"{n}, same process, nothing changed", f"{unchanged:.3f} s", "<= 0.5 s"),
        (
            f"{n}, first read ever (no runs.frame.npz: every run from SQLite, file written), twice",
            f"{first_ever:.3f} s / {no_copy:.3f} s",
            "",
        ),
        (
            "import pandas (first call only, not in the above)",
            f"{import_s:.3f} s; fresh processes {statistics.median(fresh_imports):.3f} s",
            "",
        ),
        (f"filtered DataFrame ({len(filtered):,} rows)", f"{filtered_s:.3f} s", ""),
        (f"columns='all' ({every.shape[1]} columns), read afresh", f"{every_s:.3f} s", ""),
        ("default DataFrame shape", f"{df.shape[0]:,} x {df.shape[1]}", ""),
        ("bytes per run (file size / rows)", f"{size / rows:,.0f} B", ""),
        (
            "bytes per run of the kept view (runs.frame.npz / rows)",
            f"{kept_bytes / rows:,.0f} B",
            "",
        ),
    ]
    width = max(len(r[0]) for r in results)
    table = [f"| {'measure':<{width}} | value | target |", f"|{'-' * (width + 2)}|---|---|"]
    table += [f"| {name:<{width}} | {value} | {target} |" for name, value, target in results]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    env = (
        f"Python {platform.python_version()}, pandas {sys.modules['pandas'].__version__}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.machine()} {platform.system()}, {cores} cores, "
        f"1-min load average {os.getloadavg()[0]:.2f} at the end; WAL, synchronous=NORMAL"
    )
    text = "\n".join(table)
    print(text)
    print(env)
    if not args.no_record:
        history = (
            f"first read in a new process {statistics.median(fresh):.3f} s (median of "
            f"{len(fresh)}; {statistics.median(fresh_changed):.3f} s with 50 runs written since); "
            f"first read ever {first_ever:.3f} s"
        )
        record(text, env, " ".join([".venv/bin/python", *sys.argv]), history)


def _frames_path(home: str) -> Path:
    return Path(home) / "runs.frame.npz"


HISTORY = "### History: 100,000 runs -> DataFrame, first read"


def record(table: str, env: str, command: str, history: str) -> None:
    """Put the figures in bench/RESULTS.md under "Run log": the latest table replaces the
    previous one; a dated line is added to the history below it. Other sections are left alone."""
    path = Path(__file__).with_name("RESULTS.md")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    head, found, rest = text.partition("\n## Run log\n")
    section, _, tail = rest.partition("\n## ")
    tail = "\n## " + tail if tail else ""
    lines = section.split(HISTORY, 1)[1].strip().splitlines() if HISTORY in section else []
    lines = lines or ["| when | figures |", "|---|---|"]
    lines.append(f"| {stamp} | {history} |")
    block = (
        f"\n## Run log\n\n`{command}` — {stamp}; {env}\n\n{table}\n\n{HISTORY}\n\n"
        + "\n".join(lines)
        + "\n"
    )
    path.write_text(head.rstrip("\n") + "\n" + block + tail, encoding="utf-8")


if __name__ == "__main__":
    main()
