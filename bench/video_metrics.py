"""How long ``wb.video_metrics`` takes to measure one video (decode every frame, measure a
sample), per tier and duration, on videos the embedded emulator renders. The second call of a
video comes from the cache (a file read).

    python bench/video_metrics.py [--repeat 3] [--no-record]

The table is printed and appended to ``bench/RESULTS.md`` under "Video measures".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import headline, record  # noqa: E402
from wanbook._reports.video_metrics import measure  # noqa: E402

CASES = [  # (model, size, duration)
    ("wan2.5-t2v-preview", "832*480", 5),
    ("wan2.5-t2v-preview", "1280*720", 5),
    ("wan2.5-t2v-preview", "1280*720", 10),
    ("wan2.5-t2v-preview", "1920*1080", 5),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    import wanbook as wb

    rows = []
    with (
        tempfile.TemporaryDirectory() as home,
        wb.Session(home=home, quiet=True, emulator=True) as s,
    ):
        for model, size, duration in CASES:
            run = s.generate("a heron over a frozen lake", model=model, size=size,
                             duration=duration, seed=1, prompt_extend=False)  # fmt: skip
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                measure(run.video_path)
                times.append(time.perf_counter() - start)
            wb.video_metrics([run.run_id], session=s)  # measured once, and cached
            cached_start = time.perf_counter()
            wb.video_metrics([run.run_id], session=s)
            cached = time.perf_counter() - cached_start
            rows.append((size, duration, min(times), statistics.median(times), cached))
    load = os.getloadavg()[0]
    lines = [
        headline(f"best and median of {args.repeat}; load average {load:.2f} at the end"),
        "",
        "| size | duration | measure (best) | measure (median) | wb.video_metrics, cached |",
        "|---|---|---|---|---|",
        *[
            f"| {sz} | {d} s | {b:.3f} s | {m:.3f} s | {c * 1000:.1f} ms |"
            for sz, d, b, m, c in rows
        ],
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("## Video measures", text)


if __name__ == "__main__":
    main()
