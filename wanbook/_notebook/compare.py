"""``wb.compare``: the same prompt across models × seeds, run concurrently, shown as a grid.

The cross product goes through the session's batch engine (:class:`~wanbook._engine.batch.Batch`), which
keeps each rate group within the account's limits. Each request is checked once: one that is
invalid for one model (a size another model does not offer, say) fails in its own cell before
anything is sent; a request warning (a prompt the server will cut …) is said once, as one plain
line, never as a Python warning; a task that fails at the service fails in its cell; none stops
the rest. Interrupted, a comparison stops sending and leaves the tasks it created to ``resume``.

The result is a :class:`Comparison`: a pandas DataFrame of the cells (one row per run, in input
order) that renders as the labelled grid in a notebook. Derived frames (``cmp[...]``,
``cmp.groupby(...)``) are plain DataFrames.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING, Any

from wanbook._errors import MediaError, ValidationError
from wanbook._notebook.html import error_words, grid_html, status_words
from wanbook._notebook.progress import Progress
from wanbook._portal import run_sync
from wanbook._runlog.schema import parse_time
from wanbook._spec.catalogue import tier_of_size
from wanbook._spec.model_choice import shared_setting
from wanbook._spec.request import Request, draw_seed, with_seed

if TYPE_CHECKING:
    import pandas as pd

    from wanbook._engine.prepare import Prepared
    from wanbook._engine.session import Session
    from wanbook._runlog.run import Run

__all__ = ["GridView", "acompare", "compare"]  # Comparison: made on first use (pandas)

AXES = ("model", "seed", "prompt")
COLUMNS = (
    *AXES,
    "status",
    "cost",
    "currency",
    "seconds",
    "queue_seconds",
    "run_seconds",
    "run_id",
    "video_path",
    "tier",
    "width",
    "height",
    "duration",
    "has_audio",
    "error_code",
    "error_message",
    "error",
)


def _comparison_class() -> type:
    """The DataFrame subclass, made on first use so ``import wanbook`` never imports pandas."""
    global _Comparison
    if _Comparison is not None:
        return _Comparison
    import pandas as pd

    class Comparison(pd.DataFrame):
        """The runs of a comparison, one row per cell; shows itself as the grid.

        ``layout`` holds the grid's ``rows`` and ``cols`` (column names) and its ``title``.
        """

        _metadata = ["layout"]

        @property
        def _constructor(self) -> type:
            return pd.DataFrame  # derived frames are plain: the grid belongs to this one

        def grid(
            self, rows: str | None = None, cols: str | None = None, *, embed: bool = False
        ) -> GridView:
            """The grid again, optionally with other axes (``cmp.grid(rows="seed", cols="model")``)."""
            layout = dict(getattr(self, "layout", None) or {})
            return GridView(
                self,
                rows=rows or layout.get("rows", "model"),
                cols=cols or layout.get("cols", "seed"),
                title=layout.get("title"),
                embed=embed,
                axes=layout.get("axes", AXES),
                skip=layout.get("facets_skip", ()),
            )

        def judge(self, **options: Any) -> Any:
            """Judge this comparison's videos where they play (see ``wb.judge``: ``blind=``,
            ``pairwise=``, ``rater=``, ``session=``)."""
            from wanbook._notebook.judging import judge

            return judge(self, **options)

        def _repr_html_(self) -> str:
            return self.grid()._repr_html_()

    Comparison.__module__ = __name__
    _Comparison = Comparison
    return Comparison


_Comparison: type | None = None


def __getattr__(name: str) -> Any:
    if name == "Comparison":
        return _comparison_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class GridView:
    """A comparison drawn as tables: one row per value of ``rows``, one column per ``cols``, and
    one table (a facet) per combination of the other axes that vary."""

    def __init__(
        self,
        frame: Any,
        *,
        rows: str,
        cols: str,
        title: str | None = None,
        embed: bool = False,
        axes: Sequence[str] = AXES,
        skip: Sequence[str] = (),
    ) -> None:
        for axis in (rows, cols):
            if axis not in frame.columns:
                raise ValueError(f"grid axis {axis!r} is not a column; choose from {list(axes)}")
        self.facets = [
            a
            for a in axes
            if a not in (rows, cols, *skip) and a in frame.columns and _nunique(frame[a]) > 1
        ]
        keys = list(zip(*(frame[a].map(_key) for a in (*self.facets, rows, cols)), strict=True))
        if len(set(keys)) != len(keys):
            raise ValueError(
                f"rows={rows!r} × cols={cols!r} do not tell the runs apart (some cells repeat); "
                f"choose other axes from {list(axes)}"
            )
        self.frame, self.rows, self.cols, self.title, self.embed = frame, rows, cols, title, embed

    def _table(self, part: Any, caption: str | None) -> str:
        from wanbook._notebook.display import run_cell

        cells = {}
        for row in part.to_dict("records"):
            record = {k: _plain(v) for k, v in row.items()}
            error = record.get("error")
            cells[(record[self.rows], record[self.cols])] = run_cell(
                record if record.get("run_id") else None, error=error, embed=self.embed
            )
        return grid_html(
            cells,
            _unique(part[self.rows]),
            _unique(part[self.cols]),
            row_title=self.rows,
            col_title=self.cols,
            title=caption,
        )

    def _repr_html_(self) -> str:
        if not self.facets:
            return self._table(self.frame, self.title)
        tables = []
        combos = dict.fromkeys(zip(*(self.frame[a].map(_key) for a in self.facets), strict=True))
        for combo in combos:
            mask = None
            for axis, value in zip(self.facets, combo, strict=True):
                hit = self.frame[axis].map(_key) == value
                mask = hit if mask is None else mask & hit
            part = self.frame[mask]
            words = " · ".join(f"{a}={_plain(part[a].iloc[0])}" for a in self.facets)
            tables.append(self._table(part, f"{self.title} — {words}" if self.title else words))
        return "".join(tables)


def _key(value: Any) -> Any:
    """A value as a dictionary key (lists and NaN included)."""
    value = _plain(value)
    return tuple(value) if isinstance(value, list) else value


def _nunique(column: Any) -> int:
    return len(set(column.map(_key)))


def _plain(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, list | tuple | dict):
        return value
    return None if pd.isna(value) else value


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(_plain(v) for v in values))


def _axis_values(name: str, values: Any) -> list[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"compare: {name} must be a list of values, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"compare: {name} is empty; give at least one value")
    return values


def _setting_words(params: Mapping[str, Any]) -> str | None:
    """The size and tier every cell was asked for (``"832*480 · 480P"``), for the grid's title."""
    size, resolution = params.get("size"), params.get("resolution")
    if size is not None:
        tier = tier_of_size(str(size))
        return f"{size} · {tier}" if tier else str(size)
    return str(resolution) if resolution is not None else None


def _cells(
    prompts: Sequence[str],
    models: Sequence[str],
    seeds: Sequence[int | None],
    vary: Mapping[str, Sequence[Any]],
    variables: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """Every combination of the axes, in a stable order: prompt (template), its variables, model,
    each varied field, seed. A cell maps each axis to its value; ``prompt`` is the filled text."""
    names = [*variables, *vary]
    cells = []
    for template in prompts:
        for combo in itertools.product(*variables.values(), models, *vary.values(), seeds):
            fills = dict(zip(variables, combo[: len(variables)], strict=True))
            model, *rest = combo[len(variables) :]
            varied = dict(zip(vary, rest[: len(vary)], strict=True))
            text = template.format(**fills) if fills and template is not None else template
            cell: dict[str, Any] = {"prompt": text, "model": model, "seed": rest[-1]}
            cell.update({n: fills.get(n, varied.get(n)) for n in names})
            if fills:
                cell["prompt_template"] = template
            cells.append(cell)
    return cells


def _check_axes(
    vary: Mapping[str, Any], variables: Mapping[str, Any], rows: str, cols: str
) -> None:
    fields_ = {f.name for f in dataclass_fields(Request)} - {"extra"}
    for name in vary:
        if name in AXES:
            raise ValueError(f"compare: vary={{{name!r}: ...}}: give {name} as its own argument")
        if name not in fields_:
            allowed = ", ".join(sorted(fields_ - set(AXES)))
            raise ValueError(
                f"compare: vary={{{name!r}: ...}} is not a request field; choose from {allowed}"
            )
    for name in variables:
        if name in AXES or name in vary:
            raise ValueError(
                f"compare: vars={{{name!r}: ...}} clashes with the axis {name!r}; rename it"
            )
    axes = (*AXES, *variables, *vary)
    for axis in (rows, cols):
        if axis not in axes:
            raise ValueError(f"compare: {axis!r} is not an axis; choose from {', '.join(axes)}")


def _row(cell: Mapping[str, Any], run: Run | None, error: BaseException | None) -> dict[str, Any]:
    """One row of the comparison: the cell's axes, the run's outcome, its cost and time."""
    row: dict[str, Any] = {k: None for k in COLUMNS}
    row.update(cell)
    if run is not None:
        r = run.record
        for key in COLUMNS:
            if key in r and key not in cell:  # an axis keeps the value asked for
                row[key] = r[key]
        row["seed"] = r.get("seed", cell["seed"])
        start, end = parse_time(r.get("created_at")), parse_time(r.get("finished_at"))
        if start is not None and end is not None:
            row["seconds"] = (end - start).total_seconds()  # wall time, as the caller waited
        if r.get("status") != "SUCCEEDED":
            row["error"] = status_words(
                r.get("status"), r.get("error_code"), r.get("error_message")
            )
    if error is not None:
        row["error"] = error_words(error)
        row["status"] = row["status"] or "ERROR"
    return row


def _frame(rows: list[dict[str, Any]], layout: dict[str, Any]) -> Any:
    import pandas as pd

    extra = [a for a in layout.get("axes", AXES) if a not in AXES]
    if any("prompt_template" in r for r in rows):
        extra.append("prompt_template")
    columns = [*AXES, *extra, *(c for c in COLUMNS[len(AXES) :] if c not in extra)]
    frame = _comparison_class()(pd.DataFrame(rows, columns=columns))
    for name in ("seed", "width", "height"):
        frame[name] = frame[name].astype("Int64")
    for name in ("cost", "seconds", "queue_seconds", "run_seconds", "duration"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame.layout = layout
    return frame


def _problem_words(error: BaseException) -> str:
    """Why a cell is not sent, on one line: each problem's field and what is allowed."""
    if isinstance(error, ValidationError):
        return "; ".join(f"{p.field}: {p.message}" for p in error.problems)
    return " ".join(str(error).split())


def _estimate_words(preps: Sequence[Prepared]) -> str:
    """The total estimate of ``preps`` per currency (``"0.4000 USD"``; unknown prices counted)."""
    totals: dict[str, float] = {}
    unknown = 0
    for prep in preps:
        if prep.estimate.known:
            key = prep.estimate.currency or ""
            totals[key] = totals.get(key, 0.0) + prep.estimate.amount
        else:
            unknown += 1
    words = [f"{amount:.4f} {currency}".strip() for currency, amount in totals.items()]
    if unknown:
        words.append(f"{unknown} of unknown price")
    return " + ".join(words) or "nothing"


class _Plan:
    """A comparison ready to run: its cells, their requests, and the cells already failed."""

    def __init__(
        self,
        session: Session | None,
        prompt: str | Sequence[str],
        models: Sequence[str],
        seeds: Sequence[int | None] | None,
        rows: str,
        cols: str,
        params: Mapping[str, Any],
        vary: Mapping[str, Sequence[Any]] | None = None,
        variables: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if session is None:
            from wanbook._engine.default_session import session as default_session

            session = default_session()
        self.session = session
        prompts = [prompt] if isinstance(prompt, str) or prompt is None else list(prompt)
        models = [models] if isinstance(models, str) else list(models)
        if not models:
            raise ValueError("compare: models is empty; name at least one model")
        vary = {k: _axis_values(f"vary[{k!r}]", v) for k, v in (vary or {}).items()}
        variables = {k: _axis_values(f"vars[{k!r}]", v) for k, v in (variables or {}).items()}
        _check_axes(vary, variables, rows, cols)
        clash = sorted(set(vary) & set(params))
        if clash:
            raise ValueError(f"compare: {', '.join(clash)} given both as a value and in vary")
        seed_list = list(seeds) if seeds is not None else [draw_seed()]
        self.cells = _cells(prompts, models, seed_list, vary, variables)
        self.vary, self.variables = vary, variables
        params = dict(params)
        chosen = ("size", "resolution", "ratio")
        if all(params.get(k) is None for k in chosen) and not set(vary) & set(chosen):
            # like with like, and cheap: one size (or tier) for every model, the cheapest they share
            try:
                params.update(shared_setting(models))
            except ValueError as exc:
                raise ValueError(f"compare: {exc}") from None
        self.setting = _setting_words(params)
        titled = len(prompts) == 1 and prompts[0] is not None
        title = prompts[0] if titled else None
        self.layout: dict[str, Any] = {
            "rows": rows,
            "cols": cols,
            "title": " · ".join(t for t in (title, self.setting) if t) or None,
            "axes": [*AXES, *variables, *vary],
            "facets_skip": ["prompt"] if variables else [],
        }
        _frame([dict(c) for c in self.cells], self.layout).grid()  # axes must tell cells apart
        self.requests = [
            Request(
                model=c["model"],
                prompt=c["prompt"],
                seed=c["seed"],
                **params,
                **{k: c[k] for k in vary},
            )
            for c in self.cells
        ]
        # a run made from a template carries its variables as tags (the study report's axes)
        self.run_tags = [[f"var:{k}={c[k]}" for k in variables] for c in self.cells]
        self.results: list[tuple[Run | None, BaseException | None]] = [(None, None)] * len(
            self.cells
        )
        self.valid: list[int] = []
        self.preps: list[Prepared] = []  # of the valid cells: checked once, sent as they are
        for i, req in enumerate(self.requests):
            try:
                self.preps.append(session.prepare(with_seed(req), warn=False))
                self.valid.append(i)
            except (ValidationError, MediaError) as exc:
                self.results[i] = (None, exc)  # nothing sent; its cell says why

    def notes(self) -> list[str]:
        """The request warnings, one plain line each (models that share one are named together)."""
        said: dict[tuple[str, str], list[str]] = {}
        for prep in self.preps:
            for problem in prep.warnings:
                models = said.setdefault((problem.field, problem.message), [])
                if prep.request.model not in models:
                    models.append(prep.request.model)
        return [
            f"wanbook: compare: {', '.join(models)}: {field}: {message}"
            for (field, message), models in said.items()
        ]

    def summary(self) -> list[str]:
        """What is about to be sent, before anything is: its size by axis, the estimate by axis
        (per currency; unknown prices said), and every invalid cell with its reason."""
        sizes = " × ".join(
            f"{len(values)} {name}"
            for name, values in self._axis_values().items()
            if len(values) > 1
        )
        lines = [f"wanbook: compare: {len(self.cells)} cells ({sizes or 'one of each'})"]
        if self.preps:
            for name, values in self._axis_values().items():
                if len(values) < 2:
                    continue
                parts = []
                for value in values:
                    preps = [
                        p
                        for i, p in zip(self.valid, self.preps, strict=True)
                        if self.cells[i][name] == value
                    ]
                    parts.append(f"{value}: {_estimate_words(preps)}")
                lines.append(f"  estimate by {name}: " + "; ".join(parts))
            lines.append(f"  estimate in all: {_estimate_words(self.preps)}")
        varying = [a for a, values in self._axis_values().items() if len(values) > 1]
        for i, (_, error) in enumerate(self.results):
            if error is not None:
                cell = ", ".join(f"{k}={self.cells[i][k]}" for k in varying) or "the cell"
                lines.append(f"  not sent: {cell}: {_problem_words(error)}")
        return lines

    def dry_frame(self) -> pd.DataFrame:
        """The cells as they would be sent: axes, estimate, currency, and why a cell would not be."""
        import pandas as pd

        estimates = {i: p.estimate for i, p in zip(self.valid, self.preps, strict=True)}
        rows = []
        for i, cell in enumerate(self.cells):
            est = estimates.get(i)
            error = self.results[i][1]
            rows.append(
                {
                    **{a: cell[a] for a in self.layout["axes"]},
                    "estimate": est.amount if est is not None else math.nan,
                    "currency": est.currency if est is not None else None,
                    "error": error_words(error) if error is not None else None,
                }
            )
        return pd.DataFrame(rows)

    def _axis_values(self) -> dict[str, list[Any]]:
        names = [a for a in self.layout["axes"] if a not in self.layout["facets_skip"]]
        return {name: list(dict.fromkeys(c[name] for c in self.cells)) for name in names}

    def progress(self, show: bool | None) -> Progress:
        """The progress bar, made on the caller's thread (a notebook cell's output)."""
        quiet = show is False or (show is None and self.session.quiet)
        bar = Progress(len(self.cells), label="compare", quiet=quiet)
        for _ in range(len(self.cells) - len(self.valid)):
            bar.step(failed=True)
        return bar

    async def run(self, bar: Progress, experiment: str | None, tags: Iterable[str]) -> Any:
        """Run the valid requests through the session's batch engine; return the frame."""
        for line in self.notes():
            print(line, file=sys.stderr)
        batch = self.session.batch(
            prepared=self.preps,
            experiment=experiment,
            tags=tags,
            run_tags=[self.run_tags[i] for i in self.valid],
        )
        try:
            async for outcome in batch:
                self.results[self.valid[outcome.index]] = (outcome.run, outcome.error)
                run = outcome.run
                bar.step(failed=outcome.error is not None or run is None or not run.ok)
        except (asyncio.CancelledError, KeyboardInterrupt):
            batch.abort()  # stop sending; what was created is left for resume (one line says)
            raise
        finally:
            bar.close()
        rows = [_row(c, run, err) for c, (run, err) in zip(self.cells, self.results, strict=True)]
        return _frame(rows, self.layout)


def _say_plan(plan: _Plan, dry_run: bool) -> None:
    """Say what is about to be sent: for a study (vary or vars), or when asked (a dry run)."""
    if dry_run or plan.vary or plan.variables:
        for line in plan.summary():
            print(line)


async def acompare(
    prompt: str | Sequence[str],
    models: Sequence[str],
    seeds: Sequence[int | None] | None = None,
    *,
    vary: Mapping[str, Sequence[Any]] | None = None,
    vars: Mapping[str, Sequence[str]] | None = None,  # noqa: A002 (the name users write)
    rows: str = "model",
    cols: str = "seed",
    session: Session | None = None,
    experiment: str | None = None,
    tags: Iterable[str] = (),
    progress: bool | None = None,
    dry_run: bool = False,
    **params: Any,
) -> Any:
    """The async form of :func:`compare` (``await wb.acompare(...)``)."""
    plan = _Plan(session, prompt, models, seeds, rows, cols, params, vary, vars)
    _say_plan(plan, dry_run)
    if dry_run:
        return plan.dry_frame()
    return await plan.run(plan.progress(progress), experiment, tags)  # Session.batch reads it


def compare(
    prompt: str | Sequence[str],
    models: Sequence[str],
    seeds: Sequence[int | None] | None = None,
    *,
    vary: Mapping[str, Sequence[Any]] | None = None,
    vars: Mapping[str, Sequence[str]] | None = None,  # noqa: A002 (the name users write)
    rows: str = "model",
    cols: str = "seed",
    session: Session | None = None,
    experiment: str | None = None,
    tags: Iterable[str] = (),
    progress: bool | None = None,
    dry_run: bool = False,
    **params: Any,
) -> pd.DataFrame:
    """Generate ``prompt`` with every model × seed concurrently and return the grid of results.

    ``seeds`` default: one seed drawn at random and used for every model (a fair comparison whose
    seed is logged). ``prompt`` may be a list (then ``"prompt"`` is an axis too). Other keyword
    arguments (``size``, ``duration``, ``image`` ...) go to every request; a request one model
    cannot take fails in its own cell without being sent. ``progress``: True shows a progress bar
    (a line on stderr outside a notebook), False nothing; default: unless the session is quiet.
    Blocks until every run is over; under nbclient/papermill it needs no clicks.
    ``vary`` sweeps any request field: ``vary={"resolution": ["720P", "1080P"], "prompt_extend":
    [False, True]}`` makes each a further axis. ``vars`` fills a prompt template: with
    ``prompt="a {animal} at {time}"`` and ``vars={"animal": ["fox", "owl"], "time": ["dawn",
    "dusk"]}`` each variable is an axis (and each run is tagged ``var:animal=fox`` …, for
    ``wb.study_report``). ``rows`` and ``cols`` take any axis; the others that vary make facets (one
    grid per combination). With ``vary`` or ``vars``, the study's size and estimate by axis are
    printed before anything is sent, with every invalid cell and why; ``dry_run=True`` prints that
    and returns the cells (axes, estimate, currency, error) without sending anything.
    Returns a DataFrame (one row per cell: the axes, status, cost, currency, seconds, run_id,
    video_path, error ...) that displays as the grid; ``.grid(rows=..., cols=...)`` redraws it.
    """
    plan = _Plan(session, prompt, models, seeds, rows, cols, params, vary, vars)
    _say_plan(plan, dry_run)
    if dry_run:
        return plan.dry_frame()
    bar = plan.progress(progress)
    return run_sync(plan.run(bar, experiment, tags))
