"""The account's limits are shared by everything a session sends on one loop: two batches at once,
a batch next to ``agenerate``; ``await batch``; interrupts; per-loop clients and limiters."""

from __future__ import annotations

import asyncio
import gc
import itertools
from typing import Any

import pytest

import wanbook as wb
from tests.engine.test_batch import Seen, make, reqs
from wanbook._engine.batch import Batch
from wanbook._portal import run_sync

WAN22 = dict(model="wan2.2-t2v-plus", duration=None, audio=None)


def test_two_batches_and_a_single_run_share_the_accounts_limits() -> None:
    """wan2.2 allows 2 per second and 2 in flight per account: the emulator enforces it, so any
    create beyond what the account allows comes back 429. Before the limiter was shared, the
    second batch and the single run each took their own 2/2 ([200, 200, 429, 429, ...])."""
    with make() as s:
        seen = Seen(s)

        async def main() -> tuple[list[Any], list[Any], Any, int]:
            a, b = s.batch(reqs(3, **WAN22)), s.batch(reqs(3, **WAN22))
            one = asyncio.ensure_future(s.agenerate(request=reqs(1, **WAN22)[0]))
            return await a, await b, await one, a.throttled + b.throttled

        first, second, single, throttled = run_sync(main())
        assert all(o.ok for o in first + second) and single.ok
        assert [status for _, status in seen.creates] == [200] * 7 and throttled == 0
        assert seen.max_in_flight() <= 2


def test_the_single_path_holds_its_slot_until_the_task_ended() -> None:
    """A batch limited to one in flight waits for a generate's task to end before sending."""
    with make(1 / 60, rate_limits=False) as s:
        seen = Seen(s)

        async def main() -> Any:
            one = asyncio.ensure_future(s.agenerate(request=reqs(1)[0]))
            while not seen.creates:
                await asyncio.sleep(0.01)
            outcomes = await s.batch(reqs(2), limits={"wan2.5": (5, 1)})
            return await one, outcomes

        single, outcomes = run_sync(main())
        assert single.ok and all(o.ok for o in outcomes)
        assert seen.max_in_flight() == 1


def test_await_a_batch_gives_outcomes_in_input_order() -> None:
    with make(rate_limits=False) as s:

        async def main() -> list[Any]:
            return await s.batch(reqs(3))

        outcomes = run_sync(main())
        assert [o.index for o in outcomes] == [0, 1, 2] and all(o.ok for o in outcomes)


def test_batch_outside_a_loop_says_how_to_use_it() -> None:
    with make() as s, pytest.raises(RuntimeError, match=r"await batch.*Nothing was sent"):
        s.batch(reqs(1))


@pytest.mark.parametrize("how", ["wait", "await", "submit_many", "compare", "async for"])
def test_an_interrupt_stops_sending_and_leaves_created_tasks_to_resume(
    how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with make(1 / 60, rate_limits=False) as s:
        seen = Seen(s)

        async def main() -> None:
            if how == "compare":
                runner = asyncio.ensure_future(
                    wb.acompare(
                        "a fox",
                        ["wan2.5-t2v-preview"],
                        seeds=[1, 2, 3],
                        session=s,
                        size="832*480",
                        duration=5,
                        audio=False,
                        progress=False,
                    )
                )
            else:
                requests = reqs(3)
                if how == "submit_many":
                    runner = asyncio.ensure_future(
                        s.asubmit_many(requests, limits={"wan2.5": (5, 1)})
                    )
                else:
                    batch = s.batch(requests, limits={"wan2.5": (5, 1)})
                    ways = {"wait": batch.wait, "await": lambda: _awaited(batch)}
                    runner = asyncio.ensure_future(ways.get(how, lambda: _streamed(batch))())
            while not s.runs()["task_id"].notna().any():  # a task created and logged
                await asyncio.sleep(0.01)
            runner.cancel()
            with pytest.raises(asyncio.CancelledError):
                await runner
            await asyncio.sleep(1.0)  # a create already on its way when interrupted is counted
            sent.append(len(seen.creates))  # (the spy counts a create once it was answered)
            await asyncio.sleep(1.5)  # long enough for a task followed in the background to end

        sent: list[int] = []
        run_sync(main())
        assert len(seen.creates) == sent[0]  # nothing sent after the interrupt
        statuses = set(s.runs()["status"])
        assert statuses <= {"PENDING", "RUNNING", "AMBIGUOUS", "NOT_CREATED"}  # not followed
        err = capsys.readouterr().err
        assert err.count("wanbook: batch interrupted") == 1 and "wb.resume()" in err
        s.resume(list_grace=0)
        runs = s.runs()
        assert set(runs["status"]) <= {"SUCCEEDED", "NOT_CREATED"}
        assert runs["task_id"].notna().sum() == len(seen.tasks()) >= 1


async def _awaited(batch: Batch) -> list[Any]:
    return await batch


async def _streamed(batch: Batch) -> list[Any]:
    return [outcome async for outcome in batch]


def test_a_cancel_before_the_create_was_sent_is_not_created() -> None:
    """Cancelled while waiting at the create gate (here: for a submission token), nothing was
    sent: the run is NOT_CREATED at once, not AMBIGUOUS."""
    with make(rate_limits=False) as s:

        async def main() -> None:
            limit = s.limiter().for_spec(reqs(1)[0] and _spec())
            limit.rate.hold(3600)  # no token for an hour
            one = asyncio.ensure_future(s.agenerate(request=reqs(1)[0]))
            while not len(s.runs()):  # logged (PREPARED: "sent" is written only as it goes out)
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # at the gate, waiting for the token (or not yet: either way
            assert s.runs()["status"].iloc[0] == "PREPARED"  # nothing was sent)
            one.cancel()
            with pytest.raises(asyncio.CancelledError):
                await one

        run_sync(main())
        (status,) = s.runs()["status"]
        assert status == "NOT_CREATED"


def _spec() -> Any:
    from wanbook._spec.catalogue import catalogue

    return catalogue().get("wan2.5-t2v-preview")


def test_clients_and_limiters_of_finished_loops_are_dropped() -> None:
    """30 ``asyncio.run`` calls: each loop gets its own client (never a dead loop's client whose
    id was reused), and those of finished loops are not kept."""
    with make() as s:
        s.endpoint()

        async def touch() -> tuple[Any, int, int]:
            client, _ = s.client(), s.limiter()
            return client, len(s._clients), len(s._limiters)

        seen = [asyncio.run(touch()) for _ in range(30)]
        gc.collect()
        assert len({id(client) for client, _, _ in seen}) == 30  # all alive: ids are distinct
        assert max(n for _, n, _ in seen) <= 2 and max(n for _, _, n in seen) <= 2


def test_tokens_are_taken_at_sending_so_a_search_does_not_bunch_the_sends() -> None:
    """While a search holds the create gate, nothing is sent; the submission tokens are taken
    after it, just before each send, so the sends keep the pace (1 per second here). Before,
    tokens taken while waiting at the gate let all the delayed sends out at once."""
    from wanbook._api.pacing import create_gate

    with make(rate_limits=False) as s:
        seen = Seen(s)

        async def main() -> list[Any]:
            gate = create_gate(s.client())

            async def search() -> None:
                async with gate.searching():
                    await asyncio.sleep(2.2)

            searching = asyncio.ensure_future(search())
            await asyncio.sleep(0.05)
            outcomes = await s.batch(reqs(3), limits={"wan2.5": (1, 3)})
            await searching
            return outcomes

        outcomes = run_sync(main())
        assert all(o.ok for o in outcomes)
        arrivals = sorted(t for t, _ in seen.creates)
        assert all(b - a >= 0.95 for a, b in itertools.pairwise(arrivals)), arrivals
