"""The run log as a pandas DataFrame with proper dtypes, kept up to date between reads.

pandas is imported inside functions only, so ``import wanbook`` stays light. (The log as CSV,
JSON or a text table: ``export``.)

The DataFrame has one row per run, ordered by ``created_at`` (then ``run_id``), indexed by
``run_id``. Dtypes:

- times: ``datetime64[us, UTC]`` (NaT when not known);
- ``model``, ``status``, ``kind``, ``backend``, ``region``, ``tier``, ``currency``,
  ``estimate_currency``: ``category`` (``status`` always has every status as a category);
- ``seed``, pixel sizes, byte counts, ``pid``: nullable ``Int64``;
- money, seconds, ``fps``: ``float64``, NaN when unknown (a NULL cost is an unknown cost);
- ``has_audio``: nullable ``boolean``; text: pandas' default string dtype;
- ``tags``: a list per row; ``usage`` and ``request_body``: a dict per row (or None);
- ``params`` spread into ``param_<name>`` columns (sorted by name, where ``params`` would be;
  one for every parameter some run of the view has a value for): booleans ``boolean``,
  integers ``Int64``, other numbers ``float64``, text the string dtype, lists as tuples.

The default view (:data:`DEFAULT_COLUMNS`) leaves out the bookkeeping columns; ``columns="all"``
gives every column but ``seq``.

Speed: Python's sqlite3 turns each cell into an object, and typing the columns costs as much
again: building the default view of 100,000 runs from SQLite takes 1-2 s. So the default view is
kept, and only the runs changed since are read (the ``seq`` change counter kept by triggers,
m004): per :class:`RunLog` in memory, and across processes in ``<home>/runs.frame.npz``
(``_runlog.dataframe_cache``), written once a process has read at least :data:`PERSIST_MIN_ROWS` runs from
SQLite that the file lacks. A new process loads the file (~0.2-0.3 s for 100,000 runs) instead of
reading every run (``bench/runlog.py``).
The file is only a cache (~0.7 kB per run, the view's own text and numbers: nothing the log
does not hold): deleting it is always safe, and one that cannot be written is done without.

A kept copy as of change number ``seq`` is used only while it can still be brought up to date:
the run that had that ``seq`` (its *marker*) must still be in the log with that ``seq`` or a
higher one. Every insert or update takes a ``seq`` above the highest in the log, so while the
marker is there every change since has a higher ``seq`` and is read; once it is gone (deleted, or
the file replaced by another log or a backup), numbers may be given again, and everything is read
afresh. Rows deleted otherwise are caught by the row count. All of this happens in one read
transaction (:meth:`RunLog.snapshot`), so concurrent writers cannot slip a change between checks.

On PostgreSQL, ``seq`` comes from a sequence, and sequence numbers commit out of order: a writer
may take 41, another 42 and commit first, and a reader that saw 42 would never ask for 41. So the
copy is kept as of a *transaction watermark* instead: every write records its transaction's id
(``change_xid``, xid8, set by the trigger of m004), and a copy read in a snapshot whose oldest
still-running transaction was ``X`` (``pg_snapshot_xmin``) holds every change of transactions
below ``X``. Bringing it up to date reads the runs with ``change_xid >= X``: everything committed
since, and everything that was still running then (a few runs may be read twice; merging replaces
them). Deletions (made outside wanbook) are noted by a trigger with their transaction's id in
``_runs_deleted``; one at or above the watermark means everything is read again (SQLite counts
the runs instead). The copy is used only for the log it was made of (the time of its first migration, and a
watermark not beyond the server's next transaction id), and lives in
``<home>/runs-<database>.frame.npz`` (named by a hash of the URL, which holds no password).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wanbook._errors import RunLogError
from wanbook._runlog import dataframe_cache as _framestore
from wanbook._runlog.schema import COLUMNS, since_iso, where
from wanbook._runlog.store import STATUSES
from wanbook._spec.prices import canonical_model

if TYPE_CHECKING:
    import pandas as pd

    from wanbook._runlog.store import RunLog

__all__ = ["DEFAULT_COLUMNS", "runs_frame"]

# ------------------------------------------------------------------ rows -> typed columns
# Run log rows -> the typed DataFrame (see the module's docstring for the dtypes).
#
# Why a module of its own: reading is where the time goes. Python's sqlite3 makes an object of every
# cell (~0.7 s for the default view of 100,000 runs), so rows are fetched as one 2-D object array
# (sliced per column, cheaper than transposing tuples), and each column is typed in one vectorised
# step: times by ``pd.to_datetime`` (ISO 8601), categories from codes, JSON values that repeat
# (tags, parameter sets) decoded once each. Cyclic GC is held off meanwhile (:func:`no_gc`).

CATEGORIES = (
    "model",
    "status",
    "kind",
    "backend",
    "region",
    "tier",
    "currency",
    "estimate_currency",
)


@contextmanager
def no_gc() -> Iterator[None]:
    """Cyclic GC off while 100,000s of new tuples and lists are made: collections triggered by
    them would find nothing to free, and each one walks every object alive."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ------------------------------------------------------------------------- building a frame
def fetch(log: RunLog, names: Sequence[str], tail: str, params: Sequence[Any]) -> dict[str, Any]:
    """Columns run_id, seq, created_at and ``names`` of the selected runs: name -> object array
    (one 2-D array of the rows, sliced: cheaper than transposing the tuples)."""
    import numpy as np

    wanted = ["run_id", "seq", "created_at", *(n for n in names if n != "created_at")]
    sql = f"SELECT {', '.join(wanted)} FROM runs{tail}"
    if log.dialect == "postgresql":  # the binary format: numbers need no parsing
        _, rows = log.query(sql, params, binary=True)
    else:
        _, rows = log.query(sql, params)
    table = np.array(rows, dtype=object) if rows else np.empty((0, len(wanted)), dtype=object)
    return {name: table[:, i] for i, name in enumerate(wanted)}


def build(names: Sequence[str], raw: Mapping[str, Any]) -> pd.DataFrame:
    """The typed frame from fetched columns (see the module docstring), in canonical order."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {}
    for name in ("created_at", *names):
        values, kind = raw[name], COLUMNS[name]
        if name in data:
            continue
        if name == "params":
            data.update(_param_columns(values))
        elif kind == "time":
            times = pd.to_datetime(values, utc=True, format="ISO8601")
            data[name] = times.astype("datetime64[us, UTC]").array
        elif name in CATEGORIES:
            data[name] = _category(values, STATUSES if name == "status" else None)
        elif kind == "int":
            data[name] = pd.array(values, dtype="Int64")
        elif kind == "real":
            data[name] = np.array(values, dtype="float64")
        elif kind == "bool":
            data[name] = pd.array(values, dtype="boolean")
        elif kind == "json":
            data[name] = _json_column(values, name)
        else:
            data[name] = pd.array(values, dtype=text_dtype())
    index = pd.Index(np.asarray(raw["run_id"], dtype=object), name="run_id")
    frame = pd.DataFrame(data, index=index, columns=list(data), copy=False)
    return ordered(frame, names, data["created_at"])


def ordered(frame: pd.DataFrame, names: Sequence[str], created: Any = None) -> pd.DataFrame:
    """Columns in table order (param_* sorted, where params is; those with no value dropped);
    rows by created_at then run_id (``created``: the times, when not a column of ``frame``)."""
    import numpy as np
    import pandas as pd

    created = frame["created_at"].array if created is None else created
    params = sorted(c for c in frame.columns if c.startswith("param_") and _any_value(frame[c]))
    columns = [p for n in names for p in (params if n == "params" else [n])]
    if columns != list(frame.columns):
        frame = frame[columns]
    times = created.asi8  # int64 microseconds: quick to compare
    if len(times) > 1 and not (np.diff(times) > 0).all():  # not strictly increasing: sort
        keys = pd.DataFrame({"created": times, "run_id": frame.index.to_numpy()})
        frame = frame.iloc[keys.sort_values(["created", "run_id"], kind="stable").index]
    return frame


def _any_value(column: pd.Series) -> bool:
    """Whether ``column`` has a value somewhere; its two ends are looked at first (quick: a
    column of text needs a Python-level check per row)."""
    ends = (column.iloc[:1000], column.iloc[-1000:]) if len(column) > 2000 else ()
    return any(bool(part.notna().any()) for part in (*ends, column))


def text_dtype() -> Any:
    """pandas' own string dtype (pandas 3: ``str``, NaN when missing); object before pandas 3.
    Fixed, so a text column's dtype does not depend on whether any value is present."""
    import numpy as np
    import pandas as pd

    return pd.StringDtype(na_value=np.nan) if pandas_3() else object


def pandas_3() -> bool:
    """pandas 3 or later: copy-on-write always on, a string dtype by default."""
    import pandas as pd

    return int(pd.__version__.split(".")[0]) >= 3


def _category(values: Sequence[Any], categories: Sequence[str] | None) -> Any:
    """A categorical with sorted (or the given) categories, built from codes (fast)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    cats = list(categories) if categories is not None else sorted(uniques)
    position = {c: i for i, c in enumerate(cats)}
    remap = np.array([position[u] for u in uniques] + [-1], dtype=np.int32)
    return pd.Categorical.from_codes(remap[codes], categories=cats)


def _decode_distinct(values: Sequence[Any]) -> tuple[Any, list[Any]]:
    """(code per row, -1 for NULL; each distinct JSON text decoded once)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    return codes, [json.loads(u) for u in uniques]


def _json_column(values: Sequence[Any], name: str) -> Any:
    """tags: a tuple per row (made lists on the way out); usage, request_body: a dict or None."""
    import numpy as np

    codes, decoded = _decode_distinct(values)
    table = np.empty(len(decoded) + 1, dtype=object)  # one by one: tuples must not become 2-D
    for i, value in enumerate(decoded):
        table[i] = tuple(value) if name == "tags" else value
    table[-1] = () if name == "tags" else None  # code -1: NULL
    return table[codes]


def _param_columns(values: Sequence[Any]) -> dict[str, Any]:
    """``param_<name>`` columns: each distinct params text decoded once, spread by its codes."""
    import numpy as np

    codes, decoded = _decode_distinct(values)
    rows = np.where(codes < 0, len(decoded), codes)  # no params -> the None added at the end
    keys = sorted({key for d in decoded for key in d})
    return {f"param_{key}": _typed([d.get(key) for d in decoded] + [None], rows) for key in keys}


def _typed(per_unique: list[Any], rows: Any) -> Any:
    """One parameter's column: its distinct values typed, then taken for every row."""
    import numpy as np
    import pandas as pd

    types = {type(v) for v in per_unique if v is not None}
    if types and types <= {bool}:
        return pd.array(per_unique, dtype="boolean").take(rows)
    if types and types <= {int}:
        return pd.array(per_unique, dtype="Int64").take(rows)
    if types and types <= {int, float}:
        return np.array([np.nan if v is None else v for v in per_unique], dtype="float64")[rows]
    if types == {str}:
        return pd.array(np.array(per_unique, dtype=object), dtype=text_dtype()).take(rows)
    objects = np.empty(len(per_unique), dtype=object)
    for i, v in enumerate(per_unique):  # one by one: numpy would make a list of lists 2-D
        objects[i] = tuple(v) if isinstance(v, list) else v
    return objects[rows]


# ------------------------------------------------------------------ the kept view

# What a person looks for first comes first: pandas shows only the first and last ten columns of
# a wide frame, and status and cost must not be hidden behind "...".
DEFAULT_COLUMNS = (
    *("model", "status", "cost", "currency", "seed", "tier", "duration", "created_at"),
    *("experiment", "prompt", "error_message", "tags", "backend", "region", "kind"),
    *("negative_prompt", "params", "error_code", "task_id"),
    *("submit_time", "scheduled_time", "end_time", "queue_seconds", "run_seconds"),
    *("actual_prompt", "video_path", "width", "height", "has_audio"),
    *("billed_seconds", "estimate", "estimate_currency"),
    *("image_sha256", "fingerprint"),
)
# The copy on disk is written for logs of at least this many runs, once this many runs would
# otherwise have to be read from SQLite by the next process (~20 ms per 1,000 runs).
PERSIST_MIN_ROWS = 2000


# ------------------------------------------------------------------ the kept default view
def _concat(a: Any, b: Any) -> Any:
    """Two arrays of one dtype end to end."""
    import numpy as np

    if isinstance(a, np.ndarray):
        return np.concatenate([a, b])
    return type(a)._concat_same_type([a, b])


def _arrays(frame: pd.DataFrame) -> dict[str, Any]:
    """Each column's array (numpy columns as numpy arrays)."""
    import numpy as np

    out = {}
    for name in frame.columns:
        series = frame[name]
        out[name] = series.to_numpy() if isinstance(series.dtype, np.dtype) else series.array
    return out


def _all_missing(n: int, dtype: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(dtype, np.dtype):
        return np.full(n, np.nan if dtype.kind == "f" else None, dtype=dtype)
    return pd.array([None] * n, dtype=dtype)


def _without_unused(column: Any) -> Any:
    """A categorical without the categories no row has (counted: quicker than pandas' way)."""
    import numpy as np

    codes = np.asarray(column.codes)
    if np.bincount(codes[codes >= 0], minlength=len(column.categories)).all():
        return column
    return column.remove_unused_categories()


def _merge(base: pd.DataFrame, delta: pd.DataFrame) -> pd.DataFrame | None:
    """``base`` with the rows of ``delta`` replaced or added, column by column; None if a
    column's dtypes cannot agree (then the caller reads everything again)."""
    import numpy as np
    import pandas as pd

    keep = ~base.index.isin(delta.index)
    appended_only = bool(keep.all())
    olds, news = _arrays(base), _arrays(delta)
    data: dict[str, Any] = {}
    for name in [*base.columns, *(c for c in delta.columns if c not in base.columns)]:
        a, b = olds.get(name), news.get(name)
        if a is None:
            a = _all_missing(len(base), b.dtype)  # type: ignore[union-attr]
        if b is None:
            b = _all_missing(len(delta), a.dtype)
        if not appended_only:
            a = a[keep]
        if isinstance(a.dtype, pd.CategoricalDtype) and isinstance(b.dtype, pd.CategoricalDtype):
            if not a.categories.equals(b.categories):
                cats = a.categories.union(b.categories)
                a, b = a.set_categories(cats), b.set_categories(cats)
        elif a.dtype != b.dtype:
            if pd.isna(b).all():
                b = b.astype(a.dtype)
            elif pd.isna(a).all():
                a = a.astype(b.dtype)
            else:
                return None
        column = _concat(a, b)
        if isinstance(column.dtype, pd.CategoricalDtype) and name != "status":
            column = _without_unused(column)
        data[name] = column
    ids = [np.asarray(base.index if appended_only else base.index[keep], dtype=object)]
    index = pd.Index(np.concatenate([*ids, np.asarray(delta.index, dtype=object)]), name="run_id")
    return pd.DataFrame(data, index=index, copy=False)


@dataclass
class _Kept:
    """The default view of every run as of change number ``seq``."""

    seq: int
    marker: str | None  # the run_id of the run that had change number `seq` (None: seq 0)
    frame: pd.DataFrame
    saved_seq: int | None  # the seq of the copy on disk, if this process knows one


def _max_seq(seqs: Any) -> int:
    import numpy as np

    known = seqs[np.not_equal(seqs, np.array(None, dtype=object))]
    return int(known.max()) if len(known) else 0


def _marker(log: RunLog, seq: int) -> str | None:
    """The run_id of a run with change number ``seq`` (None for 0: an empty log). PostgreSQL:
    the log's identity (see :func:`_identity`) instead."""
    if log.dialect == "postgresql":
        return _identity(log)
    if seq == 0:
        return None
    _, rows = log.query("SELECT run_id FROM runs WHERE seq = ? ORDER BY run_id LIMIT 1", [seq])
    return str(rows[0][0]) if rows else None


def _identity(log: RunLog) -> str:
    """Which PostgreSQL log this is: its first migration's time (another log, or the same one
    made again, has another)."""
    _, rows = log.query("SELECT applied_at FROM _migrations WHERE name = 'm001_initial'")
    return f"m001 {rows[0][0]}" if rows else "m001 -"


def _watermark(log: RunLog) -> int:
    """PostgreSQL: the oldest transaction still running in this snapshot (every change of the
    transactions below it is visible, or was rolled back)."""
    _, rows = log.query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
    return int(rows[0][0])


def _usable(log: RunLog, seq: int, marker: str | None) -> bool:
    """Whether a copy as of ``seq`` can be brought up to date by reading the runs with a higher
    seq: its marker run is still there, with that seq or a later one (see the module doc).
    PostgreSQL: the copy is of this log, and its watermark is not beyond the server's next
    transaction (a log restored on another server numbers its transactions anew)."""
    if log.dialect == "postgresql":
        _, rows = log.query("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
        return marker == _identity(log) and seq <= int(rows[0][0])
    if marker is None:
        return seq == 0
    _, rows = log.query("SELECT seq FROM runs WHERE run_id = ?", [marker])
    return bool(rows) and isinstance(rows[0][0], int) and rows[0][0] >= seq


def _changed_since(log: RunLog) -> str:
    """The clause selecting the runs changed since a copy's ``seq`` (one parameter)."""
    return " WHERE change_xid >= ?::xid8" if log.dialect == "postgresql" else " WHERE seq > ?"


def _store_path(log: RunLog) -> Path:
    if log.path is None:  # PostgreSQL: in this machine's home, named by the database
        return log.home / f"runs-{log.db.target.identity}.frame.npz"
    return log.path.with_name(f"{log.path.stem}.frame.npz")


def _view_key() -> dict[str, Any]:
    """What a copy on disk must have been made for: this view, and this pandas (whose major
    version decides the text dtype)."""
    import pandas as pd

    return {"view": list(DEFAULT_COLUMNS), "pandas": pd.__version__.split(".")[0]}


def _from_disk(log: RunLog) -> _Kept | None:
    """The copy on disk, if there is one this log can be brought up to date from."""
    key = _view_key()

    def accept(meta: dict[str, Any]) -> bool:
        seq, marker = meta.get("seq"), meta.get("marker")
        return (
            all(meta.get(k) == v for k, v in key.items())
            and isinstance(seq, int)
            and (marker is None or isinstance(marker, str))
            and _usable(log, seq, marker)
        )

    loaded = _framestore.load(_store_path(log), accept)
    if loaded is None:
        return None
    meta, frame = loaded
    plain = [c for c in frame.columns if not str(c).startswith("param_")]
    if plain != [c for c in DEFAULT_COLUMNS if c != "params"] or frame.index.name != "run_id":
        return None
    return _Kept(meta["seq"], meta["marker"], frame, saved_seq=meta["seq"])


def _refreshed(log: RunLog, kept: _Kept) -> _Kept | None:
    """``kept`` with the runs changed since merged in; None if that cannot be done (then the
    caller reads everything)."""
    names = DEFAULT_COLUMNS
    postgres = log.dialect == "postgresql"
    if postgres:  # deleted since (or while it was read)? Noted by a trigger: no count needed
        deleted = "SELECT 1 FROM _runs_deleted WHERE at >= ?::xid8 LIMIT 1"
        if log.query(deleted, [str(kept.seq)])[1]:
            return None
    raw = fetch(log, names, _changed_since(log), [str(kept.seq) if postgres else kept.seq])
    frame, seq = kept.frame, kept.seq
    if len(raw["run_id"]):
        merged = _merge(frame, build(names, raw))
        if merged is None:
            return None
        frame = ordered(merged, names)
        seq = seq if postgres else max(seq, _max_seq(raw["seq"]))
    if postgres:
        seq = max(seq, _watermark(log))
    elif len(frame) != int(log.query("SELECT COUNT(*) FROM runs")[1][0][0]):
        return None  # some run was deleted
    marker = kept.marker if seq == kept.seq or postgres else _marker(log, seq)
    return _Kept(seq, marker, frame, kept.saved_seq)


def _current(log: RunLog) -> pd.DataFrame:
    """The default view of every run, up to date: the kept copy (in memory, or else on disk)
    plus what changed since; every run read afresh when there is no usable copy."""
    kept = log._frame_cache if isinstance(log._frame_cache, _Kept) else None
    postgres = log.dialect == "postgresql"
    with log.snapshot():
        if kept is not None and not _usable(log, kept.seq, kept.marker):
            kept = None
        if kept is None:
            kept = _from_disk(log)
        fresh = _refreshed(log, kept) if kept is not None else None
        if fresh is None:
            raw = fetch(log, DEFAULT_COLUMNS, "", [])
            frame = build(DEFAULT_COLUMNS, raw)
            seq = _watermark(log) if postgres else _max_seq(raw["seq"])
            fresh = _Kept(seq, _marker(log, seq), frame, saved_seq=None)
        unsaved = len(fresh.frame)
        if fresh.saved_seq is not None:
            saved = str(fresh.saved_seq) if postgres else fresh.saved_seq
            _, rows = log.query(f"SELECT COUNT(*) FROM runs{_changed_since(log)}", [saved])
            unsaved = int(rows[0][0])
    if len(fresh.frame) >= PERSIST_MIN_ROWS and unsaved >= max(1, PERSIST_MIN_ROWS):
        meta = {**_view_key(), "seq": fresh.seq, "marker": fresh.marker}
        _framestore.save(_store_path(log), fresh.frame, meta)
        fresh.saved_seq = fresh.seq  # written, or not writable: try again after as many changes
    log._frame_cache = fresh
    return fresh.frame


def _filtered(frame: pd.DataFrame, filters: Mapping[str, Any]) -> pd.DataFrame:
    """The same filters as :func:`wanbook._runlog.store.where`, applied to a frame."""
    import numpy as np
    import pandas as pd

    where(filters)  # the same checks and errors
    mask = np.ones(len(frame), dtype=bool)
    for name in ("experiment", "model", "status", "backend"):
        value = filters.get(name)
        if value is not None:
            values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
            if name == "model":
                values = [canonical_model(str(v)) for v in values]
            mask &= frame[name].isin(values).to_numpy(dtype=bool, na_value=False)
    if filters.get("since") is not None:
        since = pd.Timestamp(since_iso(filters["since"]))
        mask &= (frame["created_at"] >= since).to_numpy(dtype=bool, na_value=False)
    tags = filters.get("tag")
    if tags is not None:
        wanted = set(tags) if isinstance(tags, (list, tuple, set, frozenset)) else {tags}
        mask &= np.fromiter((wanted <= set(t) for t in frame["tags"]), bool, len(frame))
    return frame[mask] if not mask.all() else frame


def _lists(values: Any) -> Any:
    """A fresh list per row (an object array; numpy would make equal-length lists 2-D)."""
    import numpy as np

    return np.fromiter(map(list, values), dtype=object, count=len(values))


def runs_frame(
    log: RunLog, *, columns: str | Sequence[str] | None = None, **filters: Any
) -> pd.DataFrame:
    """The runs matching ``filters`` (experiment, model, status, since, tag, backend) as a
    DataFrame indexed by ``run_id``, oldest first. ``columns``: None (the default view, kept up
    to date per log), ``"all"``, or a list of column names (read afresh)."""
    with no_gc():
        if columns is None:
            kept = _current(log)
            frame = _filtered(kept, filters)
            some = len(frame) < len(kept)
            # Copy-on-write (pandas 3) keeps the caller's changes off the kept copy; before it,
            # a deep copy does.
            frame = (ordered(frame, DEFAULT_COLUMNS) if some else frame).copy(deep=not pandas_3())
            if some:  # the same shape as if only these runs were read
                for name in CATEGORIES:
                    if name != "status":
                        frame[name] = frame[name].cat.remove_unused_categories()
        else:
            names = _frame_columns(columns)
            clause, params = where(filters, log.dialect)
            frame = build(names, fetch(log, names, clause, params))
        if "tags" in frame.columns:  # fresh lists: nothing the caller does reaches the kept copy
            frame["tags"] = _lists(frame["tags"].to_numpy())
        for name in ("usage", "request_body"):
            if name in frame.columns:
                frame[name] = [dict(u) if u is not None else None for u in frame[name]]
    return frame


def _frame_columns(columns: str | Sequence[str]) -> list[str]:
    if columns == "all":
        return [c for c in COLUMNS if c not in ("run_id", "seq")]
    wanted = [columns] if isinstance(columns, str) else list(columns)
    unknown = [c for c in wanted if c not in COLUMNS or c in ("run_id", "seq")]
    if unknown:
        raise RunLogError(
            f"columns={unknown!r} are not run log columns; expected None, 'all' or names from "
            "docs/runlog-schema.md (run_id is the index)"
        )
    return list(dict.fromkeys(wanted))  # in the order given
