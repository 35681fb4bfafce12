"""Kill-and-resume soak: real subprocesses running ``generate``, batches and ``resume`` against
the embedded emulator are SIGKILLed at seeded random moments (at least 20 kills), then one last
resume finishes everything. Nothing paid may be duplicated, lost, swapped or left unfinished.

    .venv/bin/python -m pytest tests/hostile/test_soak.py -s     # prints the figures

The kill moments are random, so what each kill interrupts depends on the machine's speed, but the
invariants checked do not: they must hold whatever was interrupted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

import wanbook as wb
from tests.conftest import TEST_API_KEY
from wanbook.emulator import Emulator

MODEL = "wan2.2-t2v-plus"
SIZE = "832*480"
KILLS = 22
SEED = int(os.environ.get("WANBOOK_SOAK_SEED", "14"))
UNFINISHED = {"PREPARED", "SUBMITTING", "AMBIGUOUS", "PENDING", "RUNNING"}

WORKER = f"""
import sys
import wanbook as wb
mode, tag = sys.argv[1], sys.argv[2]
wb.session(quiet=True, deadline=120)
if mode == "generate":
    wb.generate("soak " + tag, model={MODEL!r}, size={SIZE!r}, seed=1)
elif mode == "batch":
    # one create a second: the later runs wait, logged but unsent, where many kills land
    wb.submit_many([wb.Request(model={MODEL!r}, prompt=f"soak {{tag}} {{i}}", size={SIZE!r},
                               seed=i) for i in range(3)], limits={{"wan2.2": (1, 3)}})
else:
    wb.resume(raise_on_failure=False)
"""


def emulator_tasks(base_url: str) -> dict[str, str | None]:
    """Every task the emulator made: id -> the prompt it was created with (over HTTP)."""
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"}
    out: dict[str, str | None] = {}
    with httpx.Client(headers=headers, timeout=30) as http:
        page = 1
        while True:
            r = http.get(f"{base_url}/tasks", params={"page_no": page, "page_size": 100})
            r.raise_for_status()
            body = r.json()
            for row in body.get("data") or []:
                q = http.get(f"{base_url}/tasks/{row['task_id']}").json()
                out[row["task_id"]] = q["output"].get("orig_prompt")
            if page >= int(body.get("total_page") or 1):
                return out
            page += 1


def tally(tasks: dict[str, str | None], runs: list[dict[str, Any]]) -> dict[str, int]:
    by_prompt = Counter(tasks.values())
    owners = Counter(r["task_id"] for r in runs if r.get("task_id"))
    return {
        "tasks": len(tasks),
        "runs": len(runs),
        "duplicates": sum(n - 1 for n in by_prompt.values() if n > 1)
        + sum(n - 1 for n in owners.values() if n > 1),
        "lost": sum(1 for t in tasks if t not in owners),
        "swapped": sum(
            1 for r in runs if r.get("task_id") and tasks.get(r["task_id"]) != r.get("prompt")
        ),
        "unfinished": sum(
            1
            for r in runs
            if r["status"] in UNFINISHED
            or (
                r["status"] == "SUCCEEDED"
                and not (r.get("video_path") and Path(r["video_path"]).is_file())
            )
        ),
    }


def test_kill_and_resume_soak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(SEED)
    home = tmp_path / "home"
    started = time.monotonic()
    with Emulator(rate_limits=False, time_scale=0.02, render_workers=1) as emu:
        env = {
            **os.environ,
            "WANBOOK_HOME": str(home),
            "WANBOOK_BASE_URL": emu.base_url,
            "DASHSCOPE_API_KEY": TEST_API_KEY,
        }
        kills = finished = 0
        n = 0
        while kills < KILLS:
            n += 1
            mode = rng.choices(["generate", "batch", "resume"], weights=[4, 4, 2])[0]
            proc = subprocess.Popen(
                [sys.executable, "-c", WORKER, mode, f"{SEED}-{n}"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                proc.wait(timeout=rng.uniform(0.3, 4.0))
                finished += 1
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
        monkeypatch.setenv("WANBOOK_HOME", str(home))
        monkeypatch.setenv("WANBOOK_BASE_URL", emu.base_url)
        monkeypatch.setenv("DASHSCOPE_API_KEY", TEST_API_KEY)
        session = wb.session(quiet=True, deadline=120)
        try:
            wb.resume(list_grace=0, raise_on_failure=False)
            frame = wb.runs(columns="all")
        finally:
            session.close()
        runs = [
            {k: (v if isinstance(v, str) else None) for k, v in row.items()} | {"run_id": run_id}
            for run_id, row in frame[["prompt", "task_id", "status", "video_path"]].iterrows()
        ]
        figures = tally(emulator_tasks(emu.base_url), runs)
    figures |= {"kills": kills, "completed": finished, "seconds": round(time.monotonic() - started)}
    statuses = dict(Counter(r["status"] for r in runs))
    print(f"\nsoak (seed {SEED}): {figures}; statuses {statuses}")
    assert kills >= 20
    assert figures["duplicates"] == figures["lost"] == 0, figures
    assert figures["swapped"] == figures["unfinished"] == 0, figures
