"""Views of the run log: a pandas DataFrame with proper dtypes, and CSV / JSON / text exports.

pandas is imported inside functions only, so ``import wanbook`` stays light.

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

Speed: Python's sqlite3 turns each cell into an object, ~0.1-0.2 µs apiece, so reading 100,000
runs costs about a second however it is written. The default view is therefore kept per
:class:`RunLog` and brought up to date from the runs changed since (the ``seq`` change counter
kept by triggers, m004): the first call in a process reads everything, later calls read only what
changed. JSON values that repeat (tags, usage, parameter sets) are decoded once each.
"""

from __future__ import annotations

import csv
import gc
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from wanbook._errors import RunLogError
from wanbook._pricing import canonical_model
from wanbook._runlog import COLUMNS, STATUSES, since_iso, where

if TYPE_CHECKING:
    import pandas as pd

    from wanbook._runlog import RunLog

__all__ = ["DEFAULT_COLUMNS", "EXPORT_FORMATS", "export", "runs_frame", "text_table"]

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
DEFAULT_COLUMNS = (
    *("created_at", "experiment", "tags", "backend", "region", "model", "kind", "prompt"),
    *("negative_prompt", "seed", "params", "status", "error_code", "error_message", "task_id"),
    *("submit_time", "scheduled_time", "end_time", "queue_seconds", "run_seconds"),
    *("actual_prompt", "video_path", "width", "height", "duration", "has_audio"),
    *("billed_seconds", "tier", "cost", "currency", "estimate", "estimate_currency"),
    *("image_sha256", "fingerprint"),
)
EXPORT_FORMATS = ("table", "csv", "json")
TABLE_COLUMNS = ("run_id", "created_at", "model", "status", "seed", "tier", "cost", "prompt")


# ------------------------------------------------------------------------- building a frame
def _fetch(log: RunLog, names: Sequence[str], tail: str, params: Sequence[Any]) -> dict[str, Any]:
    """Columns run_id, seq, created_at and ``names`` of the selected runs: name -> tuple."""
    wanted = ["run_id", "seq", "created_at", *(n for n in names if n != "created_at")]
    sql = f"SELECT {', '.join(wanted)} FROM runs{tail}"
    enabled = gc.isenabled()
    gc.disable()  # 100,000s of new tuples would trigger collections that find nothing
    try:
        _, rows = log.query(sql, params)
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(wanted)
    finally:
        if enabled:
            gc.enable()
    return dict(zip(wanted, columns, strict=True))


def _build(names: Sequence[str], raw: Mapping[str, Any]) -> pd.DataFrame:
    """The typed frame from fetched columns (see the module docstring), in canonical order."""
    import numpy as np
    import pandas as pd

    data: dict[str, Any] = {}
    for name in names:
        values, kind = raw[name], COLUMNS[name]
        if name == "params":
            data.update(_param_columns(values))
        elif kind == "time":
            series = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
            data[name] = series.astype("datetime64[us, UTC]").array
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
            data[name] = pd.array(np.array(values, dtype=object), dtype=_text_dtype())
    index = pd.Index(np.array(raw["run_id"], dtype=object), name="run_id")
    frame = pd.DataFrame(data, index=index, columns=list(data))
    return _ordered(frame, names, np.array(raw["created_at"], dtype=object))


def _ordered(frame: pd.DataFrame, names: Sequence[str], created: Any) -> pd.DataFrame:
    """Columns in table order (param_* sorted, where params is); rows by created_at then run_id
    (``created``: an array of the times, or of their stored texts, which sort as the times do)."""
    import pandas as pd

    params = sorted(c for c in frame.columns if c.startswith("param_") and frame[c].notna().any())
    columns = [p for n in names for p in (params if n == "params" else [n])]
    if columns != list(frame.columns):
        frame = frame[columns]
    times = pd.Index(created)
    if not (times.is_monotonic_increasing and times.is_unique):
        keys = pd.DataFrame({"created": times, "run_id": frame.index.to_numpy()})
        frame = frame.iloc[keys.sort_values(["created", "run_id"], kind="stable").index]
    return frame


def _text_dtype() -> Any:
    """pandas' own string dtype (pandas 3: ``str``, NaN when missing); object before pandas 3.
    Fixed, so a text column's dtype does not depend on whether any value is present."""
    import numpy as np
    import pandas as pd

    return pd.StringDtype(na_value=np.nan) if int(pd.__version__.split(".")[0]) >= 3 else object


def _category(values: Sequence[Any], categories: Sequence[str] | None) -> Any:
    """A categorical with sorted (or the given) categories, built from codes (fast)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(np.array(values, dtype=object), use_na_sentinel=True)
    cats = list(categories) if categories is not None else sorted(uniques)
    position = {c: i for i, c in enumerate(cats)}
    remap = np.array([position[u] for u in uniques] + [-1], dtype=np.int32)
    return pd.Categorical.from_codes(remap[codes], categories=cats)


def _decode_distinct(values: Sequence[Any]) -> tuple[Any, list[Any]]:
    """(code per row, -1 for NULL; each distinct JSON text decoded once)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(np.array(values, dtype=object), use_na_sentinel=True)
    return codes, [json.loads(u) for u in uniques]


def _json_column(values: Sequence[Any], name: str) -> list[Any]:
    """tags: a tuple per row (made lists on the way out); usage, request_body: a dict or None."""
    codes, decoded = _decode_distinct(values)
    if name == "tags":
        tags = [tuple(t) for t in decoded] + [()]
        return [tags[c] for c in codes]
    decoded.append(None)
    return [decoded[c] for c in codes]


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
        return pd.array(np.array(per_unique, dtype=object), dtype=_text_dtype()).take(rows)
    objects = np.empty(len(per_unique), dtype=object)
    for i, v in enumerate(per_unique):  # one by one: numpy would make a list of lists 2-D
        objects[i] = tuple(v) if isinstance(v, list) else v
    return objects[rows]


# ------------------------------------------------------------------ the cached default view
def _merge(base: pd.DataFrame, delta: pd.DataFrame) -> pd.DataFrame | None:
    """``base`` with the rows of ``delta`` replaced or added, column by column; None if a
    column's dtypes cannot agree (then the caller reads everything again)."""
    import numpy as np
    import pandas as pd

    keep = ~base.index.isin(delta.index)
    appended_only = bool(keep.all())
    data: dict[str, Any] = {}
    for name in [*base.columns, *(c for c in delta.columns if c not in base.columns)]:
        a = base[name].array if name in base.columns else None
        b = delta[name].array if name in delta.columns else None
        if a is None:
            a = pd.array([None] * len(base), dtype=b.dtype)  # type: ignore[union-attr]
        if b is None:
            b = pd.array([None] * len(delta), dtype=a.dtype)
        if not appended_only:
            a = a[keep]
        if isinstance(a.dtype, pd.CategoricalDtype) and isinstance(b.dtype, pd.CategoricalDtype):
            if not a.categories.equals(b.categories):  # type: ignore[attr-defined]
                cats = a.categories.union(b.categories)  # type: ignore[attr-defined]
                a, b = a.set_categories(cats), b.set_categories(cats)  # type: ignore[attr-defined]
        elif a.dtype != b.dtype:
            if b.isna().all():
                b = b.astype(a.dtype)
            elif a.isna().all():
                a = a.astype(b.dtype)
            else:
                return None
        column = pd.concat([pd.Series(a), pd.Series(b)], ignore_index=True).array
        if isinstance(column.dtype, pd.CategoricalDtype) and name != "status":
            column = column.remove_unused_categories()  # type: ignore[attr-defined]
        data[name] = column
    index = (
        base.index[keep].append(delta.index)
        if not appended_only
        else base.index.append(delta.index)
    )
    return pd.DataFrame(data, index=pd.Index(np.asarray(index, dtype=object), name="run_id"))


def _current(log: RunLog) -> pd.DataFrame:
    """The default view of every run, up to date: the kept copy plus what changed since."""
    names = DEFAULT_COLUMNS
    kept = getattr(log, "_frame_cache", None)
    if kept is not None:
        seq, frame = kept
        raw = _fetch(log, names, " WHERE seq > ?", [seq])
        total = int(log.query("SELECT COUNT(*) FROM runs")[1][0][0])
        if raw["run_id"]:
            merged = _merge(frame, _build(names, raw))
            frame = None
            if merged is not None:
                frame = _ordered(merged, names, merged["created_at"].array)
            seq = max(seq, *raw["seq"])
        if frame is not None and len(frame) == total:
            log._frame_cache = (seq, frame)
            return frame
    raw = _fetch(log, names, "", [])
    frame = _build(names, raw)
    log._frame_cache = (max(raw["seq"], default=0), frame)
    return frame


def _filtered(frame: pd.DataFrame, filters: Mapping[str, Any]) -> pd.DataFrame:
    """The same filters as :func:`wanbook._runlog.where`, applied to a frame."""
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


def runs_frame(
    log: RunLog, *, columns: str | Sequence[str] | None = None, **filters: Any
) -> pd.DataFrame:
    """The runs matching ``filters`` (experiment, model, status, since, tag, backend) as a
    DataFrame indexed by ``run_id``, oldest first. ``columns``: None (the default view, kept up
    to date per log), ``"all"``, or a list of column names (read afresh)."""
    if columns is None:
        kept = _current(log)
        frame = _filtered(kept, filters)
        if len(frame) < len(kept):  # the same shape as if only these runs were read
            frame = _ordered(frame, DEFAULT_COLUMNS, frame["created_at"].array).copy()
            for name in CATEGORIES:
                if name != "status":
                    frame[name] = frame[name].cat.remove_unused_categories()
        frame = frame.copy()
    else:
        names = _frame_columns(columns)
        clause, params = where(filters)
        frame = _build(names, _fetch(log, names, clause, params))
    if "tags" in frame.columns:  # fresh lists: nothing the caller does reaches the cached copy
        frame["tags"] = list(map(list, frame["tags"]))
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


# ---------------------------------------------------------------------------------- exports
def export(
    log: RunLog,
    fmt: str,
    file: IO[str] | str | Path | None = None,
    *,
    limit: int | None = None,
    **filters: Any,
) -> str:
    """The runs as text: ``csv`` (every column, JSON columns as JSON text), ``json`` (an array of
    run objects, JSON columns decoded) or ``table`` (the main columns, for people), oldest first
    (``limit``: the newest N). Written to ``file`` (an open text file or a path) when given; the
    text is returned either way."""
    if fmt not in EXPORT_FORMATS:
        raise RunLogError(
            f"format={fmt!r} is not allowed; expected one of {', '.join(EXPORT_FORMATS)}"
        )
    records = log.runs(limit=limit, **filters)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _csv_value(record.get(k), COLUMNS[k]) for k in COLUMNS})
        text = buffer.getvalue()
    elif fmt == "json":
        text = "[" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "]\n"
    else:
        text = text_table(records)
    if isinstance(file, (str, Path)):
        Path(file).write_text(text, encoding="utf-8", newline="")
    elif file is not None:
        file.write(text)
    return text


def _csv_value(value: Any, kind: str) -> Any:
    """A CSV cell: JSON columns as compact JSON text, booleans as true/false, NULL as empty."""
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if kind == "bool":
        return "true" if value else "false"
    return value


def _cell(record: Mapping[str, Any], column: str) -> str:
    value = record.get(column)
    if column == "created_at" and value:
        return str(value)[:16].replace("T", " ")
    if column == "cost":
        if value is None:
            return "unknown" if record.get("status") == "SUCCEEDED" else "-"
        return f"{value:.4f} {record.get('currency') or ''}".rstrip()
    if column == "prompt" and value:
        flat = " ".join(str(value).split())
        return flat if len(flat) <= 40 else flat[:39] + "…"
    return "-" if value is None else str(value)


def text_table(records: Sequence[Mapping[str, Any]], columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """A compact fixed-width table of ``records`` (times in UTC), one line per run."""
    if not records:
        return "no runs\n"
    cells = [[_cell(r, c) for c in columns] for r in records]
    heads = [c.replace("created_at", "created (UTC)") for c in columns]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
    lines = [heads, *cells]
    return (
        "\n".join(
            "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        )
        + "\n"
    )
