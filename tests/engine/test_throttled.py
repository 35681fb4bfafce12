"""No 429 is the user's problem: a create answered 429 made no task, so every path sends it again
through the limiter (Retry-After, else backoff with jitter) until the deadline, and only then
fails, NOT_CREATED, saying nothing was created or billed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import wanbook as wb
from tests.engine.test_batch import FAST, Seen, reqs
from tests.fakes import FakeClock
from wanbook._api.retry import RetryPolicy
from wanbook._engine.submit import throttle_pace
from wanbook._errors import RateLimitError
from wanbook._portal import run_sync
from wanbook.emulator import Faults

WAN25 = dict(model="wan2.5-t2v-preview", size="832*480", duration=5, audio=False, seed=3)


def throttled(retry_after: float | None = None) -> RateLimitError:
    return RateLimitError(
        "Requests rate limit exceeded", status_code=429, code="Throttling", retry_after=retry_after
    )


def test_pace_holds_the_group_for_retry_after_else_jittered_backoff_until_the_deadline() -> None:
    clock = FakeClock()
    holds: list[float] = []
    policy = RetryPolicy(base=0.5, cap=8.0, retry_after_cap=60.0)
    pace = throttle_pace(holds.append, policy, deadline=20.0, clock=clock, rng=lambda: 1.0)

    async def main() -> None:
        await pace(throttled(retry_after=3.0), 1)  # the server's word wins
        clock.advance(3.0)
        await pace(throttled(), 2)  # backoff: attempt 1 -> up to 1.0 s (rng 1.0: the ceiling)
        clock.advance(1.0)
        await pace(throttled(), 3)  # 2.0 s
        clock.advance(2.0)
        await pace(throttled(retry_after=30.0), 4)  # 30 s would pass the deadline (at 20 s)

    with pytest.raises(RateLimitError, match="nothing was created or billed") as info:
        asyncio.run(main())
    assert holds == [3.0, 1.0, 2.0]
    assert "after 4 tries over 6 s" in str(info.value)
    assert info.value.status_code == 429


def test_backoff_has_jitter() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0)
    low: list[float] = []
    high: list[float] = []
    for rng, out in ((lambda: 0.0, low), (lambda: 1.0, high)):
        pace = throttle_pace(out.append, policy, deadline=100.0, clock=FakeClock(), rng=rng)
        asyncio.run(pace(throttled(), 4))
    assert low == [2.0] and high == [4.0]  # attempt 3: ceiling 4 s, waits in [2, 4]


def test_generate_absorbs_429s_through_the_limiter() -> None:
    with wb.Session(
        quiet=True, emulator_options={"time_scale": FAST, "faults": Faults(throttle_next=3)}
    ) as s:
        seen = Seen(s)
        run = s.generate("a fox in the snow", **WAN25)
        assert run.status == "SUCCEEDED"
        assert [status for _, status in seen.creates] == [429, 429, 429, 200]
        assert len(seen.tasks()) == 1


def test_generate_still_throttled_at_the_deadline_fails_saying_nothing_was_created() -> None:
    options: dict[str, Any] = {"time_scale": FAST, "faults": Faults(throttle_next=1000)}
    with wb.Session(quiet=True, deadline=2.0, emulator_options=options) as s:
        seen = Seen(s)
        with pytest.raises(RateLimitError, match="nothing was created or billed"):
            s.generate("a fox in the snow", **WAN25)
        (record,) = s.runs().to_dict("records")
        assert record["status"] == "NOT_CREATED" and record["cost"] == 0.0
        assert "nothing was created or billed" in record["error_message"]
        assert len(seen.creates) >= 1 and {st for _, st in seen.creates} == {429}
        assert seen.tasks() == []


def test_batch_still_throttled_at_its_deadline_leaves_runs_not_created() -> None:
    options: dict[str, Any] = {"time_scale": FAST, "faults": Faults(throttle_next=1000)}
    with wb.Session(quiet=True, deadline=2.0, emulator_options=options) as s:

        async def main() -> Any:
            batch = s.batch(reqs(2))
            return await batch.wait(), batch.throttled

        outcomes, count = run_sync(main())
        assert all(isinstance(o.error, RateLimitError) for o in outcomes)
        assert all("nothing was created or billed" in str(o.error) for o in outcomes)
        assert count >= 2
        assert set(s.runs()["status"]) == {"NOT_CREATED"}
