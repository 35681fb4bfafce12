"""The poll schedule at the real service's pace: queries per task and how late the end is noticed.

``bench/batch.py`` measures the schedule against the embedded emulator, where wanbook knows the
emulator's time model exactly and tasks take seconds. The real service takes minutes and varies,
and nobody can wait for hundreds of real tasks in a benchmark, so this one follows the schedule on
a virtual clock (``tests.poll_simulator``: the same ``PollPlan`` the tracker uses) for tasks drawn like
the real service's (a queue of 8-16 s, then about 50 s per 5 s of 480P video, times a per-task
spread) and compares it with the vendor SDK's ``wait`` ramp on the same tasks. Goals of the batch
issue: at most 1/3 of the SDK's queries, the end noticed within 10 % of the task time (median).

    python bench/polling.py [--tasks 400] [--no-record]

The table is printed and appended to ``bench/RESULTS.md`` under "Polling at the real pace".
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import headline, record  # noqa: E402
from tests.poll_simulator import sdk_queries, simulate_watch  # noqa: E402
from wanbook._api.poll_schedule import expect, prior  # noqa: E402

RUN_PER_5S = {"480P": 50.0, "720P": 70.0, "1080P": 90.0}  # the emulator's model at scale 1.0
CASES = [  # (tier, duration, spread of run time per task, what the schedule knows)
    ("480P", 5, 0.05, "prior"),
    ("480P", 5, 0.05, "history"),
    ("480P", 5, 0.15, "history"),
    ("480P", 5, 0.30, "history"),
    ("720P", 10, 0.15, "prior"),
    ("720P", 10, 0.15, "history"),
    ("1080P", 15, 0.30, "history"),
]


def draw(rng: random.Random, tier: str, duration: int, spread: float) -> tuple[float, float]:
    """One task: (queue, run) seconds."""
    run = RUN_PER_5S[tier] * duration / 5 * rng.uniform(1 - spread, 1 + spread)
    return rng.uniform(8.0, 16.0), run


def measure(case: tuple[str, int, float, str], tasks: int, seed: int) -> dict[str, float]:
    tier, duration, spread, knows = case
    rng = random.Random(seed)
    if knows == "history":  # the 20 most recent similar runs, as the run log would give them
        exp = expect(tier, duration, [draw(rng, tier, duration, spread) for _ in range(20)])
    else:
        exp = prior(tier, duration)
    ours, theirs, late_ours, late_theirs = [], [], [], []
    for i in range(tasks):
        queue, run = draw(rng, tier, duration, spread)
        n, late = simulate_watch(exp, queue, run, rng_seed=i)
        m, late_sdk = sdk_queries(queue + run)
        ours.append(n)
        theirs.append(m)
        late_ours.append(late / (queue + run))
        late_theirs.append(late_sdk / (queue + run))
    return {
        "ours": statistics.fmean(ours),
        "sdk": statistics.fmean(theirs),
        "late": statistics.median(late_ours),
        "late90": statistics.quantiles(late_ours, n=10)[-1],
        "late_sdk": statistics.median(late_theirs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=400, help="tasks per case")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    rows = [
        "| tier, duration | run-time spread | schedule knows | queries/task wanbook | SDK | "
        "ratio (goal ≤ 0.33) | noticed late, median (goal ≤ 10%) | p90 | SDK median |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, case in enumerate(CASES):
        f = measure(case, args.tasks, seed=k)
        tier, duration, spread, knows = case
        rows.append(
            f"| {tier}, {duration} s | ±{spread:.0%} | {knows} | {f['ours']:.1f} | {f['sdk']:.1f} "
            f"| {f['ours'] / f['sdk']:.2f} | {f['late']:.1%} | {f['late90']:.1%} "
            f"| {f['late_sdk']:.1%} |"
        )
    text = headline(f"{args.tasks} simulated tasks per case") + "\n\n" + "\n".join(rows)
    print(text)
    if not args.no_record:
        record("## Polling at the real pace", text)


if __name__ == "__main__":
    main()
