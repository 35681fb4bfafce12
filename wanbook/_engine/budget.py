"""A session's budget: refuse, before anything is sent, runs that would take spend past it.

What a budget counts (the session's own money, not the log's history):

* the runs **this session** created (their cost once known, their estimate while unfinished or
  while a SUCCEEDED run's cost is not recorded yet) — runs logged before the session was made,
  or by another session sharing the run log, are not counted: ``Session(budget=5)`` on a log
  with $100 of history has $5 to spend;
* its **reservations**: a batch reserves its whole estimate when it is accepted and gives back
  each request's share as that run is logged (then counted as a run) or dropped unsent, so a
  ``generate`` next to a batch sees the batch's runs that have not started yet.

A session is either a rehearsal on the emulator or real, never both, so emulator runs never count
against a real budget. :class:`Budget` is pure (amounts in, verdict out); :class:`Ledger` is the
session's in-memory book of its runs and reservations.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wanbook._engine.prepare import Prepared
from wanbook._errors import BudgetExceededError, ConfigError
from wanbook._runlog.schema import UNFINISHED as _UNFINISHED
from wanbook._spec.prices import as_number

__all__ = ["Budget", "Ledger", "Reservation", "budget_amount", "estimates_in"]


def budget_amount(value: Any) -> float | str | None:
    """A session's ``budget=`` checked: a finite amount >= 0 (as a float), a shared budget's
    name (a string, checked where it is opened), or None for no budget. NaN, infinities,
    negative amounts and other types are refused: ``budget=nan`` would otherwise compare as
    "never over" and turn the budget off."""
    if value is None or isinstance(value, str):
        return value
    number = (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    )
    if number is None or not math.isfinite(number) or number < 0:
        raise ConfigError(
            f"budget {value!r} is not allowed: give a finite amount >= 0 in the budget's "
            "currency, a shared budget's name, or None for no budget"
        )
    return number


@dataclass(frozen=True)
class Budget:
    amount: float
    currency: str

    def check(self, preps: Sequence[Prepared], *, spent: float, in_flight: float) -> None:
        """Raise :class:`BudgetExceededError` if ``preps`` cannot be paid within the budget."""
        cost = sum(
            estimates_in(
                preps,
                self.currency,
                label="the budget",
                within=f"the budget of {self.amount:g} {self.currency}",
                remedy=lambda prep: (
                    f" (prices in region {prep.region!r} are in {prep.estimate.currency}: "
                    f"give the session budget_currency={prep.estimate.currency!r})"
                ),
            )
        )
        if spent + in_flight + cost > self.amount + 1e-9:
            what = "this run is" if len(preps) == 1 else f"these {len(preps)} runs are"
            raise BudgetExceededError(
                f"refused: {what} estimated at {cost:.4f} {self.currency}; {spent:.4f} is spent "
                f"and {in_flight:.4f} in flight or reserved by this session, which would exceed "
                f"the budget of {self.amount:g} {self.currency} "
                f"(left: {self.left(spent, in_flight):.4f})"
            )

    def left(self, spent: float, in_flight: float) -> float:
        return max(0.0, self.amount - spent - in_flight)


def estimates_in(
    preps: Sequence[Prepared],
    currency: str,
    *,
    label: str,
    within: str,
    remedy: Callable[[Prepared], str],
) -> list[float]:
    """Each request's estimate in ``currency``, or :class:`BudgetExceededError` for the first
    that cannot be kept within a budget: its price is unknown (``within`` names the budget), or
    in another currency (``label`` names the budget, ``remedy(prep)`` says what to do)."""
    amounts = []
    for prep in preps:
        est = prep.estimate
        if not est.known:
            raise BudgetExceededError(
                f"refused: the price of {prep.resolved.spec.name} at {prep.resolved.tier} in "
                f"region {prep.region!r} is unknown, so it cannot be kept within {within}"
            )
        if est.currency != currency:
            raise BudgetExceededError(
                f"refused: the estimate is in {est.currency} but {label} is in "
                f"{currency}{remedy(prep)}"
            )
        amounts.append(float(est.amount))
    return amounts


class Reservation:
    """A batch's reserved estimates, one share per request, each given back once."""

    def __init__(self, ledger: Ledger, key: int, shares: dict[int, tuple[float, str]]) -> None:
        self._ledger, self._key, self._shares = ledger, key, shares

    def release(self, index: int) -> None:
        """Give back request ``index``'s share (its run is logged now, or it was not sent)."""
        with self._ledger.lock:
            self._shares.pop(index, None)

    def release_all(self) -> None:
        with self._ledger.lock:
            self._shares.clear()
            self._ledger.reservations.pop(self._key, None)

    @property
    def held(self) -> int:
        return len(self._shares)


class Ledger:
    """One session's runs and reservations; :meth:`totals` says what they commit in a currency.

    Thread-safe (a session may be used from wanbook's loop thread and a notebook's loop at once).
    A settled run (ended, its cost known) is read from the run log once and remembered.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards the book itself
        self.gate = threading.Lock()  # one check-and-reserve at a time, across loops and threads
        self.reservations: dict[int, Reservation] = {}
        self._runs: dict[str, tuple[str, float, str, float] | None] = {}
        self._keys = itertools.count()

    def own(self, run_id: str) -> None:
        """Count run ``run_id`` (just logged by this session) from now on."""
        with self.lock:
            self._runs.setdefault(run_id, None)

    def reserve_within(
        self, budget: Budget | None, preps: Sequence[Prepared], log: Any
    ) -> Reservation:
        """Check ``preps`` against ``budget`` and reserve their estimates, as one step under one
        lock for every event loop and thread of the session: two runs that check at the same
        moment cannot both fit into what only one of them fits. Raises BudgetExceededError
        (nothing reserved). The caller gives each share back once its run is owned or dropped."""
        with self.gate:
            if budget is not None and preps:
                spent, in_flight = self.totals(log, budget.currency)
                budget.check(preps, spent=spent, in_flight=in_flight)
            return self.reserve(preps)

    def reserve(self, preps: Sequence[Prepared]) -> Reservation:
        """Reserve the estimates of ``preps`` (a batch accepted) until each run is logged."""
        shares = {
            i: (float(p.estimate.amount), str(p.estimate.currency))
            for i, p in enumerate(preps)
            if p.estimate.known
        }
        with self.lock:
            key = next(self._keys)
            reservation = self.reservations[key] = Reservation(self, key, shares)
        return reservation

    def reserved(self, currency: str) -> float:
        with self.lock:
            return sum(
                amount
                for r in self.reservations.values()
                for amount, cur in r._shares.values()
                if cur == currency
            )

    def totals(self, log: Any, currency: str) -> tuple[float, float]:
        """``(spent, in flight)`` in ``currency``: the known costs of this session's runs; the
        estimates of its unfinished runs (and of SUCCEEDED runs without a cost yet) plus its
        reservations."""
        with self.lock:
            pending = [rid for rid, settled in self._runs.items() if settled is None]
            settled = [s for s in self._runs.values() if s is not None]
        for run_id in pending:
            record = log.get(run_id)
            if record is None:
                continue
            fact = _money(record)
            if record.get("status") not in _UNFINISHED and not (
                record.get("status") == "SUCCEEDED" and record.get("cost") is None
            ):
                with self.lock:
                    self._runs[run_id] = fact
            settled.append(fact)
        spent = sum(cost for cost_cur, cost, est_cur, est in settled if cost_cur == currency)
        in_flight = sum(est for cost_cur, cost, est_cur, est in settled if est_cur == currency)
        return spent, in_flight + self.reserved(currency)


def _money(record: dict[str, Any]) -> tuple[str, float, str, float]:
    """A run's ``(cost currency, cost, estimate currency, estimate still committed)``."""
    status = record.get("status")
    cost = as_number(record.get("cost"))  # unbilled ends cost 0; EXPIRED may be unknown
    committed = status in _UNFINISHED or (status == "SUCCEEDED" and record.get("cost") is None)
    estimate = as_number(record.get("estimate")) if committed else None
    return (
        str(record.get("currency") or "") if cost is not None else "",
        cost if cost is not None else 0.0,
        str(record.get("estimate_currency") or "") if estimate is not None else "",
        estimate if estimate is not None else 0.0,
    )
