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
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wanbook._errors import MediaError, ValidationError
from wanbook._notebook.form.logic import draw_seed
from wanbook._notebook.html import error_words, grid_html, status_words
from wanbook._notebook.progress import Progress
from wanbook._portal import run_sync
from wanbook._runlog.schema import parse_time
from wanbook._spec.request import Request

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
            )

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
    """A comparison drawn as a table: one row per value of ``rows``, one column per ``cols``."""

    def __init__(
        self, frame: Any, *, rows: str, cols: str, title: str | None = None, embed: bool = False
    ) -> None:
        for axis in (rows, cols):
            if axis not in frame.columns:
                raise ValueError(f"grid axis {axis!r} is not a column; choose from {list(AXES)}")
        keys = list(zip(frame[rows], frame[cols], strict=True))
        if len(set(keys)) != len(keys):
            varying = [a for a in AXES if a not in (rows, cols) and frame[a].nunique() > 1]
            raise ValueError(
                f"rows={rows!r} × cols={cols!r} do not tell the runs apart "
                f"({', '.join(varying) or 'some cells repeat'} varies too); choose those axes"
            )
        self.frame, self.rows, self.cols, self.title, self.embed = frame, rows, cols, title, embed

    def _repr_html_(self) -> str:
        from wanbook._notebook.display import run_cell

        cells = {}
        for row in self.frame.to_dict("records"):
            record = {k: _plain(v) for k, v in row.items()}
            error = record.get("error")
            cells[(record[self.rows], record[self.cols])] = run_cell(
                record if record.get("run_id") else None, error=error, embed=self.embed
            )
        return grid_html(
            cells,
            _unique(self.frame[self.rows]),
            _unique(self.frame[self.cols]),
            row_title=self.rows,
            col_title=self.cols,
            title=self.title,
        )


def _plain(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, list | tuple | dict):
        return value
    return None if pd.isna(value) else value


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(_plain(v) for v in values))


def _cells(
    prompts: Sequence[str], models: Sequence[str], seeds: Sequence[int | None]
) -> list[dict[str, Any]]:
    return [
        {"prompt": p, "model": m, "seed": s}
        for p, m, s in itertools.product(prompts, models, seeds)
    ]


def _row(cell: Mapping[str, Any], run: Run | None, error: BaseException | None) -> dict[str, Any]:
    """One row of the comparison: the cell's axes, the run's outcome, its cost and time."""
    row: dict[str, Any] = {k: None for k in COLUMNS}
    row.update(cell)
    if run is not None:
        r = run.record
        for key in COLUMNS:
            if key in r and key not in AXES:
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

    frame = _comparison_class()(pd.DataFrame(rows, columns=list(COLUMNS)))
    for name in ("seed", "width", "height"):
        frame[name] = frame[name].astype("Int64")
    for name in ("cost", "seconds", "queue_seconds", "run_seconds", "duration"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame.layout = layout
    return frame


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
    ) -> None:
        if session is None:
            from wanbook._engine.default_session import session as default_session

            session = default_session()
        self.session = session
        prompts = [prompt] if isinstance(prompt, str) or prompt is None else list(prompt)
        models = [models] if isinstance(models, str) else list(models)
        if not models:
            raise ValueError("compare: models is empty; name at least one model")
        for axis in (rows, cols):
            if axis not in AXES:
                raise ValueError(f"compare: {axis!r} is not an axis; choose from {', '.join(AXES)}")
        seed_list = list(seeds) if seeds is not None else [draw_seed()]
        self.cells = _cells(prompts, models, seed_list)
        self.layout = {
            "rows": rows,
            "cols": cols,
            "title": prompts[0] if len(prompts) == 1 else None,
        }
        _frame([dict(c) for c in self.cells], self.layout).grid()  # axes must tell cells apart
        self.requests = [
            Request(model=c["model"], prompt=c["prompt"], seed=c["seed"], **params)
            for c in self.cells
        ]
        self.results: list[tuple[Run | None, BaseException | None]] = [(None, None)] * len(
            self.cells
        )
        self.valid: list[int] = []
        self.preps: list[Prepared] = []  # of the valid cells: checked once, sent as they are
        for i, req in enumerate(self.requests):
            try:
                self.preps.append(session.prepare(req, warn=False))
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

    def progress(self, show: bool | None) -> Progress:
        """The progress bar, made on the caller's thread (a notebook cell's output)."""
        quiet = show is False or (show is None and self.session.quiet)
        bar = Progress(len(self.cells), label="compare", quiet=quiet)
        for _ in range(len(self.cells) - len(self.valid)):
            bar.step(failed=True)
        return bar

    async def run(self, bar: Progress, experiment: str | None, tags: list[str]) -> Any:
        """Run the valid requests through the session's batch engine; return the frame."""
        for line in self.notes():
            print(line, file=sys.stderr)
        batch = self.session.batch(prepared=self.preps, experiment=experiment, tags=tags)
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


async def acompare(
    prompt: str | Sequence[str],
    models: Sequence[str],
    seeds: Sequence[int | None] | None = None,
    *,
    rows: str = "model",
    cols: str = "seed",
    session: Session | None = None,
    experiment: str | None = None,
    tags: Iterable[str] = (),
    progress: bool | None = None,
    **params: Any,
) -> Any:
    """The async form of :func:`compare` (``await wb.acompare(...)``)."""
    plan = _Plan(session, prompt, models, seeds, rows, cols, params)
    return await plan.run(plan.progress(progress), experiment, list(tags))


def compare(
    prompt: str | Sequence[str],
    models: Sequence[str],
    seeds: Sequence[int | None] | None = None,
    *,
    rows: str = "model",
    cols: str = "seed",
    session: Session | None = None,
    experiment: str | None = None,
    tags: Iterable[str] = (),
    progress: bool | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Generate ``prompt`` with every model × seed concurrently and return the grid of results.

    ``seeds`` default: one seed drawn at random and used for every model (a fair comparison whose
    seed is logged). ``prompt`` may be a list (then ``"prompt"`` is an axis too). ``rows`` and
    ``cols`` choose the grid's axes among "model", "seed" and "prompt". Other keyword arguments
    (``size``, ``duration``, ``image`` ...) go to every request; a request one model cannot take
    fails in its own cell without being sent. ``progress``: True shows a progress bar (a line
    on stderr outside a notebook), False nothing; default: unless the session is quiet. Blocks until every run is over; under nbclient/papermill it needs no clicks.

    Returns a DataFrame (one row per cell: the axes, status, cost, currency, seconds, run_id,
    video_path, error ...) that displays as the grid; ``.grid(rows=..., cols=...)`` redraws it.
    """
    plan = _Plan(session, prompt, models, seeds, rows, cols, params)
    bar = plan.progress(progress)
    return run_sync(plan.run(bar, experiment, list(tags)))
