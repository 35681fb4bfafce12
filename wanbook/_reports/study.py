"""The study report: for each value of each axis of an experiment, how good it was and what it cost.

A study is an experiment's runs (``wb.compare(..., experiment=...)``) with their judgements
(``wb.rate``, ``wb.prefer``, the judging grid) and their measures (``wb.video_metrics``). The unit is
the **run**: a run's score is the mean of its raters' latest scores. Per value of each axis:

- **mean score** with a 95% confidence interval (Student's t over the runs' scores: honest for the
  handful of runs a video study has; no interval from one run);
- **win rate** from the pairwise judgements between runs that differ on that axis, ties counted
  as half a win, with a 95% Wilson interval. We report plain win rates rather than a
  Bradley–Terry fit: with the few judgements of a notebook study the comparison graph is often
  not connected (a fit then has no unique answer), and a win rate with its interval says plainly
  what was judged;
- the **measures** of each video (motion, sharpness, flicker, PSNR of first/last frames), as means;
- **cost per video**, and **cost per good video**: what the value's runs cost divided by how many
  of them scored at least ``threshold`` (the price of one video you would keep). An unknown cost
  stays unknown: a value with any unknown cost has no total. **Time per video**: the service's
  queue plus run time.

Emulator runs are a rehearsal: the report covers one ledger, real spend when the experiment has
real runs, else the rehearsal (labelled as such, priced as the region would price it), and says
how many runs of the other ledger it left out.

The pure part (:func:`study_table`) works on DataFrames; :func:`study_report` gathers them from
the run log and returns a :class:`StudyReport` that shows itself in a notebook, plots with
matplotlib and writes one self-contained HTML page (no script, no external file).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wanbook._reports.costs import cost_frame
from wanbook._reports.plots import new_figure
from wanbook._reports.video_metrics import METRIC_COLUMNS
from wanbook._runlog.judgements import SCORES

if TYPE_CHECKING:
    import pandas as pd

    from wanbook._engine.session import Session

__all__ = ["StudyReport", "study_axes", "study_table", "study_report", "t_interval", "wilson"]

VAR_TAG = "var:"  # a run tagged "var:animal=cat" was made from a template with animal=cat
BASE_AXES = ("model", "prompt", "tier", "duration")
NOT_AXES = {"param_seed", "param_prompt", "param_negative_prompt"}
MEASURES = tuple(c for c in METRIC_COLUMNS if c != "frames")
# Student's t quantile 0.975 for 1..30 degrees of freedom; beyond, 1.96 + 2.5/df (within 0.003).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its 95% Student-t interval (NaN bounds for < 2 values)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = math.fsum(values) / n
    if n < 2:
        return mean, math.nan, math.nan
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    df = n - 1
    t = _T975[df - 1] if df <= len(_T975) else 1.96 + 2.5 / df
    half = t * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def wilson(wins: float, n: int) -> tuple[float, float, float]:
    """(rate, low, high): a win rate and its 95% Wilson interval (NaN for no comparison)."""
    if n <= 0:
        return math.nan, math.nan, math.nan
    z = 1.96
    p = wins / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


# ----------------------------------------------------------------------------- the pure part
def _var_tags(tags: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags if isinstance(tags, list | tuple) else []:
        if isinstance(tag, str) and tag.startswith(VAR_TAG) and "=" in tag:
            name, value = tag[len(VAR_TAG) :].split("=", 1)
            out[f"var:{name}"] = value
    return out


def _with_vars(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with a ``var:<name>`` column per template variable found in the tags."""
    frame = runs.copy()
    if "tags" in frame.columns:
        found = [_var_tags(t) for t in frame["tags"]]
        for name in sorted({k for f in found for k in f}):
            frame[name] = [f.get(name) for f in found]
    return frame


def study_axes(runs: pd.DataFrame) -> list[str]:
    """The columns that vary across the study's runs and are treatments, not replicates: the
    model, the prompt (unless template variables say more), tier, duration, every ``param_*``
    that varies and every template variable. The seed is a replicate, not an axis."""
    frame = _with_vars(runs)
    variables = [c for c in frame.columns if c.startswith("var:")]
    candidates = [*BASE_AXES, *sorted(c for c in frame.columns if c.startswith("param_"))]
    axes = [
        c
        for c in candidates
        if c in frame.columns
        and c not in NOT_AXES
        and not (c == "prompt" and variables)
        and not (c == "param_duration" and "duration" in candidates)
        and frame[c].astype(str).nunique(dropna=False) > 1
    ]
    if "model" in axes:  # a parameter each model has one value of (sound, tier ...) is the
        by_model = frame.astype({c: str for c in axes}).groupby("model", observed=True)
        axes = [a for a in axes if a == "model" or by_model[a].nunique().max() > 1]  # model's
    return axes + [v for v in variables if frame[v].astype(str).nunique(dropna=False) > 1]


def _run_scores(ratings: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    if ratings.empty:
        return pd.DataFrame({"score": [], "raters": []}, index=pd.Index([], name="run_id"))
    grouped = ratings.astype({"score": "float64"}).groupby("run_id")
    return pd.DataFrame({"score": grouped["score"].mean(), "raters": grouped["rater"].nunique()})


def _seconds(runs: pd.DataFrame) -> pd.Series:
    import pandas as pd

    queue = pd.to_numeric(runs.get("queue_seconds"), errors="coerce")
    run = pd.to_numeric(runs.get("run_seconds"), errors="coerce")
    return (queue + run).astype("float64")


def _label(value: Any) -> str:
    text = (
        "(none)"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else str(value)
    )
    return text if len(text) <= 60 else text[:57] + "…"


def study_table(
    runs: pd.DataFrame,
    ratings: pd.DataFrame,
    preferences: pd.DataFrame,
    metrics: pd.DataFrame | None = None,
    *,
    axes: Sequence[str] | None = None,
    threshold: float = 4.0,
) -> pd.DataFrame:
    """One row per (axis, value): runs, rated, mean_score and its interval, good, win_rate and
    its interval, the measures, cost_per_video, cost_per_good_video, seconds_per_video, currency.

    ``runs``: the run log's DataFrame (one ledger; indexed by run_id); ``ratings`` and
    ``preferences``: the judgement frames (latest of each rater); ``metrics``: ``video_metrics``.
    """
    import pandas as pd

    frame = _with_vars(runs)
    axes = list(axes) if axes is not None else study_axes(frame)
    missing = [a for a in axes if a not in frame.columns]
    if missing:
        raise ValueError(
            f"axes {missing!r} are not columns of the runs; choose from {study_axes(frame)}"
        )
    costs = cost_frame(frame)
    scores = _run_scores(ratings[ratings["run_id"].isin(frame.index)])
    per_run = pd.DataFrame(index=frame.index)
    per_run["score"] = scores["score"].reindex(frame.index)
    per_run["cost"] = costs["cost"]
    per_run["currency"] = costs["currency"]
    per_run["seconds"] = _seconds(frame)
    for name in MEASURES:
        per_run[name] = (
            metrics[name].reindex(frame.index).astype("float64")
            if metrics is not None and name in metrics.columns
            else math.nan
        )
    rows = []
    for axis in axes:
        values = frame[axis].map(_label)
        outcomes = _pair_outcomes(preferences, values)
        for value in dict.fromkeys(values):
            ids = values.index[values == value]
            part = per_run.loc[ids]
            scored = part["score"].dropna().tolist()
            mean, low, high = t_interval(scored)
            low, high = max(low, SCORES[0]), min(high, SCORES[-1])  # NaN stays NaN
            good = int((part["score"] >= threshold).sum())
            wins, n = outcomes.get(value, (0.0, 0))
            rate, w_low, w_high = wilson(wins, n)
            currencies = set(part["currency"])
            known = part["cost"].notna().all() and len(currencies) == 1
            total = float(part["cost"].sum()) if known else math.nan
            rows.append(
                {
                    "axis": axis,
                    "value": value,
                    "runs": len(part),
                    "rated": len(scored),
                    "mean_score": mean,
                    "score_low": low,
                    "score_high": high,
                    "good": good,
                    "comparisons": n,
                    "win_rate": rate,
                    "win_low": w_low,
                    "win_high": w_high,
                    **{name: float(part[name].mean()) for name in MEASURES},
                    "cost_per_video": total / len(part) if len(part) else math.nan,
                    "cost_per_good_video": total / good if good else math.nan,
                    "seconds_per_video": float(part["seconds"].mean()),
                    "currency": currencies.pop() if len(currencies) == 1 else "(mixed)",
                }
            )
    return pd.DataFrame(rows)


def _pair_outcomes(preferences: pd.DataFrame, values: pd.Series) -> dict[str, tuple[float, int]]:
    """Per value: (wins, comparisons) over the judged pairs whose runs differ on this axis."""
    out: dict[str, list[float]] = {}
    for a, b, winner in zip(
        preferences.get("run_a", []),
        preferences.get("run_b", []),
        preferences.get("winner", []),
        strict=True,
    ):
        if a not in values.index or b not in values.index or values[a] == values[b]:
            continue
        for run in (a, b):
            got = 0.5 if winner == "tie" else 1.0 if winner == run else 0.0
            tally = out.setdefault(values[run], [0.0, 0])
            tally[0] += got
            tally[1] += 1
    return {k: (v[0], int(v[1])) for k, v in out.items()}


def _with_interval(value: float, low: float, high: float, fmt: str) -> str:
    if value is None or math.isnan(value):
        return "—"
    if math.isnan(low) or math.isnan(high):
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


# ----------------------------------------------------------------------------- the report
class StudyReport:
    """What won and what it cost, per axis of an experiment (see the module's docstring).

    ``table``: :func:`study_table`; ``runs``: the runs judged; ``ledger``: "real" or "emulator";
    ``plot()`` draws score and cost per good video per axis; ``to_html(path)`` writes the page.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        *,
        experiment: str | None,
        runs: pd.DataFrame,
        ledger: str,
        left_out: int,
        raters: Sequence[str],
        threshold: float,
    ) -> None:
        self.table = table
        self.experiment = experiment
        self.runs = runs
        self.ledger = ledger
        self.left_out = left_out
        self.raters = list(raters)
        self.threshold = threshold

    def axis(self, name: str) -> pd.DataFrame:
        """The rows of one axis, indexed by value."""
        return self.table[self.table["axis"] == name].set_index("value").drop(columns="axis")

    def best(self, axis: str) -> str | None:
        """The value of ``axis`` with the highest mean score (None if nothing was scored)."""
        rows = self.axis(axis)["mean_score"].dropna()
        return None if rows.empty else str(rows.idxmax())

    def plot(self) -> Any:
        """Per axis: mean score with its 95% interval, and cost per good video."""
        import numpy as np

        axes = list(dict.fromkeys(self.table["axis"]))
        fig, panes = new_figure(max(1, len(axes)), 2, width=10.0, height=2.8 * max(1, len(axes)))
        for i, axis in enumerate(axes):
            rows = self.axis(axis)
            x = np.arange(len(rows))
            mean = rows["mean_score"].to_numpy(dtype="float64")
            err = np.vstack([mean - rows["score_low"], rows["score_high"] - mean])
            left, right = panes[2 * i], panes[2 * i + 1]
            left.bar(x, np.nan_to_num(mean), alpha=0.85)
            left.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=3)
            left.set_ylim(0, 5.5)
            left.set_title(f"{axis}: mean score (95% interval)", fontsize=9)
            cost = rows["cost_per_good_video"].to_numpy(dtype="float64")
            right.bar(x, np.nan_to_num(cost), alpha=0.85, color="tab:orange")
            for xo, c in zip(x, cost, strict=True):
                if math.isnan(c):
                    right.annotate("n/a", (xo, 0), ha="center", va="bottom", fontsize=7)
            currency = ", ".join(sorted(set(rows["currency"])))
            right.set_title(f"{axis}: cost per good video ({currency})", fontsize=9)
            for pane in (left, right):
                labels = [str(v) for v in rows.index]
                pane.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
        return fig

    def _plot_png(self) -> str:
        buf = io.BytesIO()
        self.plot().savefig(buf, format="png", dpi=90)
        return base64.b64encode(buf.getvalue()).decode("ascii")

    def _head(self) -> str:
        what = (
            "real spend"
            if self.ledger == "real"
            else "an emulator rehearsal (priced as the region would; nothing was spent)"
        )
        left_out = f" {self.left_out} run(s) of the other ledger left out." if self.left_out else ""
        raters = ", ".join(self.raters) or "nobody yet"
        return (
            f"<h4>Study: {html.escape(str(self.experiment or '(all runs)'))}</h4>"
            f"<p>{len(self.runs)} runs, {html.escape(what)}.{html.escape(left_out)} Judged by "
            f"{html.escape(raters)}; a good video scores at least {self.threshold:g}.</p>"
        )

    def _shown(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The columns worth a reader's eye: a score with its interval in one cell, the win rate
        only where pairs were judged, measures only where some run has them."""
        out = rows[["runs", "rated"]].copy()
        out["score (95%)"] = [
            _with_interval(m, lo, hi, "{:.2f}")
            for m, lo, hi in zip(rows.mean_score, rows.score_low, rows.score_high, strict=True)
        ]
        out["good"] = rows["good"]
        if rows["comparisons"].sum():
            out["win rate (95%)"] = [
                _with_interval(w, lo, hi, "{:.0%}")
                for w, lo, hi in zip(rows.win_rate, rows.win_low, rows.win_high, strict=True)
            ]
        for name in MEASURES:
            if rows[name].notna().any():
                out[name.replace("_", " ")] = rows[name]
        currency = ", ".join(sorted(set(rows["currency"])))
        out[f"cost/video ({currency})"] = rows["cost_per_video"]
        out[f"cost/good video ({currency})"] = rows["cost_per_good_video"]
        out["s/video"] = rows["seconds_per_video"]
        out.index.name = None
        return out

    def _tables(self) -> str:
        parts = []
        for axis in dict.fromkeys(self.table["axis"]):
            rows = self._shown(self.axis(axis))
            parts.append(
                f"<h5>By {html.escape(axis)}</h5>"
                + rows.to_html(float_format=lambda v: f"{v:.3g}", na_rep="—")
            )
        return "".join(parts)

    _NOTE = (
        "<p><small>Mean score: the mean of each run's score (its raters' latest, averaged), "
        "with a 95% Student-t interval over runs. Win rate: pairwise judgements between runs "
        "that differ on the axis, ties as half a win, with a 95% Wilson interval. Cost per good "
        "video: the value's total cost over its runs scoring at least the threshold; — where a "
        "cost is unknown or no run was good. Time: the service's queue plus run "
        "seconds.</small></p>"
    )

    def _repr_html_(self) -> str:
        if self.table.empty:
            return self._head() + "<p>No axis varies across these runs.</p>"
        image = f'<img alt="study plots" src="data:image/png;base64,{self._plot_png()}">'
        return self._head() + image + self._tables() + self._NOTE

    def to_html(self, path: str | Path) -> Path:
        """Write the report as one self-contained HTML page (plots inline); return its path."""
        path = Path(path)
        title = html.escape(f"wanbook study: {self.experiment or '(all runs)'}")
        page = (
            f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body style="font-family:sans-serif">{self._repr_html_()}</body></html>'
        )
        path.write_text(page, "utf-8")
        return path

    def __repr__(self) -> str:
        axes = ", ".join(dict.fromkeys(self.table["axis"])) or "none"
        return (
            f"<StudyReport {self.experiment!r}: {len(self.runs)} runs ({self.ledger}), "
            f"axes {axes}, {len(self.raters)} rater(s)>"
        )


def study_report(
    experiment: str | None = None,
    *,
    session: Session | None = None,
    axes: Sequence[str] | None = None,
    threshold: float = 4.0,
    metrics: bool = True,
    rater: str | None = None,
) -> StudyReport:
    """The report of ``experiment`` (default: every run of the log).

    ``axes``: which columns to report on (default: every treatment that varies, see
    :func:`study_axes`); ``threshold``: the score of a good video; ``metrics=False`` skips the
    video measures (they decode every video once, then come from a cache); ``rater``: only one
    rater's judgements."""
    if session is None:
        from wanbook._engine.default_session import session as default_session

        session = default_session()
    if not 1 <= threshold <= 5:
        raise ValueError(f"threshold={threshold!r} is not a score; choose from 1 to 5")
    runs = session.runs(experiment=experiment) if experiment is not None else session.runs()
    ledger_of = cost_frame(runs)["ledger"] if len(runs) else runs.get("backend")
    ledger = "real" if len(runs) and (ledger_of == "real").any() else "emulator"
    mine = runs[ledger_of == ledger] if len(runs) else runs
    ratings = session.ratings(experiment=experiment, rater=rater)
    preferences = session.preferences(experiment=experiment, rater=rater)
    measured = None
    if metrics and len(mine):
        from wanbook._reports.video_metrics import video_metrics

        measured = video_metrics(mine, session=session)
    table = study_table(mine, ratings, preferences, measured, axes=axes, threshold=threshold)
    raters = sorted(set(ratings["rater"]) | set(preferences["rater"]))
    return StudyReport(
        table,
        experiment=experiment,
        runs=mine,
        ledger=ledger,
        left_out=len(runs) - len(mine),
        raters=raters,
        threshold=threshold,
    )
