"""The batch engine: limits (measured on the emulator's side), 429s, deadline, cancellation,
streaming, partial failures and lost responses."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import wanbook as wb
from tests.fakes import FakeClock
from wanbook._api.pacing import CreateGate, RateWindow, group_of, limits_for
from wanbook._engine.batch import Batch, Outcome
from wanbook._errors import BatchCancelled
from wanbook._portal import run_sync
from wanbook.emulator import Faults

FAST = 1 / 600  # a 5 s 480P task takes about 0.1 s (plus its render, shared by equal requests)
WAN25 = dict(model="wan2.5-t2v-preview", size="832*480", duration=5, audio=False, seed=3)
WAN22 = dict(model="wan2.2-t2v-plus", size="832*480", seed=3)


def reqs(n: int, **params: Any) -> list[wb.Request]:
    base = {**WAN25, "prompt_extend": False, **params}
    return [wb.Request(prompt="a fox in the snow", **base) for _ in range(n)]


class Seen:
    """What the emulator received: create arrival times (and answers) per model family."""

    def __init__(self, session: wb.Session) -> None:
        session.endpoint()
        self.emulator = session._emulator
        self.service = self.emulator.service
        self.creates: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        handle = self.service.handle

        def spy(method: str, path: str, *rest: Any) -> Any:
            arrived = time.monotonic()
            reply = handle(method, path, *rest)
            if path.rstrip("/").endswith("/video-synthesis"):
                with self._lock:
                    self.creates.append((arrived, reply.status))
            return reply

        self.service.handle = spy

    def tasks(self) -> list[Any]:
        return list(self.service.store._tasks.values())

    def max_in_flight(self) -> int:
        """The most tasks PENDING or RUNNING at once, from the tasks' own submit and end times."""
        now = time.time()
        edges = []
        for t in self.tasks():
            edges += [(t.submit, 1), (t.end_time(now) or now, -1)]
        peak = busy = 0
        for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
            busy += step
            peak = max(peak, busy)
        return peak


@pytest.fixture
def session() -> Iterator[wb.Session]:
    with wb.Session(quiet=True, emulator_options={"time_scale": FAST, "rate_limits": False}) as s:
        yield s


def make(time_scale: float = FAST, **options: Any) -> wb.Session:
    return wb.Session(quiet=True, emulator_options={"time_scale": time_scale, **options})


async def collect(batch: Batch) -> list[Outcome]:
    return [o async for o in batch]


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(
    ("models", "overrides", "want"),
    [
        (["wan2.5-t2v-preview"], None, {"wan2.5/wan2.6": (5, 5)}),
        (["wan2.5-t2v-preview", "wan2.6-t2v"], None, {"wan2.5/wan2.6": (5, 5)}),  # one group
        (["wan2.2-t2v-plus", "wan2.1-t2v-turbo"], None, {"wan2.1/wan2.2": (2, 2)}),
        (["wan2.2-t2v-plus"], {"wan2.1": (4, 3)}, {"wan2.1/wan2.2": (4, 3)}),  # family sets group
        (["wan2.2-t2v-plus"], {"wan2.1/wan2.2": (1, 1)}, {"wan2.1/wan2.2": (1, 1)}),
        (["wan2.2-t2v-plus"], {"wan2.6": (9, 9)}, {"wan2.1/wan2.2": (2, 2)}),  # unused group
        (
            ["wan2.6-t2v", "wan2.1-t2v-turbo"],
            None,
            {"wan2.5/wan2.6": (5, 5), "wan2.1/wan2.2": (2, 2)},
        ),
    ],
)
def test_limits_for(models: list[str], overrides: Any, want: dict) -> None:
    assert limits_for([_spec(m) for m in models], overrides) == want


def _spec(name: str) -> Any:
    from wanbook._spec.catalogue import catalogue

    return catalogue().get(name)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"wan2.2": (0, 1)}, "two whole numbers >= 1"),
        ({"wan2.2": (1,)}, "two whole numbers >= 1"),
        ({"wan2.2": "fast"}, "two whole numbers >= 1"),
        ({"wan2.5": (5, 5), "wan2.6": (4, 4)}, "disagree"),
    ],
)
def test_limits_for_refuses_bad_overrides(overrides: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        limits_for([_spec("wan2.2-t2v-plus"), _spec("wan2.5-t2v-preview")], overrides)


def test_group_of() -> None:
    assert group_of("wan2.5") == group_of("wan2.6") == group_of("wan2.7") == "wan2.5/wan2.6"
    assert group_of("wan9") == "wan9"


def test_rate_window_on_a_virtual_clock() -> None:
    """Never more than R acquisitions in any period, even with a hold in the middle."""
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    async def main() -> list[float]:
        window = RateWindow(3, clock=lambda: now[0], sleep=sleep, margin=0.02)
        times = [await window.acquire() for _ in range(7)]
        window.hold(5.0)
        times += [await window.acquire() for _ in range(4)]
        return times

    times = asyncio.run(main())
    assert times[:3] == [0.0, 0.0, 0.0] and times[3] == pytest.approx(1.02)
    for i in range(len(times) - 3):
        assert times[i + 3] - times[i] >= 1.0  # any 3 apart span at least a second
    assert times[7] >= times[6] + 5.0  # the hold


def test_create_gate_lets_a_search_wait_for_creates_in_flight() -> None:
    async def main() -> list[str]:
        gate, events = CreateGate(), []

        async def create(name: str, seconds: float, model: str = "m") -> None:
            async with gate.creating(model):
                events.append(f"{name} sent")
                await asyncio.sleep(seconds)
                events.append(f"{name} logged")

        async def search() -> None:
            await asyncio.sleep(0.01)
            async with gate.searching():
                events.append("search")

        async def late_create() -> None:
            await asyncio.sleep(0.02)
            await create("c", 0)

        await asyncio.gather(
            create("a", 0.05),
            create("b", 0.03),
            create("x", 0.03, "other"),
            search(),
            late_create(),
        )
        return events

    events = asyncio.run(main())
    assert events[:2] == ["a sent", "x sent"]  # one model's creates take turns; others do not wait
    assert events.index("search") > events.index("a logged")
    assert events.index("search") > events.index("x logged")
    assert events.index("b sent") > events.index("search")  # new creates wait for the search
    assert events.index("c sent") > events.index("search")


# ------------------------------------------------------------------ against the emulator


def test_never_more_than_r_per_second_nor_c_in_flight(session: wb.Session) -> None:
    """The emulator enforces nothing here (rate_limits off): the limits are wanbook's own."""
    seen = Seen(session)
    outcomes = session.submit_many(
        reqs(7, model="wan2.2-t2v-plus", duration=None, audio=None), limits={"wan2.2": (3, 2)}
    )
    assert [o.ok for o in outcomes] == [True] * 7
    arrivals = sorted(t for t, _ in seen.creates)
    assert len(arrivals) == 7
    for i in range(len(arrivals) - 3):
        assert arrivals[i + 3] - arrivals[i] >= 0.95, arrivals  # any 4 creates span > 1 s
    assert seen.max_in_flight() == 2


def test_groups_share_one_limit(session: wb.Session) -> None:
    seen = Seen(session)
    mixed = reqs(2) + reqs(2, model="wan2.6-t2v", size="1280*720")
    outcomes = session.submit_many(mixed, limits={"wan2.6": (5, 2)})
    assert all(o.ok for o in outcomes)
    assert seen.max_in_flight() == 2  # wan2.5 and wan2.6 together


def test_429s_are_absorbed_without_losing_or_doubling_a_task() -> None:
    with make(faults=Faults(throttle_next=4)) as s:
        seen = Seen(s)

        async def main() -> tuple[list[Outcome], int]:
            batch = s.batch(reqs(3))
            return await batch.wait(), batch.throttled

        outcomes, throttled = run_sync(main())
        assert all(o.ok for o in outcomes) and throttled == 4
        assert sorted(status for _, status in seen.creates) == [200] * 3 + [429] * 4
        assert len(seen.tasks()) == 3
        assert set(s.runs()["status"]) == {"SUCCEEDED"}


def test_the_limits_of_the_account_give_no_429() -> None:
    """With the emulator's own limits on, a batch paced by the catalogue provokes none."""
    with make() as s:
        seen = Seen(s)
        outcomes = s.submit_many(reqs(5, model="wan2.2-t2v-plus", duration=None, audio=None))
        assert all(o.ok for o in outcomes)
        assert [status for _, status in seen.creates] == [200] * 5


def test_deadline_stops_sending_and_waiting() -> None:
    """On a frozen emulator clock the first task never ends by itself, so its slot (one in
    flight) is never freed: the two others wait until the deadline and are never sent. The
    deadline only has to outlast one loopback create (a few ms; 3 s of margin)."""
    clock = FakeClock()
    with make(1 / 60, clock=clock) as s:
        seen = Seen(s)
        outcomes = s.submit_many(reqs(3), limits={"wan2.5": (5, 1)}, deadline=3.0)
        first, *rest = outcomes
        assert isinstance(first.error, wb.TaskTimeoutError) and first.run is not None
        assert first.run.status in ("PENDING", "RUNNING") and first.run.task_id
        for o in rest:
            assert isinstance(o.error, wb.TaskTimeoutError) and o.run is None
            assert "nothing was created" in str(o.error)
        assert len(seen.tasks()) == 1
        clock.advance(60)  # the task ends (its video once rendered); ids last 24 min at 1/60
        (resumed,) = s.resume()  # the one task created is finished later
        assert resumed.ok


def test_cancel_sends_nothing_more_and_finishes_what_was_created() -> None:
    with make(1 / 60) as s:
        seen = Seen(s)

        async def main() -> tuple[list[Outcome], Batch]:
            batch = s.batch(reqs(4), limits={"wan2.5": (5, 1)})
            while batch.started < 1:
                await asyncio.sleep(0.01)
            batch.cancel()
            return await batch.wait(), batch

        outcomes, batch = run_sync(main())
        assert outcomes[0].ok and outcomes[0].run.video.is_file()
        for o in outcomes[1:]:
            assert isinstance(o.error, BatchCancelled) and o.run is None
        assert (batch.started, batch.finished, batch.failed) == (1, 4, 3)
        assert len(seen.tasks()) == 1 and len(s.runs()) == 1


def test_outcomes_stream_in_completion_order_and_wait_in_input_order() -> None:
    # At 1/60 a 5 s 480P task takes about 1.1 s and a 10 s 720P one about 2.5 s: a margin far
    # above render time and polling slack on a loaded machine (at FAST both are render-bound).
    slow = reqs(1, duration=10, size="1280*720")
    requests = slow + reqs(3)

    async def main(s: wb.Session) -> tuple[list[Outcome], list[Outcome]]:
        batch = s.batch(requests)
        streamed = await collect(batch)
        return streamed, await batch.wait()

    with make(1 / 60, rate_limits=False) as s:
        streamed, ordered = run_sync(main(s))
    assert [o.index for o in ordered] == [0, 1, 2, 3]
    assert sorted(o.index for o in streamed) == [0, 1, 2, 3] and streamed[-1].index == 0
    ends = [o.run.finished_at for o in streamed]
    assert ends == sorted(ends)
    assert all(o.request is requests[o.index] for o in ordered)


def test_partial_failures_do_not_stop_the_rest() -> None:
    with make(faults=Faults(seed=1, task_fail_rate=0.5, task_fail_code="InternalError")) as s:
        seen = Seen(s)
        outcomes = s.submit_many(reqs(6))
        failed = [o for o in outcomes if not o.ok]
        assert 0 < len(failed) < 6
        for o in failed:
            assert isinstance(o.error, wb.TaskFailedError) and o.error.code == "InternalError"
            assert o.run.status == "FAILED" and o.run.cost == 0.0
        assert len(failed) == sum(1 for t in seen.tasks() if t.fail is not None)
        assert all(o.run.video.is_file() for o in outcomes if o.ok)


@pytest.mark.parametrize("seed", [2, 5, 8])
def test_lost_create_answers_make_no_duplicate_and_no_swap(seed: int) -> None:
    with make(faults=Faults(seed=seed, lost_response_rate=0.4)) as s:
        seen = Seen(s)
        statuses: list[str] = []
        requests = [r.replace(prompt=f"fox number {i}") for i, r in enumerate(reqs(6))]
        outcomes = s.submit_many(requests, on_update=lambda run: statuses.append(run.status))
        assert all(o.ok for o in outcomes)
        assert "AMBIGUOUS" in statuses
        task_ids = [o.run.task_id for o in outcomes]
        assert len(set(task_ids)) == 6 == len(seen.tasks())
        for o in outcomes:  # each run has its own request's task, not a sibling's
            assert s._emulator.service.store.get(o.run.task_id).orig_prompt == o.request.prompt


def test_invalid_requests_are_named_by_index_and_nothing_is_sent(session: wb.Session) -> None:
    seen = Seen(session)
    bad = [
        *reqs(1),
        wb.Request(model="wan2.2-t2v-plus", prompt="x", size="1*1"),
        *reqs(1),
        wb.Request(model="wan2.5-t2v-preview", prompt="x", duration=7),
    ]
    with pytest.raises(wb.ValidationError) as info:
        session.submit_many(bad)
    assert info.value.fields == ["[1].size", "[3].duration"]
    assert "batch requests 1, 3" in str(info.value)
    assert seen.creates == [] and len(session.runs()) == 0
    with pytest.raises(TypeError, match="list of wanbook.Request"):
        session.submit_many(reqs(1)[0])  # type: ignore[arg-type]


def test_the_budget_covers_the_whole_batch() -> None:
    with wb.Session(quiet=True, budget=0.25, emulator_options={"time_scale": FAST}) as s:
        seen = Seen(s)
        with pytest.raises(wb.BudgetExceededError, match="these 6 runs are estimated"):
            s.submit_many(reqs(6, model="wan2.2-t2v-plus", duration=None, audio=None))
        assert seen.creates == []


def test_batch_needs_a_running_loop(session: wb.Session) -> None:
    with pytest.raises(RuntimeError, match="submit_many"):
        session.batch(reqs(1))


def test_module_api_and_the_single_path_poll_rarely(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted once the video is rendered (equal requests share the file): a task's end is then
    set by the emulator's pace alone, not by how fast this machine renders."""
    import wanbook._engine.default_session

    monkeypatch.setattr(wanbook._engine.default_session, "_default", None)
    default = wb.session(quiet=True, emulator_options={"time_scale": 1 / 60})
    try:
        seen = Seen(default)
        assert wb.generate(request=reqs(1)[0]).ok  # renders the file the next two share
        queries = []
        handle = seen.service.handle

        def count(method: str, path: str, *rest: Any) -> Any:
            if method == "GET" and "/tasks/" in path:
                queries.append(path)
            return handle(method, path, *rest)

        seen.service.handle = count
        (outcome,) = wb.submit_many(reqs(1))
        assert outcome.ok
        run = wb.generate(request=reqs(1)[0])
        assert run.ok
        assert len(queries) <= 4  # one or two queries per task, not a poll every second
    finally:
        default.close()
