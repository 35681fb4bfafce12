"""Benchmark of the run log: appends, 100,000 runs -> DataFrame, bytes per run.

    .venv/bin/python bench/runlog.py [--runs 100000] [--appends 1000] [--no-record]

Targets (issue 4): a single append (the write-ahead insert) <= 2 ms, median and p95, on a file
database in WAL mode; 100,000 runs -> DataFrame <= 0.5 s. Rows are realistic: a prompt, a
rewritten prompt, every parameter, the logged request body, usage, times, costs, a video path.
The figures are printed and appended to ``bench/RESULTS.md`` under "Run log".
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wanbook._runlog import RunLog  # noqa: E402

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
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=60 * i)
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
    db = log._db()
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
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
        # 3. -> DataFrame: the first read in a process reads every run; later reads only what
        # changed since (a session writing runs in between).
        with RunLog.open(home) as log:
            first, df = timed(log.dataframe)
            assert len(df) == rows, (len(df), rows)
            unchanged, _ = timed(log.dataframe)
            later = []
            for round_ in range(5):
                for i in range(10):
                    new = log.insert(**realistic(rows + 10 * round_ + i, rng))
                    log.update(new, status="RUNNING", task_id=f"t{round_}-{i}")
                t, df = timed(log.dataframe)
                later.append(t)
            assert len(df) == rows + 50
            filtered_s, filtered = timed(
                lambda: log.dataframe(experiment="study-3", status="SUCCEEDED", tag="batch-3")
            )
            every_s, every = timed(lambda: log.dataframe(columns="all"))

    def ms(values: list[float], q: int) -> float:
        return 1000 * statistics.quantiles(values, n=100)[q - 1]

    results = [
        ("append (insert), median", f"{1000 * statistics.median(inserts):.3f} ms", "<= 2 ms"),
        ("append (insert), p95", f"{ms(inserts, 95):.3f} ms", "<= 2 ms"),
        ("update (status), median", f"{1000 * statistics.median(updates):.3f} ms", ""),
        ("update (status), p95", f"{ms(updates, 95):.3f} ms", ""),
        (
            f"{rows:,} runs -> DataFrame, 10 new + 10 updated since (median of 5)",
            f"{statistics.median(later):.3f} s",
            "<= 0.5 s",
        ),
        (f"{rows:,} runs -> DataFrame, nothing changed", f"{unchanged:.3f} s", "<= 0.5 s"),
        (f"{rows:,} runs -> DataFrame, first read in a process", f"{first:.3f} s", "<= 0.5 s"),
        ("import pandas (first call only, not in the above)", f"{import_s:.3f} s", ""),
        (f"filtered DataFrame ({len(filtered):,} rows)", f"{filtered_s:.3f} s", ""),
        (f"columns='all' ({every.shape[1]} columns), read afresh", f"{every_s:.3f} s", ""),
        ("default DataFrame shape", f"{df.shape[0]:,} x {df.shape[1]}", ""),
        ("bytes per run (file size / rows)", f"{size / rows:,.0f} B", ""),
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
        record(text, env, " ".join([".venv/bin/python", *sys.argv]))


def record(table: str, env: str, command: str) -> None:
    """Append the figures to bench/RESULTS.md under "Run log" (other sections are left alone)."""
    path = Path(__file__).with_name("RESULTS.md")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = "" if path.exists() else "# Benchmark results\n"
    block = f"\n## Run log\n\n`{command}` — {stamp}; {env}\n\n{table}\n"
    with path.open("a", encoding="utf-8") as f:
        f.write(head + block)


if __name__ == "__main__":
    main()
