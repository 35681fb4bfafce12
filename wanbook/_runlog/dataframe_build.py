"""Run log rows -> the typed DataFrame of ``_frames`` (see its docstring for the dtypes).

Why a module of its own: reading is where the time goes. Python's sqlite3 makes an object of every
cell (~0.7 s for the default view of 100,000 runs), so rows are fetched as one 2-D object array
(sliced per column, cheaper than transposing tuples), and each column is typed in one vectorised
step: times by ``pd.to_datetime`` (ISO 8601), categories from codes, JSON values that repeat
(tags, parameter sets) decoded once each. Cyclic GC is held off meanwhile (:func:`no_gc`).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from wanbook._runlog.store import COLUMNS, STATUSES

if TYPE_CHECKING:
    import pandas as pd

    from wanbook._runlog.store import RunLog

__all__ = ["CATEGORIES", "build", "fetch", "no_gc", "ordered", "pandas_3", "text_dtype"]

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
