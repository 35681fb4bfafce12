"""Following a task through a flaky query endpoint, and what the run log says at the end.

A scripted service (``httpx.MockTransport``) answers each query from a list; the tracker and the
client share a fake clock whose ``sleep`` only moves it, so nothing here waits for real time and
nothing depends on this machine's speed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

import wanbook as wb
from tests.conftest import TEST_API_KEY
from tests.fakes import FakeClock
from wanbook._api.client import Client
from wanbook._api.retry import RetryPolicy
from wanbook._api.watch import OUTAGE_CAP, outage_wait
from wanbook._engine.prepare import prepare
from wanbook._engine.tracker import Tracker
from wanbook._runlog.store import RunLog
from wanbook._spec.prices import PriceTable

BASE = "http://svc.test/api/v1"
VIDEO_URL = "http://oss.test/result.mp4?Expires=1&Signature=x"
T2V = dict(model="wan2.2-t2v-plus", size="832*480", seed=7, prompt_extend=False)


def _tiny_mp4(path: Path) -> bytes:
    """A 4-frame silent H.264 MP4 (what a download must verify)."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(8))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), "rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path.read_bytes()


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _tiny_mp4(tmp_path_factory.mktemp("mp4") / "v.mp4")


def task(status: str, **output: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request_id": "req-1",
        "output": {"task_id": "t-1", "task_status": status, **output},
    }
    if status == "SUCCEEDED":
        body["output"].setdefault("video_url", VIDEO_URL)
        body["usage"] = output.pop("usage", None) or {"video_duration": 5, "video_ratio": "832*480"}
        body["output"].pop("usage", None)
    return body


# A scripted query answer: a task body, an HTTP status (with a DashScope error body), or an
# httpx exception class (no HTTP answer at all).
Answer = dict[str, Any] | int | type[Exception]
ERROR_CODES = {
    400: "InvalidParameter",
    401: "InvalidApiKey",
    429: "Throttling",
    500: "InternalError",
    503: "ServiceUnavailable",
}


class Service:
    """Answers queries from a script (its last answer repeats) and serves the video."""

    def __init__(self, script: list[Answer], mp4: bytes) -> None:
        self.script, self.mp4 = script, mp4
        self.queries = 0
        self.lists = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "oss.test":

            async def chunks() -> AsyncIterator[bytes]:  # streamed, as a real download is
                yield self.mp4

            headers = {"Content-Type": "video/mp4", "Content-Length": str(len(self.mp4))}
            return httpx.Response(200, content=chunks(), headers=headers)
        if request.url.path.rstrip("/").endswith("/tasks"):
            self.lists += 1
            return httpx.Response(200, json={"data": [], "total": 0, "page_no": 1})
        answer = self.script[min(self.queries, len(self.script) - 1)]
        self.queries += 1
        if isinstance(answer, dict):
            return httpx.Response(200, json=answer)
        if isinstance(answer, int):
            if answer == 502:  # a gateway's page, no DashScope body
                return httpx.Response(502, text="<html>Bad Gateway</html>")
            error = {"code": ERROR_CODES[answer], "message": "scripted", "request_id": "r"}
            return httpx.Response(answer, json=error)
        raise answer("scripted", request=request)


class Rig:
    """A run log, a tracker and a client over a scripted service, on one fake clock."""

    def __init__(self, tmp_path: Path, script: list[Answer], mp4: bytes, **tracker: Any) -> None:
        self.time = FakeClock(start=1000.0)
        self.service = Service(script, mp4)
        self.log = RunLog.open(tmp_path / "home")
        self.prices = PriceTable.load()
        self.tracker = Tracker(
            log=self.log,
            prices=self.prices,
            region="intl",
            backend="intl",
            endpoint=BASE,
            version="test",
            videos=tmp_path / "home" / "videos",
            clock=self.time,
            sleep=self.time.sleep,
            **tracker,
        )
        self.client = Client(
            BASE,
            TEST_API_KEY,
            transport=httpx.MockTransport(self.service),
            retry=RetryPolicy(max_retries=1, base=0.5, cap=1.0),
            sleep=self.time.sleep,
            clock=self.time,
        )

    def run(self, status: str = "PENDING", **request: Any) -> str:
        prep = prepare(
            wb.Request(prompt="a fox", **{**T2V, **request}), "intl", self.prices, backend="intl"
        )
        run_id = self.tracker.start(prep, None, [])
        self.log.update(run_id, status=status, task_id="t-1", submitted_at=datetime.now(UTC))
        return run_id

    def follow(self, run_id: str, deadline: float = 3600.0) -> wb.Run:
        async def go() -> wb.Run:
            async with self.client:
                return await self.tracker.follow(self.client, run_id, "t-1", deadline=deadline)

        return asyncio.run(go())

    def resume(self, run_id: str) -> wb.Run:
        async def go() -> wb.Run:
            async with self.client:
                record = self.log.get(run_id)
                assert record is not None
                return await self.tracker.resume(self.client, record, deadline=3600.0)

        return asyncio.run(go())


@pytest.fixture
def rig(tmp_path: Path, mp4: bytes) -> Iterator[Any]:
    made: list[Rig] = []

    def make(script: list[Answer], **tracker: Any) -> Rig:
        made.append(Rig(tmp_path, script, mp4, **tracker))
        return made[-1]

    yield make
    for r in made:
        r.log.close()


# ---------------------------------------------------------------- 1. transient query failures

TRANSIENT: list[Answer] = [500, 502, 503, 429, httpx.ConnectError, httpx.ReadTimeout]


@pytest.mark.parametrize("failure", TRANSIENT, ids=lambda f: getattr(f, "__name__", str(f)))
def test_query_outages_are_waited_out_not_given_up(rig: Any, failure: Answer) -> None:
    # each outage outlasts the client's own retries (2 attempts per query) several times over
    outage = [failure] * 6
    r = rig([*outage, task("PENDING"), *outage, task("RUNNING"), *outage, task("SUCCEEDED")])
    run_id = r.run()
    run = r.follow(run_id)
    assert run.status == "SUCCEEDED" and Path(run.video_path).is_file()
    assert run.cost == pytest.approx(0.02 * 5)
    assert r.service.queries == 21  # nothing skipped, nothing more
    assert r.time.now - 1000.0 < 3600.0  # well inside the deadline


def test_an_outage_backs_off_up_to_a_cap(rig: Any) -> None:
    r = rig([503] * 40 + [task("SUCCEEDED")])
    run = r.follow(r.run())
    assert run.status == "SUCCEEDED"
    waits = [outage_wait(n) for n in range(1, 12)]
    assert waits[:4] == [2.0, 4.0, 8.0, 16.0] and waits[-1] == OUTAGE_CAP
    assert max(r.time.sleeps) <= OUTAGE_CAP
    assert outage_wait(1, retry_after=30.0) == 30.0  # the server's Retry-After wins


def test_an_outage_past_the_deadline_times_out_and_leaves_the_run_for_resume(rig: Any) -> None:
    r = rig([task("PENDING"), *[httpx.ConnectError] * 1000])
    run_id = r.run()
    with pytest.raises(wb.TaskTimeoutError, match="queries failed") as info:
        r.follow(run_id, deadline=600.0)
    assert "still PENDING" in str(info.value)
    record = r.log.get(run_id)
    assert record["status"] == "PENDING" and "wanbook resume" in record["error_message"]
    assert 600.0 <= r.time.now - 1000.0 < 700.0
    assert r.service.queries < 2 * 30  # backed off: about one query a minute at the end


@pytest.mark.parametrize(
    ("status", "error"), [(401, wb.AuthenticationError), (400, wb.BadRequestError)]
)
def test_errors_that_asking_again_cannot_cure_are_raised_at_once(
    rig: Any, status: int, error: type[Exception]
) -> None:
    r = rig([task("PENDING"), status, task("SUCCEEDED")])
    run_id = r.run()
    with pytest.raises(error):
        r.follow(run_id)
    assert r.service.queries == 2
    assert r.log.get(run_id)["status"] == "PENDING"


# ---------------------------------------------------------------- 2. cost with the final status


def test_the_cost_is_written_with_the_final_status(rig: Any) -> None:
    r = rig([task("SUCCEEDED")])
    run_id = r.run()
    seen: list[dict[str, Any]] = []
    r.tracker.on_update = lambda run: seen.append(run.record)
    r.follow(run_id)
    first_succeeded = next(s for s in seen if s["status"] == "SUCCEEDED")
    assert first_succeeded["video_path"] is None  # before the download …
    assert first_succeeded["cost"] == pytest.approx(0.10)  # … the cost is already known
    assert first_succeeded["currency"] == "USD"


# ---------------------------------------------------------------- 7. cost from usage


@pytest.mark.parametrize(
    ("request_params", "usage", "billed", "per_second"),
    [
        # the service billed 3 s of a 5 s request: usage decides, not the request
        ({}, {"video_duration": 3, "video_ratio": "832*480", "video_count": 1}, 3.0, 0.02),
        # wan2.6 bills input + output video (`duration`), more than the requested 5 s
        (
            {"model": "wan2.6-t2v", "size": "1280*720", "duration": 5},
            {"duration": 8, "input_video_duration": 3, "output_video_duration": 5, "SR": 720},
            8.0,
            0.10,
        ),
        # a tier in usage other than the one asked for is priced at usage's tier
        ({}, {"video_duration": 5, "SR": 1080}, 5.0, 0.10),
    ],
)
def test_cost_is_price_times_the_seconds_usage_bills(
    rig: Any, request_params: dict, usage: dict, billed: float, per_second: float
) -> None:
    r = rig([task("SUCCEEDED", usage=usage)])
    run = r.follow(r.run(**request_params))
    assert run.billed_seconds == billed
    assert run.cost == pytest.approx(per_second * billed)
    assert run.price_per_second == pytest.approx(per_second)


# ---------------------------------------------------------------- 5. never "free" by mistake


def test_a_known_task_the_service_no_longer_knows_is_expired_not_free(rig: Any) -> None:
    r = rig([task("PENDING"), task("UNKNOWN")])
    run = r.follow(r.run())
    assert run.status == "EXPIRED"
    assert run.cost is None or math.isnan(run.cost)
    assert "may have been billed" in run.record["error_message"]


def _age(r: Rig, run_id: str, hours: float, **fields: Any) -> None:
    then = datetime.now(UTC) - timedelta(hours=hours)
    r.log.update(run_id, created_at=then, submitted_at=then, **fields)


@pytest.mark.parametrize("status", ["SUBMITTING", "AMBIGUOUS"])
def test_an_old_ambiguous_create_is_expired_with_cost_unknown(rig: Any, status: str) -> None:
    r = rig([task("SUCCEEDED")])
    run_id = r.run()
    _age(r, run_id, 25, status=status, task_id=None)
    run = r.resume(run_id)
    assert run.status == "EXPIRED" and run.record["cost"] is None
    assert "may have been billed" in run.record["error_message"]
    assert r.service.lists == 0 and r.service.queries == 0  # the age is checked first


@pytest.mark.parametrize(
    ("status", "task_id", "final", "cost"),
    [
        ("PREPARED", None, "NOT_CREATED", 0.0),  # never sent: free, whatever its age
        ("PENDING", "t-1", "EXPIRED", None),  # the outcome is lost: unknown
        ("SUCCEEDED", "t-1", "EXPIRED", 0.10),  # priced when it ended: kept
    ],
)
def test_old_runs_by_status(
    rig: Any, status: str, task_id: str | None, final: str, cost: float | None
) -> None:
    r = rig([task("SUCCEEDED")])
    run_id = r.run()
    extra = {"cost": 0.10, "currency": "USD"} if status == "SUCCEEDED" else {}
    _age(r, run_id, 30, status=status, task_id=task_id, **extra)
    run = r.resume(run_id)
    assert run.status == final
    assert run.record["cost"] == (pytest.approx(cost) if cost is not None else None)
    assert r.service.queries == 0


# ---------------------------------------------------------------- 10. last_polled_at


class EverySecond:
    """A poll schedule of one-second waits (the tracker's PollPlan interface)."""

    observed = False

    def observe(self, task: Any) -> None:
        pass

    def __iter__(self) -> EverySecond:
        return self

    def __next__(self) -> float:
        return 1.0


def test_last_polled_at_is_noted_but_not_on_every_poll(rig: Any) -> None:
    r = rig([task("PENDING")] * 60 + [task("SUCCEEDED")])
    run_id = r.run()
    notes: list[Any] = []
    update = r.log.update

    def counting(rid: str, /, **fields: Any) -> None:
        if set(fields) == {"last_polled_at"}:
            notes.append(fields["last_polled_at"])
        update(rid, **fields)

    r.log.update = counting  # type: ignore[method-assign]

    async def go() -> None:
        async with r.client:
            await r.tracker.follow(r.client, run_id, "t-1", deadline=3600.0, poll=EverySecond())

    asyncio.run(go())
    assert 4 <= len(notes) <= 7  # 60 same answers a second apart: one note per ~10 s
    record = r.log.get(run_id)
    assert datetime.fromisoformat(record["last_polled_at"]) >= notes[-1]  # with the last status


# ---------------------------------------------------------------- 11. a callback that raises


def test_an_on_update_that_raises_does_not_orphan_the_task(
    rig: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def boom(run: wb.Run) -> None:
        calls.append(run.status)
        raise RuntimeError("widget gone")

    r = rig([task("PENDING"), task("RUNNING"), task("SUCCEEDED")], on_update=boom)
    with caplog.at_level(logging.ERROR, logger="wanbook.tracking"):
        run = r.follow(r.run())
    assert run.status == "SUCCEEDED" and Path(run.video_path).is_file()
    assert len(calls) > 3  # still called at every step
    errors = [rec for rec in caplog.records if "on_update" in rec.getMessage()]
    assert len(errors) == 1 and run.run_id in errors[0].getMessage()  # once per run
