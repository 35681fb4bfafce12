"""Figures for the report helpers, made without touching pyplot's global state outside notebooks.

In a Jupyter kernel a figure is made through pyplot (which loads the inline backend, so the figure
displays as a PNG when a cell returns it) and closed at once (so it is not shown twice and pyplot
keeps no reference). Anywhere else it is a bare :class:`matplotlib.figure.Figure`, drawn by Agg when
saved: a script or a test never opens a window or changes the user's backend.
"""

from __future__ import annotations

from typing import Any

__all__ = ["bars", "in_notebook", "new_figure", "plot_cost_report", "plot_repro", "tier_order"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel attached)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 10.0, height: float = 4.0) -> Any:
    """A new figure with ``nrows`` × ``ncols`` axes: ``(figure, array_of_axes)``."""
    import numpy as np

    if in_notebook():
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(width, height), layout="constrained")
        plt.close(fig)
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, np.asarray(axes).ravel()


def bars(ax: Any, table: Any, *, ylabel: str, title: str, notes: Any = None) -> None:
    """Grouped bars: one group per row of ``table`` (a DataFrame), one bar per column.

    Missing values draw no bar (an unknown is not a zero); ``notes`` (same shape, text) is written
    above the bars, e.g. how many runs had an unknown cost.
    """
    import numpy as np

    if table is None or table.empty:
        ax.set_title(title)
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        return
    n_rows, n_cols = table.shape
    width = 0.8 / max(n_cols, 1)
    x = np.arange(n_rows)
    for j, column in enumerate(table.columns):
        heights = table[column].to_numpy(dtype="float64")
        label = str(column)
        hatch = "//" if "emulator" in label else None
        offsets = x - 0.4 + width * (j + 0.5)
        ax.bar(offsets, np.nan_to_num(heights), width, label=label, hatch=hatch, alpha=0.85)
        if notes is not None and column in notes.columns:
            for xo, h, note in zip(offsets, heights, notes[column], strict=True):
                if note:
                    y = 0.0 if np.isnan(h) else h
                    ax.annotate(str(note), (xo, y), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [str(i) for i in table.index], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if n_cols > 1 or str(table.columns[0]) not in ("", "0"):
        ax.legend(fontsize=7)


def _by(report: Any, dim: str, currency: str) -> tuple[Any, Any]:
    """(cost, notes) for one dimension and currency: rows = the dimension, columns = ledgers."""
    table = report.table(dim).reset_index()
    table = table[table["currency"] == currency]
    if table.empty:
        return None, None
    cost = table.pivot_table(
        index=dim, columns="ledger", values="cost", aggfunc="sum", dropna=False
    )
    unknown = table.pivot_table(index=dim, columns="ledger", values="unknown", aggfunc="sum")
    notes = unknown.reindex_like(cost).fillna(0).astype(int).map(lambda n: f"{n}?" if n else "")
    return cost.rename(columns=_ledger_label), notes.rename(columns=_ledger_label)


def tier_order(tier: Any) -> int:
    """480P < 720P < 1080P (text order would put 1080P first)."""
    digits = "".join(ch for ch in str(tier) if ch.isdigit())
    return int(digits) if digits else 0


def _ledger_label(ledger: str) -> str:
    return "emulator (rehearsal)" if ledger == "emulator" else "real spend"


def plot_cost_report(report: Any, currency: str | None = None) -> Any:
    """The four panels of :meth:`CostReport.plot` for one currency."""
    currencies = report.currencies
    if currency is None:
        counts = report.frame["currency"].value_counts()
        known = [c for c in counts.index if c in currencies]
        currency = known[0] if known else "USD"
    elif currencies and currency not in currencies:
        raise ValueError(
            f"currency={currency!r} is not in this report; it has {', '.join(currencies) or 'none'}"
        )
    fig, axes = new_figure(2, 2, width=11, height=7.5)
    others = [c for c in currencies if c != currency]
    panels = {dim: _by(report, dim, currency) for dim in ("model", "day")}
    marked = any(n is not None and n.astype(bool).any().any() for _, n in panels.values())
    suptitle = f"Cost report ({currency}" + ("; '?' = runs of unknown cost)" if marked else ")")
    if others:
        suptitle += f"; other currencies not shown: {', '.join(others)}"
    unpriced = int((report.frame["currency"] == "(unknown)").sum())
    if unpriced:
        suptitle += f"; {unpriced} run{'s' if unpriced != 1 else ''} of unknown price not shown"
    fig.suptitle(suptitle, fontsize=10)
    for ax, dim in zip(axes[:2], ("model", "day"), strict=True):
        cost, notes = panels[dim]
        bars(ax, cost, ylabel=currency, title=f"spend by {dim}", notes=notes)
    eva = report.estimate_vs_actual.reset_index()
    eva = eva[eva["currency"] == currency]
    if not eva.empty:
        eva.index = [
            f"{m}\n({'emulator' if lg == 'emulator' else 'real'})"
            for m, lg in zip(eva["model"], eva["ledger"], strict=True)
        ]
        eva = eva[["estimated", "actual"]]
    bars(axes[2], eva if not eva.empty else None, ylabel=currency, title="estimate vs actual")
    tiers = report.at_other_tiers()
    tiers = tiers[tiers["currency"] == currency] if not tiers.empty else tiers
    matrix = None
    if not tiers.empty:
        tiers = tiers.assign(
            row=[
                f"{m}\n({'emulator' if lg == 'emulator' else 'real'})"
                for m, lg in zip(tiers["model"], tiers["ledger"], strict=True)
            ]
        )
        matrix = tiers.pivot_table(index="row", columns="tier", values="cost", aggfunc="sum")
        matrix = matrix[sorted(matrix.columns, key=tier_order)]
    bars(axes[3], matrix, ylabel=currency, title="the same runs at every tier of their model")
    return fig


def plot_repro(summary: Any) -> Any:
    """Two panels per (model, prompt_extend): the frame difference of repeats next to that of
    different seeds, and the share of repeated requests whose videos are byte-identical."""
    fig, axes = new_figure(1, 2, width=11, height=4)
    fig.suptitle("Reproducibility: does the same request give the same video?", fontsize=10)
    if summary.empty:
        bars(axes[0], None, ylabel="", title="frame difference")
        bars(axes[1], None, ylabel="", title="byte-identical repeats")
        return fig
    labels = [
        f"{model}\nprompt_extend {'on' if extend else 'off' if extend is not None else '?'}"
        for model, extend in summary.index
    ]
    diff = summary[["repeat_mae", "seed_mae"]].set_axis(labels)
    diff.columns = ["repeat of the same request", "different seed"]
    notes = diff.map(lambda v: "identical" if v == 0 else "" if v == v else "n/a")
    bars(
        axes[0],
        diff,
        ylabel="mean |pixel difference| (0-255)",
        title="frame difference",
        notes=notes,
    )
    share = (summary[["byte_identical"]] * 100).set_axis(labels)
    share.columns = ["byte-identical repeats"]
    notes = share.map(lambda v: f"{v:.0f}%" if v == v else "n/a")
    bars(
        axes[1], share, ylabel="% of repeated requests", title="byte-identical repeats", notes=notes
    )
    axes[1].set_ylim(0, 118)  # room above a "100%" label
    if axes[1].get_legend() is not None:  # one series, named by the panel's title already
        axes[1].get_legend().remove()
    return fig
