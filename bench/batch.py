"""Batches at the speed limit: wanbook's batch engine against the vendor's SDK, on one emulator.

One embedded emulator (rate limits on; time scale ``--time-scale``, default 1/20, so a 5 s 480P
task takes about 3 s) serves every run. For N tasks of a 5/5 family (wan2.5-t2v-preview) and of
a 2/2 family (wan2.2-t2v-plus), both families at once:

1. wanbook ``Session.submit_many`` (its run log and video download included);
2. the SDK as the vendor's samples use it: ``dashscope.VideoSynthesis.call`` one after another;
3. the SDK's ``call`` in a thread pool of C workers (C = the family's in-flight limit);
4. wanbook again with 10% of tasks failing and 5% of creates losing their response.

Each SDK call is followed by the video's download (wanbook's wall time includes it too); a 429
is retried after 1 s, as a user's loop would. The emulator's request handler is wrapped to count,
per task, the queries it received, the 429s given, and how long after the task ended the first
query that saw it ended arrived ("noticed"). The ideal wall time is ``ceil(N/C) × mean task
time`` (task time = end - submit on the emulator's clock). The table is printed and, unless
``--no-record``, appended with the command line to ``bench/RESULTS.md`` under "Batch".
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import wanbook as wb  # noqa: E402
from bench._results import headline, record  # noqa: E402
from wanbook._spec.catalogue import catalogue  # noqa: E402
from wanbook.emulator import Faults  # noqa: E402
from wanbook.emulator._tasks import ListQuery  # noqa: E402

PROMPT = "a red fox trotting through fresh snow at dusk"
FAMILIES = {  # label -> (model, wanbook Request parameters, the SDK's keyword arguments)
    "5/5": (
        "wan2.5-t2v-preview",
        {"size": "832*480", "duration": 5, "audio": False, "prompt_extend": False},
        {"size": "832*480", "duration": 5, "audio": False, "prompt_extend": False},
    ),
    "2/2": (
        "wan2.2-t2v-plus",
        {"size": "832*480", "prompt_extend": False},
        {"size": "832*480", "prompt_extend": False},
    ),
}
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"}
KEY = "sk-bench-not-a-real-key"


@dataclass
class Stats:
    """What the emulator saw of one model during one scenario."""

    queries: Counter[str] = field(default_factory=Counter)  # task id -> queries
    noticed: dict[str, float] = field(default_factory=dict)  # task id -> seconds after its end
    throttled: int = 0  # 429 answers to creates
    creates: int = 0  # create requests answered or dropped
    lost: int = 0  # creates that made a task but got no answer (injected)


class Recorder:
    """Wraps the emulator's request handler to count what each client asks, per model."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.stats: dict[str, Stats] = defaultdict(Stats)
        self._task_model: dict[str, str] = {}
        self._lock = threading.Lock()
        self._handle = service.handle
        service.handle = self.handle

    def handle(
        self, method: str, path: str, query: Any, headers: Any, body: bytes, root: str
    ) -> Any:
        reply = self._handle(method, path, query, headers, body, root)
        now = time.time()
        parts = path.rstrip("/").split("/")
        with self._lock:
            if path.rstrip("/").endswith("/video-synthesis"):
                import json

                model = json.loads(body).get("model", "?") if body else "?"
                st = self.stats[model]
                st.creates += 1
                st.throttled += reply.status == 429
                st.lost += bool(reply.drop)
                if reply.status == 200:
                    self._task_model[reply.body["output"]["task_id"]] = model
            elif len(parts) == 5 and parts[3] == "tasks" and method == "GET":
                task_id = parts[4]
                model = self._task_model.get(task_id) or self._model_of(task_id)
                st = self.stats[model]
                st.queries[task_id] += 1
                status = (reply.body or {}).get("output", {}).get("task_status")
                if status in TERMINAL and task_id not in st.noticed:
                    task = self.service.store.get(task_id)
                    end = task.end_time(now) if task is not None else None
                    if end is not None:
                        st.noticed[task_id] = now - end
        return reply

    def _model_of(self, task_id: str) -> str:
        task = self.service.store.get(task_id)
        model = task.model if task is not None else "?"
        self._task_model[task_id] = model
        return model

    @contextmanager
    def scenario(self) -> Iterator[dict[str, Stats]]:
        with self._lock:
            self.stats = defaultdict(Stats)
        yield self.stats


def tasks_of(service: Any, model: str, start: float, end: float) -> list[Any]:
    """Every task of ``model`` the emulator created between ``start`` and ``end`` (epoch s)."""
    page, _ = service.store.query(
        ListQuery(start=start, end=end, model=model, page_size=100), time.time()
    )
    return [service.store.get(row["task_id"]) for row in page]


# ---------------------------------------------------------------------------- the clients


def run_wanbook(session: wb.Session, model: str, params: dict, n: int) -> dict:
    reqs = [wb.Request(model=model, prompt=PROMPT, seed=i, **params) for i in range(n)]
    outcomes = session.submit_many(reqs, experiment=f"bench {model}")
    return {
        "ok": sum(o.ok for o in outcomes),
        "failed": sum(not o.ok for o in outcomes),
        "runs": [o.run for o in outcomes],
    }


def sdk_call(model: str, kwargs: dict, seed: int, folder: Path) -> tuple[str, bool]:
    """One ``VideoSynthesis.call`` (429 retried after 1 s) and the download: (status, ok)."""
    import requests
    from dashscope import VideoSynthesis
    from dashscope.common.error import InvalidTask

    while True:
        try:
            rsp = VideoSynthesis.call(model=model, prompt=PROMPT, seed=seed, api_key=KEY, **kwargs)
        except InvalidTask as exc:  # the create was refused (429 included)
            if "429" in str(exc):
                time.sleep(1.0)
                continue
            return "CREATE_FAILED", False
        break
    status = rsp.output["task_status"] if rsp.output else f"HTTP {rsp.status_code}"
    if status != "SUCCEEDED":
        return status, False
    with requests.get(rsp.output["video_url"], stream=True, timeout=60) as r:
        r.raise_for_status()
        with open(folder / f"{model}-{seed}-{time.time_ns()}.mp4", "wb") as f:
            for chunk in r.iter_content(1 << 16):
                f.write(chunk)
    return status, True


def run_sdk(model: str, kwargs: dict, n: int, workers: int, folder: Path) -> dict:
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda i: sdk_call(model, kwargs, i, folder), range(n)))
    return {"ok": sum(ok for _, ok in results), "failed": sum(not ok for _, ok in results)}


# ---------------------------------------------------------------------------- one scenario


def scenario(
    name: str,
    recorder: Recorder,
    n: int,
    job: Callable[[str, str, dict, dict], dict],
) -> list[dict]:
    """Run ``job`` for both families at once; one result row per family."""
    service = recorder.service
    with recorder.scenario() as stats:
        start = time.time()
        results: dict[str, dict] = {}
        walls: dict[str, float] = {}

        def one(label: str) -> None:
            model, params, sdk_kwargs = FAMILIES[label]
            t0 = time.perf_counter()
            results[label] = job(label, model, params, sdk_kwargs)
            walls[label] = time.perf_counter() - t0

        threads = [threading.Thread(target=one, args=(label,)) for label in FAMILIES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        end = time.time()
    rows = []
    for label, (model, _, _) in FAMILIES.items():
        spec = catalogue().get(model)
        assert spec is not None
        c = spec.rate_in_flight
        tasks = tasks_of(service, model, start - 1, end + 1)
        spans = [t.end_time(end) - t.submit for t in tasks if t.end_time(end) is not None]
        task_time = statistics.fmean(spans) if spans else math.nan
        st = stats[model]
        polls = sum(st.queries.values()) / max(1, len(tasks))
        notice = statistics.median(st.noticed.values()) if st.noticed else math.nan
        rows.append(
            {
                "scenario": name,
                "family": label,
                "model": model,
                "n": n,
                "c": c,
                "wall": walls[label],
                "task": task_time,
                "ideal": math.ceil(n / c) * task_time,
                "throttled": st.throttled,
                "polls": polls,
                "notice": notice,
                "tasks": len(tasks),
                **{k: v for k, v in results[label].items() if k in ("ok", "failed")},
                "extra": results[label],
                "lost": st.lost,
                "task_list": tasks,
            }
        )
    return rows


def check_faults(row: dict) -> str:
    """No duplicate task, every task in the run log once, every failure recorded."""
    runs = [r for r in row["extra"]["runs"] if r is not None]
    logged = [r.task_id for r in runs if r.task_id]
    created = {t.task_id for t in row["task_list"]}
    failed_server = sum(1 for t in row["task_list"] if t.fail is not None)
    failed_logged = sum(1 for r in runs if r.status == "FAILED")
    dupes = len(logged) - len(set(logged))
    notes = [
        f"{row['lost']} create answers lost",
        f"{len(created)} tasks for {row['n']} requests",
        f"{dupes} task ids logged twice",
        f"{len(created - set(logged))} created tasks not in the run log",
        f"{failed_logged}/{failed_server} failures recorded",
    ]
    notes.append(f"{sum(1 for r in runs if r.status == 'AMBIGUOUS')} left ambiguous")
    return "; ".join(notes)


# ---------------------------------------------------------------------------- report


def table(rows: list[dict], sdk: dict[tuple[str, str], dict]) -> list[str]:
    head = (
        "| scenario | family | N | wall | task | ideal ⌈N/C⌉×task | wall/ideal | vs SDK seq "
        "(goal ≤ 1.2/C) | vs SDK pool (goal ≤ 0.9) | 429s | polls/task | vs SDK polls "
        "(goal ≤ 1/3) | notice median (goal ≤ 10% task) | ok/failed |"
    )
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        seq = sdk.get(("sdk-sequential", r["family"]))
        pool = sdk.get(("sdk-pool", r["family"]))
        is_wb = r["scenario"].startswith("wanbook")
        vs_seq = f"{r['wall'] / seq['wall']:.3f} (≤ {1.2 / r['c']:.2f})" if is_wb and seq else ""
        vs_pool = f"{r['wall'] / pool['wall']:.3f}" if is_wb and pool else ""
        vs_polls = f"{r['polls'] / pool['polls']:.2f}" if is_wb and pool else ""
        out.append(
            f"| {r['scenario']} | {r['family']} {r['model']} | {r['n']} | {r['wall']:.1f} s | "
            f"{r['task']:.2f} s | {r['ideal']:.1f} s | {r['wall'] / r['ideal']:.3f} | {vs_seq} | "
            f"{vs_pool} | {r['throttled']} | {r['polls']:.2f} | {vs_polls} | "
            f"{r['notice']:.3f} s ({100 * r['notice'] / r['task']:.1f}%) | "
            f"{r['ok']}/{r['failed']} |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="tasks per family (default 40)")
    parser.add_argument("--time-scale", type=float, default=1 / 20, help="emulator time scale")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--skip-sequential", action="store_true", help="(quick look) no SDK seq")
    args = parser.parse_args()

    import dashscope

    started = time.time()
    home = Path(tempfile.mkdtemp(prefix="wanbook-bench-batch-"))
    session = wb.Session(home=home, quiet=True, emulator_options={"time_scale": args.time_scale})
    base_url = session.endpoint()  # starts the embedded emulator: one emulator for every client
    emulator = session._emulator
    dashscope.base_http_api_url = base_url
    recorder = Recorder(emulator.service)
    folder = home / "sdk-videos"
    folder.mkdir()
    n = args.n

    def wanbook_job(label: str, model: str, params: dict, _: dict) -> dict:
        return run_wanbook(session, model, params, n)

    def sdk_seq(label: str, model: str, _: dict, kwargs: dict) -> dict:
        return run_sdk(model, kwargs, n, 1, folder)

    def sdk_pool(label: str, model: str, _: dict, kwargs: dict) -> dict:
        return run_sdk(model, kwargs, n, catalogue().get(model).rate_in_flight, folder)

    rows: list[dict] = []
    rows += scenario("wanbook", recorder, n, wanbook_job)
    print(f"wanbook done ({time.time() - started:.0f} s)", file=sys.stderr)
    if not args.skip_sequential:
        rows += scenario("sdk-sequential", recorder, n, sdk_seq)
        print(f"sdk sequential done ({time.time() - started:.0f} s)", file=sys.stderr)
    rows += scenario("sdk-pool", recorder, n, sdk_pool)
    print(f"sdk pool done ({time.time() - started:.0f} s)", file=sys.stderr)
    emulator.faults = Faults(seed=7, task_fail_rate=0.10, lost_response_rate=0.05)
    fault_rows = scenario("wanbook 10% fail, 5% lost", recorder, n, wanbook_job)
    emulator.faults = Faults()
    rows += fault_rows
    sdk = {(r["scenario"], r["family"]): r for r in rows if r["scenario"].startswith("sdk")}
    lines = table(rows, sdk)
    checks = [f"- {r['family']} with faults: {check_faults(r)}" for r in fault_rows]
    session.close()

    total = time.time() - started
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    header = headline(
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; emulator time scale {args.time_scale:.4g} (rate limits on); "
        f"N = {n} per family, both families at once; bench took {total:.0f} s; "
        f"1-min load average {load:.2f} at the end"
    )
    text = "\n".join([header, "", *lines, "", *checks])
    print(text)
    if not args.no_record:
        record("## Batch", text)


if __name__ == "__main__":
    main()
