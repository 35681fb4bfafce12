"""Cost reports on the run log: spend by model, tier, day and experiment, estimate vs actual, plots.

Three rules shape every table here (pricing.md, "What a cost feature must handle"):

- **Emulator runs are a rehearsal.** They are priced as the region would price them, but every
  table keys them apart (``ledger`` = ``"emulator"`` vs ``"real"``) so they are never summed with
  what was really spent.
- **Currencies are never added together.** Every sum is per currency (``currency`` is a key).
- **An unknown cost is unknown, never 0.** Sums are over the known costs; ``unknown`` counts the
  runs whose cost is not known (so a sum with unknowns is a lower bound), and a group whose costs
  are all unknown has a NaN cost.

The pure part (:func:`spend_table`, :func:`estimate_vs_actual`, :func:`at_other_tiers`) works on a
run-log DataFrame (``wb.runs()``); :func:`cost_report` wraps them in a :class:`CostReport` that
displays itself in a notebook and draws its plots with matplotlib (imported when plotting).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from wanbook._spec.catalogue import catalogue
from wanbook._spec.prices import UNBILLED_STATUSES, PriceTable

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DIMENSIONS",
    "CostReport",
    "at_other_tiers",
    "cost_frame",
    "cost_report",
    "estimate_vs_actual",
    "spend_table",
]

DIMENSIONS = ("model", "tier", "day", "experiment")
UNKNOWN_CURRENCY = "(unknown)"
NO_EXPERIMENT = "(none)"
_NEEDED = ("backend", "model", "status", "cost", "currency", "created_at")


# ----------------------------------------------------------------------------- the pure part
def cost_frame(runs: pd.DataFrame, *, include_emulator: bool = True) -> pd.DataFrame:
    """The columns a cost report needs, one row per run, normalised.

    ``ledger`` is ``"emulator"`` for emulator runs and ``"real"`` otherwise; ``currency`` is the
    cost's currency, else the estimate's, else ``"(unknown)"``; ``estimate`` is NaN where it is in
    another currency than the cost; ``day`` is the UTC date the run was made.
    """
    import numpy as np
    import pandas as pd

    missing = [c for c in _NEEDED if c not in runs.columns]
    if missing:
        raise ValueError(
            f"runs is missing column(s) {', '.join(missing)}; pass the run log's DataFrame "
            "(wb.runs() or Session.runs())"
        )

    def text(name: str, default: str | None = None) -> pd.Series:
        if name not in runs.columns:
            return pd.Series(default, index=runs.index, dtype=object)
        return runs[name].astype(object).where(runs[name].notna(), default)

    def number(name: str) -> pd.Series:
        if name not in runs.columns:
            return pd.Series(np.nan, index=runs.index, dtype="float64")
        return pd.to_numeric(runs[name], errors="coerce").astype("float64")

    backend = text("backend", "")
    cost_currency, est_currency = text("currency"), text("estimate_currency")
    currency = cost_currency.where(cost_currency.notna(), est_currency).fillna(UNKNOWN_CURRENCY)
    estimate = number("estimate").where(est_currency.isna() | (est_currency == currency))
    created = pd.to_datetime(runs["created_at"], utc=True)
    frame = pd.DataFrame(
        {
            "ledger": np.where(backend == "emulator", "emulator", "real"),
            "backend": backend,
            "region": text("region", ""),
            "model": text("model", ""),
            "tier": text("tier", "(none)"),
            "day": created.dt.strftime("%Y-%m-%d").astype(object),
            "experiment": text("experiment", NO_EXPERIMENT),
            "status": text("status", ""),
            "billed_seconds": number("billed_seconds"),
            "cost": number("cost"),
            "currency": currency,
            "estimate": estimate,
            "sound": _sound(runs),
        },
        index=runs.index,
    )
    if not include_emulator:
        frame = frame[frame["ledger"] != "emulator"]
    return frame


def _sound(runs: pd.DataFrame) -> Any:
    """Whether each run's video had sound (the price of some models depends on it)."""
    import pandas as pd

    out = pd.Series(False, index=runs.index, dtype=bool)
    for name in ("has_audio", "param_audio"):  # the sent flag beats the probe where both exist
        if name in runs.columns:
            col = runs[name].astype(object)
            known = col.notna()
            out[known] = col[known].astype(bool)
    return out


def spend_table(frame: pd.DataFrame, by: str | Sequence[str]) -> pd.DataFrame:
    """Spend per (ledger, ``by``..., currency): runs, succeeded, unbilled, billed seconds, cost,
    unknown (runs whose cost is not known) and estimate. ``frame`` is a :func:`cost_frame`."""
    import pandas as pd

    keys = ["ledger", *([by] if isinstance(by, str) else list(by)), "currency"]
    for key in keys:
        if key not in frame.columns:
            raise ValueError(
                f"cannot group spend by {key!r}; choose from {', '.join(DIMENSIONS)} "
                "(or any column of cost_frame())"
            )
    if frame.empty:
        columns = ["runs", "succeeded", "unbilled", "billed_seconds", "cost", "unknown", "estimate"]
        return pd.DataFrame(columns=[*keys, *columns]).set_index(keys)
    work = frame.assign(
        succeeded=frame["status"] == "SUCCEEDED",
        unbilled=frame["status"].isin(UNBILLED_STATUSES),
        unknown=frame["cost"].isna(),
    )
    grouped = work.groupby(keys, sort=True, dropna=False)
    out = pd.DataFrame(
        {
            "runs": grouped.size(),
            "succeeded": grouped["succeeded"].sum(),
            "unbilled": grouped["unbilled"].sum(),
            "billed_seconds": grouped["billed_seconds"].sum(min_count=1),
            "cost": grouped["cost"].sum(min_count=1),  # NaN (not 0) when no cost is known
            "unknown": grouped["unknown"].sum(),
            "estimate": grouped["estimate"].sum(min_count=1),
        }
    )
    return out.astype({"runs": int, "succeeded": int, "unbilled": int, "unknown": int})


def estimate_vs_actual(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (ledger, model, currency): what was estimated before and what was billed after, over
    the finished runs whose estimate and cost are both known. ``runs`` counts every run,
    ``compared`` those summed here; ``unbilled`` the compared runs that were estimated but not
    billed (failed); ``not_compared`` the runs left out (estimate or cost unknown)."""
    import pandas as pd

    keys = ["ledger", "model", "currency"]
    columns = ["runs", "compared", "estimated", "actual", "difference", "unbilled", "not_compared"]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *columns]).set_index(keys)
    both = frame["estimate"].notna() & frame["cost"].notna()
    work = frame.assign(
        compared=both,
        est_known=frame["estimate"].where(both),
        cost_known=frame["cost"].where(both),
        unbilled=both & frame["status"].isin(UNBILLED_STATUSES),
        not_compared=~both,
    )
    grouped = work.groupby(keys, sort=True)
    out = pd.DataFrame(
        {
            "runs": grouped.size().astype(int),
            "compared": grouped["compared"].sum().astype(int),
            "estimated": grouped["est_known"].sum(min_count=1),
            "actual": grouped["cost_known"].sum(min_count=1),
            "unbilled": grouped["unbilled"].sum().astype(int),
            "not_compared": grouped["not_compared"].sum().astype(int),
        }
    )
    out.insert(3, "difference", out["actual"] - out["estimated"])
    return out[columns]


def at_other_tiers(frame: pd.DataFrame, prices: PriceTable) -> pd.DataFrame:
    """What the same successful runs would have cost at every tier of their model.

    One row per (ledger, model, region, tier): the runs' billed seconds re-priced at that tier
    (same region, same sound). ``as_run`` marks the tier(s) the runs used; ``unknown`` counts runs
    that tier has no known price for (``cost`` is then a lower bound, or NaN if none is known).
    Runs that failed cost 0 at any tier and are left out.
    """
    import pandas as pd

    columns = [
        "ledger",
        "model",
        "region",
        "tier",
        "as_run",
        "runs",
        "seconds",
        "cost",
        "currency",
        "unknown",
    ]
    ok = frame[(frame["status"] == "SUCCEEDED") & frame["billed_seconds"].notna()]
    rows: list[dict[str, Any]] = []
    for (ledger, model, region), group in ok.groupby(["ledger", "model", "region"], sort=True):
        spec = catalogue().get(str(model))
        tiers: Iterable[str] = spec.tiers if spec is not None else sorted(set(group["tier"]))
        for tier in tiers:
            sums: dict[str, float] = {}
            unknown = 0
            for seconds, sound in zip(group["billed_seconds"], group["sound"], strict=True):
                price = prices.lookup(str(model), str(region), tier, bool(sound))
                if price is None:
                    unknown += 1
                else:
                    sums[price.currency] = (
                        sums.get(price.currency, 0.0) + price.per_second * seconds
                    )
            base = {"ledger": ledger, "model": model, "region": region, "tier": tier}
            base |= {"as_run": bool((group["tier"] == tier).any()), "runs": len(group)}
            base["seconds"] = float(group["billed_seconds"].sum())
            if not sums:
                rows.append(
                    base | {"cost": math.nan, "currency": UNKNOWN_CURRENCY, "unknown": unknown}
                )
            for currency, amount in sorted(sums.items()):  # one row per currency, never summed
                rows.append(base | {"cost": amount, "currency": currency, "unknown": unknown})
    return pd.DataFrame(rows, columns=columns)


# ----------------------------------------------------------------------------- the report
class CostReport:
    """Spend from the run log, by model / tier / day / experiment, with emulator runs kept apart.

    ``tables[dim]`` (also ``by_model``, ``by_tier``, ``by_day``, ``by_experiment``) are
    :func:`spend_table` results; ``totals`` is spend per (ledger, currency);
    ``estimate_vs_actual`` and ``at_other_tiers()`` compare prices; ``plot()`` draws them.
    """

    def __init__(
        self, frame: pd.DataFrame, prices: PriceTable, by: Sequence[str] = DIMENSIONS
    ) -> None:
        self.frame = frame
        self.prices = prices
        self.by = tuple(by)
        self.tables = {dim: spend_table(frame, dim) for dim in self.by}
        self.totals = spend_table(frame, [])
        self.estimate_vs_actual = estimate_vs_actual(frame)

    def table(self, by: str | Sequence[str]) -> pd.DataFrame:
        """Spend grouped by any column(s) of :func:`cost_frame` (e.g. ``["model", "tier"]``)."""
        return spend_table(self.frame, by)

    by_model = property(lambda self: self.table("model"))
    by_tier = property(lambda self: self.table("tier"))
    by_day = property(lambda self: self.table("day"))
    by_experiment = property(lambda self: self.table("experiment"))

    def at_other_tiers(self) -> pd.DataFrame:
        return at_other_tiers(self.frame, self.prices)

    def tier_matrix(self) -> pd.DataFrame:
        """:meth:`at_other_tiers` as text, one column per tier ("0.1000 USD", "unknown", "—")."""
        long = self.at_other_tiers()
        if long.empty:
            import pandas as pd

            return pd.DataFrame()
        cells = long.assign(
            text=[
                _money(c, cur, u)
                for c, cur, u in zip(long["cost"], long["currency"], long["unknown"], strict=True)
            ]
        )
        cells["text"] = cells["text"] + cells["as_run"].map({True: " (as run)", False: ""})
        matrix = cells.pivot_table(
            index=["ledger", "model", "region"], columns="tier", values="text", aggfunc=" + ".join
        )
        from wanbook._reports.plots import tier_order

        return matrix[sorted(matrix.columns, key=tier_order)].fillna("—")

    def total_text(self, ledger: str = "real") -> str:
        """The spend of one ledger as text: known sums per currency, then the runs whose cost is
        not known (``"0.4600 USD + 1.2000 CNY (+1 run of unknown cost)"``)."""
        rows = self.totals.reset_index()
        rows = rows[rows["ledger"] == ledger]
        if rows.empty:
            return "nothing"
        known = rows[rows["cost"].notna()]
        text = " + ".join(
            f"{c:.4f} {cur}" for c, cur in zip(known["cost"], known["currency"], strict=True)
        )
        unknown = int(rows["unknown"].sum())
        if unknown:
            runs = "run" if unknown == 1 else "runs"
            text = (
                f"{text} (+{unknown} {runs} of unknown cost)"
                if text
                else f"unknown ({unknown} {runs})"
            )
        return text

    @property
    def currencies(self) -> list[str]:
        return sorted(set(self.frame["currency"]) - {UNKNOWN_CURRENCY})

    def plot(self, currency: str | None = None) -> Any:
        """A figure: spend by model and by day (real vs emulator), estimate vs actual, and the
        study re-priced at every tier — in one currency (default: the one most runs are in)."""
        from wanbook._reports.plots import plot_cost_report

        return plot_cost_report(self, currency)

    def __repr__(self) -> str:
        counts = self.frame["ledger"].value_counts()
        return (
            f"<CostReport {len(self.frame)} runs: real {self.total_text('real')} "
            f"({counts.get('real', 0)} runs); emulator rehearsal {self.total_text('emulator')} "
            f"({counts.get('emulator', 0)} runs)>"
        )

    def _repr_html_(self) -> str:
        counts = self.frame["ledger"].value_counts()
        head = (
            f"<h4>Cost report: {len(self.frame)} runs</h4><ul>"
            f"<li><b>Real spend</b> ({counts.get('real', 0)} runs): "
            f"{html.escape(self.total_text('real'))}</li>"
            f"<li><b>Emulator rehearsal</b> ({counts.get('emulator', 0)} runs, not spent; priced "
            f"as the region would): {html.escape(self.total_text('emulator'))}</li></ul>"
        )
        parts = [head]
        for dim in self.by:
            table = self.tables[dim]
            if not table.empty:
                parts.append(f"<h5>By {html.escape(dim)}</h5>{_table_html(table)}")
        note = (
            "<p><small>Costs are sums of the known costs; <code>unknown</code> counts runs whose cost "
            "is not known (so a sum beside it is a lower bound). Currencies are never added "
            f"together. Prices as of {html.escape(str(self.prices.date))}.</small></p>"
        )
        return "".join(parts) + note


def _fmt(value: float) -> str:
    return f"{value:.4f}"


def _seconds(value: float) -> str:
    """Seconds as the service bills them (whole seconds: ``120``, not ``120.0000``)."""
    return "unknown" if value is None or math.isnan(value) else f"{value:g}"


def _table_html(table: pd.DataFrame) -> str:
    """Money with four decimals, seconds as seconds, counts as counts."""
    formatters = {"billed_seconds": _seconds} if "billed_seconds" in table.columns else {}
    return str(table.to_html(float_format=_fmt, formatters=formatters, na_rep="unknown"))


def _money(amount: float, currency: str, unknown: int = 0) -> str:
    text = "unknown" if amount is None or math.isnan(amount) else f"{amount:.4f} {currency}"
    if unknown and not text.startswith("unknown"):
        text += f" (+{unknown} unknown)"
    return text


def cost_report(
    runs: pd.DataFrame | None = None,
    *,
    session: Any = None,
    by: Sequence[str] = DIMENSIONS,
    include_emulator: bool = True,
    prices: PriceTable | None = None,
) -> CostReport:
    """The cost report of ``runs`` (default: the whole run log of ``session`` or the default one).

    Emulator runs are included by default — kept in their own ``ledger``, never summed with real
    spend — so a study can be rehearsed; ``include_emulator=False`` leaves them out. ``prices``
    (default: the session's table) re-prices the study at other tiers.
    """
    if runs is None:
        if session is None:
            from wanbook._engine.default_session import session as default_session

            session = default_session()
        runs = session.runs()
    if prices is None:
        prices = session.prices if session is not None else PriceTable.load()
    for dim in by:
        if dim not in DIMENSIONS:
            raise ValueError(f"by={dim!r} is not allowed; choose from {', '.join(DIMENSIONS)}")
    frame = cost_frame(runs, include_emulator=include_emulator)
    return CostReport(frame, prices, by)
