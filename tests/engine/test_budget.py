"""The budget: what it counts (this session's runs and reservations, not the log's history), the
refusals (unknown price, another currency), and the batch's reservation against a race."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import wanbook as wb
from wanbook._portal import run_sync

FAST = 1 / 600
WAN22 = dict(model="wan2.2-t2v-plus", size="832*480", prompt_extend=False, seed=3)


def req(**params: Any) -> wb.Request:
    return wb.Request(prompt="a fox in the snow", **{**WAN22, **params})


def make(**kwargs: Any) -> wb.Session:
    options = {"time_scale": FAST, **kwargs.pop("emulator_options", {})}
    return wb.Session(quiet=True, emulator_options=options, **kwargs)


def test_history_before_the_session_is_not_counted() -> None:
    with make() as old:
        old.log.insert(
            status="SUCCEEDED",
            backend=old.backend,
            model="wan2.2-t2v-plus",
            cost=100.0,
            currency="USD",
            estimate=100.0,
            estimate_currency="USD",
        )
        old.log.insert(
            status="PENDING",
            backend=old.backend,
            model="wan2.2-t2v-plus",
            estimate=50.0,
            estimate_currency="USD",
        )  # someone else's, in flight
    with make(budget=0.25) as s:
        assert s.budget_left() == pytest.approx(0.25)
        run = s.generate(request=req())
        assert run.ok and run.cost == pytest.approx(0.10)
        assert s.budget_left() == pytest.approx(0.15)  # its own run counts
        with pytest.raises(wb.BudgetExceededError, match="0.1000 is spent"):
            s.submit_many([req(), req()])


def test_another_session_on_the_same_log_is_not_counted() -> None:
    with make(budget=0.15) as a, make(budget=0.15) as b:
        assert a.generate(request=req()).ok
        assert b.budget_left() == pytest.approx(0.15)
        assert b.generate(request=req()).ok
        with pytest.raises(wb.BudgetExceededError):
            a.generate(request=req())


@pytest.mark.filterwarnings("ignore::wanbook._spec.prices.UnknownPriceWarning")
def test_refused_when_the_price_is_unknown(tmp_path: Path) -> None:
    table = tmp_path / "prices.csv"
    shipped = (Path(wb.__file__).parent / "data" / "prices.csv").read_text("utf-8")
    keep = [line for line in shipped.splitlines() if not line.startswith("wan2.2-t2v-plus,")]
    table.write_text("\n".join(keep) + "\n", "utf-8")
    with make(budget=10, prices=table) as s:
        with pytest.raises(wb.BudgetExceededError, match="price of wan2.2-t2v-plus .* unknown"):
            s.generate(request=req())
        with pytest.raises(wb.BudgetExceededError, match="unknown"):
            s.submit_many([req(), req(model="wan2.5-t2v-preview", duration=5, audio=False)])
        assert len(s.runs()) == 0


def test_refused_in_another_currency() -> None:
    with make(budget=10, budget_currency="CNY") as s:
        with pytest.raises(
            wb.BudgetExceededError,
            match=r"estimate is in USD but the budget is in CNY .*budget_currency='USD'",
        ):
            s.generate(request=req())
        assert len(s.runs()) == 0


def test_a_batch_reserves_its_runs_before_they_start() -> None:
    """Budget for 2.5 runs; a batch of 2 sent one at a time, then a generate while the batch's
    second run has not started: refused (before the fix it was accepted: 0.30 spent)."""
    with make(budget=0.25, emulator_options={"time_scale": 1 / 60}) as s:

        async def main() -> tuple[list[Any], BaseException | None]:
            batch = s.batch([req(), req()], limits={"wan2.2": (2, 1)})
            await asyncio.sleep(0)
            assert s.budget_left() == pytest.approx(0.05)  # reserved at once
            try:
                await s.agenerate(request=req())
                refused = None
            except wb.BudgetExceededError as exc:
                refused = exc
            return await batch, refused

        outcomes, refused = run_sync(main())
        assert all(o.ok for o in outcomes)
        assert isinstance(refused, wb.BudgetExceededError)
        assert s.runs()["cost"].sum() == pytest.approx(0.20)
        assert s.budget_left() == pytest.approx(0.05)  # reservations given back, runs counted


def test_an_unsent_request_gives_its_share_back() -> None:
    with make(budget=0.25, emulator_options={"time_scale": 1 / 60}) as s:

        async def main() -> list[Any]:
            batch = s.batch([req(), req()], limits={"wan2.2": (2, 1)})
            while batch.started < 1:
                await asyncio.sleep(0.01)
            batch.cancel()
            return await batch

        first, second = run_sync(main())
        assert first.ok and isinstance(second.error, wb.BatchCancelled)
        assert s.budget_left() == pytest.approx(0.15)


@pytest.mark.parametrize(
    ("status", "cost", "estimate", "spent", "committed"),
    [
        ("SUCCEEDED", 0.5, 0.5, 0.5, 0.0),
        ("FAILED", 0.0, 0.5, 0.0, 0.0),  # unbilled: costs 0, nothing committed
        ("SUCCEEDED", None, 0.4, 0.0, 0.4),  # cost not recorded yet: still committed
        ("RUNNING", None, 0.1, 0.0, 0.1),
        ("AMBIGUOUS", None, 0.2, 0.0, 0.2),  # the task may exist
        ("PREPARED", None, 0.6, 0.0, 0.6),
        ("EXPIRED", None, 0.3, 0.0, 0.0),  # outcome lost: neither
        ("EXPIRED", 0.125, 0.125, 0.125, 0.0),  # billed and priced, only its video expired
        ("PENDING", None, None, 0.0, 0.0),  # unknown price: nothing to add
    ],
)
def test_what_a_run_counts_towards_a_budget(
    status: str, cost: float | None, estimate: float | None, spent: float, committed: float
) -> None:
    from wanbook._engine.budget import _money

    record = dict(status=status, cost=cost, currency="USD", estimate=estimate)
    got = _money({**record, "estimate_currency": "USD"})
    assert (got[1], got[3]) == (pytest.approx(spent), pytest.approx(committed))
    assert got[0] == ("USD" if cost is not None else "")
    assert got[2] == ("USD" if committed else "")
