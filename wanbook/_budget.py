"""A session's budget: refuse, before anything is sent, runs that would take spend past it.

Pure: the session passes what is already spent and in flight (from the run log, for its own
backend only, so emulator rehearsals never eat a real budget nor real spend an emulator one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wanbook._errors import BudgetExceededError
from wanbook._prepare import Prepared

__all__ = ["Budget"]


@dataclass(frozen=True)
class Budget:
    amount: float
    currency: str

    def check(self, preps: Sequence[Prepared], *, spent: float, in_flight: float) -> None:
        """Raise :class:`BudgetExceededError` if ``preps`` cannot be paid within the budget."""
        for prep in preps:
            est = prep.estimate
            if not est.known:
                raise BudgetExceededError(
                    f"refused: the price of {prep.resolved.spec.name} at {prep.resolved.tier} in "
                    f"region {prep.region!r} is unknown, so it cannot be kept within the budget "
                    f"of {self.amount:g} {self.currency}"
                )
            if est.currency != self.currency:
                raise BudgetExceededError(
                    f"refused: the estimate is in {est.currency} but the budget is in {self.currency}"
                )
        cost = sum(prep.estimate.amount for prep in preps)
        if spent + in_flight + cost > self.amount + 1e-9:
            what = "this run is" if len(preps) == 1 else f"these {len(preps)} runs are"
            raise BudgetExceededError(
                f"refused: {what} estimated at {cost:.4f} {self.currency}; {spent:.4f} is spent "
                f"and {in_flight:.4f} in flight, which would exceed the budget of "
                f"{self.amount:g} {self.currency} (left: {self.left(spent, in_flight):.4f})"
            )

    def left(self, spent: float, in_flight: float) -> float:
        return max(0.0, self.amount - spent - in_flight)
