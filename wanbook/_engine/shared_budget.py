"""Named budgets shared by every process of a user: ``wb.budget_set("team", 20)``, then
``wb.session(budget="team")`` or ``wanbook generate --budget team`` in as many shells and
notebooks as you like — together they never commit more than 20.

A session's numeric budget (``budget=5``) stays what it was: this session's own money
(``_engine.budget``). A *named* budget lives in the account-wide state (``_api.account_state``:
``budgets`` and ``budget_entries``; the user's state file, or the team's PostgreSQL database
when ``WANBOOK_DB`` names one) and is checked and reserved in one transaction under the budget's
lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on the budget's name on PostgreSQL), so two
processes — on one machine or several — cannot both take the last dollar:

* **reserve** before anything is sent: the estimate of each run, refused (nothing sent) when
  spent + reserved + asked would pass the amount, or when a price is unknown or in another
  currency;
* **sending**: just before its create goes out, a run's reservation is tied to its run id. From
  then on it outlives its process (the task may run and be billed after its kernel died) until
  the run is settled — by its session, or by ``resume`` in any session — or 24 h pass (task ids
  live 24 h; then it counts as spent at its estimate: never less than may have been paid);
* **settle** once the run ends: its real cost (an unknown cost keeps the estimate); nothing when
  nothing was created or billed (NOT_CREATED, ERROR, or an unbilled end);
* **release** a reservation never sent; a reservation of a process that is gone and never sent
  anything expires by itself (a process of this machine as soon as it is gone; one of another
  machine, which cannot be checked, after 24 h).

Rehearsals (the emulator) draw on the same amounts but are counted apart from real spend: a
rehearsal never uses up real money, and real spend never blocks a rehearsal.

When the state is unusable (a broken file, a database that cannot be reached), a run on a
named budget is refused before anything is sent
(:class:`BudgetExceededError` says why); a failure after sending only warns — the run's cost is
in its run log — and its reservation expires with the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wanbook._api.account_state import AccountStore, StateUnavailable, open_store
from wanbook._engine.budget import estimates_in
from wanbook._engine.prepare import Prepared
from wanbook._engine.tracker import TASK_TTL
from wanbook._errors import BudgetExceededError, ConfigError
from wanbook._runlog.schema import UNFINISHED
from wanbook._spec.prices import as_number
from wanbook._sql import Database
from wanbook._warn import warn_user

__all__ = [
    "BudgetStateWarning",
    "Draw",
    "NamedBudget",
    "budget_set",
    "budget_totals",
    "budgets",
    "settle_run",
]

_EPS = 1e-9
NOW = object()  # in Draw._write's arguments: the store's clock at the write
_TTL = TASK_TTL.total_seconds()
NOTHING_BILLED = ("NOT_CREATED", "ERROR")


class BudgetStateWarning(UserWarning):
    """A named budget could not record a change after a run was sent (the run goes on)."""


@dataclass(frozen=True)
class _Totals:
    amount: float
    currency: str
    spent: float
    reserved: float


def _open(store: AccountStore | None) -> tuple[AccountStore, bool]:
    if store is not None:
        return store, False
    return open_store(), True


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ConfigError(f"a budget's name must be a non-empty text, got {name!r}")
    return name.strip()


def budget_set(
    name: str, amount: float, currency: str = "USD", *, store: AccountStore | None = None
) -> dict[str, Any]:
    """Create or change the named budget ``name``: at most ``amount`` ``currency`` spent and
    reserved, together, by every session that draws on it (``wb.session(budget=name)``).
    Returns it as ``wb.budgets()`` shows it. Spend already recorded stays recorded."""
    name = _check_name(name)
    number = as_number(amount)
    if number is None or number < 0 or isinstance(amount, bool):
        raise ConfigError(f"budget {name!r}: amount {amount!r} must be a number >= 0")
    code = str(currency or "").strip().upper()
    if not (len(code) == 3 and code.isalpha()):
        raise ConfigError(f"budget {name!r}: currency {currency!r} must be a code such as USD")
    store, mine = _open(store)
    try:
        with store.transaction(_lock(name)) as db:
            db.execute(
                "INSERT INTO budgets (name, amount, currency, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET amount = excluded.amount, "
                "currency = excluded.currency, updated_at = excluded.updated_at",
                (name, number, code, store.now(db)),
            )
        return next(row for row in _rows(store) if row["name"] == name)
    except StateUnavailable as exc:
        raise ConfigError(f"cannot set budget {name!r}: the state is unusable: {exc}") from exc
    finally:
        if mine:
            store.close()


def budgets(*, store: AccountStore | None = None) -> Any:
    """Every named budget as a pandas DataFrame: ``name``, ``amount``, ``currency``, ``spent``,
    ``reserved``, ``left``, and the same for rehearsals on the emulator (``rehearsal_spent``,
    ``rehearsal_reserved``)."""
    import pandas as pd

    store, mine = _open(store)
    try:
        rows = _rows(store)
    except StateUnavailable as exc:
        raise ConfigError(f"cannot read the budgets: the state is unusable: {exc}") from exc
    finally:
        if mine:
            store.close()
    columns = ["name", "amount", "currency", "spent", "reserved", "left"]
    columns += ["rehearsal_spent", "rehearsal_reserved"]
    return pd.DataFrame(rows, columns=columns)


def _lock(name: str) -> str:
    return f"budget {name}"


def _rows(store: AccountStore) -> list[dict[str, Any]]:
    with store.transaction() as db:
        names = [n for (n,) in db.execute("SELECT name FROM budgets ORDER BY name").rows]
    out = []
    for name in names:  # one transaction per budget, under its lock (never two locks at once)
        with store.transaction(_lock(name)) as db:
            real = _totals(store, db, name, rehearsal=False)
            trial = _totals(store, db, name, rehearsal=True)
        if real is None or trial is None:
            continue
        out.append(
            {
                "name": name,
                "amount": real.amount,
                "currency": real.currency,
                "spent": round(real.spent, 6),
                "reserved": round(real.reserved, 6),
                "left": round(max(0.0, real.amount - real.spent - real.reserved), 6),
                "rehearsal_spent": round(trial.spent, 6),
                "rehearsal_reserved": round(trial.reserved, 6),
            }
        )
    return out


def _totals(store: AccountStore, db: Database, name: str, *, rehearsal: bool) -> _Totals | None:
    """The budget's amount and what its entries commit (inside a transaction holding the
    budget's lock): expired reservations are dropped, sent ones older than 24 h become spent at
    their estimate."""
    row = db.execute("SELECT amount, currency FROM budgets WHERE name = ?", (name,)).one()
    if row is None:
        return None
    now = store.now(db)
    spent = reserved = 0.0
    entries = db.execute(
        "SELECT id, state, amount, pid, host, started, updated_at FROM budget_entries "
        "WHERE budget = ? AND rehearsal = ?",
        (name, int(rehearsal)),
    ).rows
    for eid, state, amount, pid, host, started, updated in entries:
        if state == "settled":
            spent += amount
        elif state == "sent" and now - updated > _TTL:
            db.execute("UPDATE budget_entries SET state = 'settled' WHERE id = ?", (eid,))
            spent += amount
        elif state == "reserved" and (now - updated > _TTL or store.owner.gone(pid, host, started)):
            db.execute("DELETE FROM budget_entries WHERE id = ?", (eid,))
        else:
            reserved += amount
    return _Totals(float(row[0]), str(row[1]), spent, reserved)


def budget_totals(store: AccountStore, name: str, *, rehearsal: bool) -> tuple[float, float, float]:
    """``(amount, spent, reserved)`` of the named budget (ConfigError if there is none)."""
    with store.transaction(_lock(name)) as db:
        totals = _totals(store, db, name, rehearsal=rehearsal)
    if totals is None:
        raise ConfigError(_unknown(name))
    return totals.amount, totals.spent, totals.reserved


def _unknown(name: str) -> str:
    return (
        f"there is no budget named {name!r}: create it with wb.budget_set({name!r}, AMOUNT) or "
        f"`wanbook budget set {name} AMOUNT`"
    )


class NamedBudget:
    """A session's handle on the named budget ``name`` in ``store``."""

    def __init__(self, store: AccountStore, name: str, *, rehearsal: bool) -> None:
        self.store, self.name, self.rehearsal = store, _check_name(name), rehearsal

    def __repr__(self) -> str:
        return f"NamedBudget({self.name!r})"

    def left(self) -> float:
        amount, spent, reserved = budget_totals(self.store, self.name, rehearsal=self.rehearsal)
        return max(0.0, amount - spent - reserved)

    def reserve(self, preps: Sequence[Prepared]) -> Draw:
        """Reserve the estimates of ``preps``, or raise :class:`BudgetExceededError` (nothing
        reserved, nothing sent)."""
        try:
            with self.store.transaction(_lock(self.name)) as db:
                totals = _totals(self.store, db, self.name, rehearsal=self.rehearsal)
                if totals is None:
                    raise BudgetExceededError(f"refused: {_unknown(self.name)}")
                asked = self._asked(preps, totals)
                if totals.spent + totals.reserved + sum(asked) > totals.amount + _EPS:
                    what = "this run is" if len(preps) == 1 else f"these {len(preps)} runs are"
                    left = max(0.0, totals.amount - totals.spent - totals.reserved)
                    kind = " in rehearsals on the emulator" if self.rehearsal else ""
                    raise BudgetExceededError(
                        f"refused: {what} estimated at {sum(asked):.4f} {totals.currency}; "
                        f"budget {self.name!r} has {totals.spent:.4f} spent and "
                        f"{totals.reserved:.4f} reserved by running sessions{kind}, of "
                        f"{totals.amount:g} {totals.currency} (left: {left:.4f}); "
                        "nothing was sent"
                    )
                now = self.store.now(db)
                pid, host, started = self.store.owner_row()
                ids = []
                for amount in asked:
                    entry = self.store.insert(
                        db,
                        "INSERT INTO budget_entries (budget, rehearsal, state, amount, currency, "
                        "pid, host, started, created_at, updated_at) "
                        "VALUES (?, ?, 'reserved', ?, ?, ?, ?, ?, ?, ?)",
                        (
                            self.name,
                            int(self.rehearsal),
                            amount,
                            totals.currency,
                            pid,
                            host,
                            started,
                            now,
                            now,
                        ),
                    )
                    ids.append(entry)
        except StateUnavailable as exc:
            raise BudgetExceededError(
                f"refused: budget {self.name!r} cannot be checked, its state is unusable "
                f"({exc}); nothing was sent"
            ) from exc
        return Draw(self, ids, [float(p.estimate.amount) for p in preps])

    def _asked(self, preps: Sequence[Prepared], totals: _Totals) -> list[float]:
        return estimates_in(
            preps,
            totals.currency,
            label=f"budget {self.name!r}",
            within=f"budget {self.name!r}; nothing was sent",
            remedy=lambda prep: (
                f"; nothing was sent (set it in {prep.estimate.currency}: "
                f"wb.budget_set({self.name!r}, AMOUNT, {prep.estimate.currency!r}))"
            ),
        )


class Draw:
    """The reservations of one check: one entry per request, each sent, settled or released
    once. Every method after :meth:`NamedBudget.reserve` only warns when the state is unusable:
    by then the run may be paid for, and it must go on."""

    def __init__(self, budget: NamedBudget, ids: list[int], estimates: list[float]) -> None:
        self.budget, self.ids, self.estimates = budget, ids, estimates
        self._done: set[int] = set()

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        """Run one statement; ``NOW`` in ``args`` is the store's clock."""
        try:
            store = self.budget.store
            with store.transaction() as db:
                db.execute(sql, tuple(store.now(db) if a is NOW else a for a in args))
        except StateUnavailable as exc:
            warn_user(
                f"wanbook: budget {self.budget.name!r} could not record a change ({exc}); the "
                "run goes on, its cost is in the run log, and its reservation ends with this "
                "process",
                BudgetStateWarning,
            )

    def sending(self, index: int, run_id: str) -> None:
        """Request ``index``'s create (run ``run_id``) goes out now: its reservation outlives
        this process until the run is settled (by any session's resume) or 24 h pass."""
        if index not in self._done:
            self._write(
                "UPDATE budget_entries SET state = 'sent', run_id = ?, updated_at = ? "
                "WHERE id = ? AND state = 'reserved'",
                (run_id, NOW, self.ids[index]),
            )

    def settle(self, index: int, record: dict[str, Any] | None) -> None:
        """Request ``index``'s run as logged now: settle it if it ended, release it if nothing
        was sent, leave it reserved while its task may still run."""
        if index in self._done:
            return
        entry = self.ids[index]
        status = (record or {}).get("status")
        if record is None or status in NOTHING_BILLED:
            self._done.add(index)
            self._write("DELETE FROM budget_entries WHERE id = ?", (entry,))
        elif status not in UNFINISHED:
            self._done.add(index)
            amount = _final_cost(record, self.estimates[index])
            self._write(
                "UPDATE budget_entries SET state = 'settled', amount = ?, updated_at = ? "
                "WHERE id = ?",
                (amount, NOW, entry),
            )

    def release(self, index: int) -> None:
        """Request ``index`` was never sent: give its reservation back."""
        if index not in self._done:
            self._done.add(index)
            self._write(
                "DELETE FROM budget_entries WHERE id = ? AND state = 'reserved'",
                (self.ids[index],),
            )

    def release_unsent(self) -> None:
        """Give back every reservation still unsent (the batch ended or was interrupted)."""
        for index in range(len(self.ids)):
            self.release(index)


def _final_cost(record: dict[str, Any], estimate: float) -> float:
    """What an ended run cost: its recorded cost; its estimate when the cost is unknown (an
    EXPIRED run may have been billed): never less than may have been paid."""
    cost = as_number(record.get("cost"))
    if cost is None or (record.get("status") == "SUCCEEDED" and record.get("cost") is None):
        return estimate
    return float(cost)


def settle_run(store: AccountStore, record: dict[str, Any]) -> None:
    """Settle the named-budget entry of a run finished by ``resume`` (whoever sent it)."""
    status = record.get("status")
    run_id = record.get("run_id")
    if not run_id or status in UNFINISHED:
        return
    try:
        with store.transaction() as db:
            row = db.execute(
                "SELECT id, amount FROM budget_entries WHERE run_id = ? AND state = 'sent'",
                (run_id,),
            ).one()
            if row is None:
                return
            if status in NOTHING_BILLED:
                db.execute("DELETE FROM budget_entries WHERE id = ?", (row[0],))
            else:
                db.execute(
                    "UPDATE budget_entries SET state = 'settled', amount = ?, updated_at = ? "
                    "WHERE id = ?",
                    (_final_cost(record, float(row[1])), store.now(db), row[0]),
                )
    except StateUnavailable as exc:
        warn_user(
            f"wanbook: a named budget could not settle run {run_id} ({exc}); it stays reserved "
            "until a later resume or 24 h",
            BudgetStateWarning,
        )
