"""The DataFrame view of the run log kept on disk, so that a new process need not rebuild it.

Why: Python's sqlite3 makes an object of every cell and typing the columns takes as long again, so
building the default view of 100,000 runs from SQLite takes 1-2 s, in every new kernel. Loading
the typed columns from a file takes about a tenth of that. ``_runlog.dataframe`` decides when to write the
file and whether what it holds still describes the log; this module only turns a frame into plain
numpy arrays and back (pure) and reads and writes the file.

The file is ``<home>/runs.frame.npz``: an uncompressed ``numpy.savez`` archive, read with
``allow_pickle=False`` (no object arrays, so loading it runs no code). One member ``meta`` holds
JSON (the format number, the column kinds, and whatever the caller adds); each column is one to
three arrays:

- ``time`` (``datetime64[us, UTC]``): int64 microseconds, NaT as numpy's NaT;
- ``category``: the codes, and the categories as JSON text;
- ``Int64`` / ``boolean``: the values and the missing mask;
- ``numpy``: the array as it is (float64, ...);
- ``str`` (pandas' string dtype with NaN): the missing mask and the other values joined by NUL
  (``str.split`` makes 100,000 strings fastest; a JSON array if a value holds a NUL), each value
  once plus codes when a sample shows the column repeats itself (experiment, parameters);
- ``object``: codes into a JSON array of the distinct values, told apart by their JSON text;
  lists at the top level come back as tuples, which is how the view holds tags and list
  parameters.

A frame with a column of any other kind, or a value JSON cannot hold, is not written (returns
False): the log works without the file. Writes go to a temporary file renamed over the old one,
so a reader sees the old file or the new one, never part of one; a damaged file reads as None.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zipfile import BadZipFile

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["FORMAT", "decode_frame", "encode_frame", "load", "save"]

FORMAT = 1
_SEP = "\x00"  # between the values of a text column (unless one holds it: then JSON)
_STALE_TEMP_S = 3600.0  # a temporary file this old was left by a writer that died


class Unsupported(ValueError):
    """A column this format does not hold (the frame is then not written)."""


# ------------------------------------------------------------------------ pure: frame <-> arrays
def _text_to_array(text: str) -> np.ndarray:
    import numpy as np

    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _array_to_text(array: np.ndarray) -> str:
    return array.tobytes().decode("utf-8")


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise Unsupported(f"a value JSON cannot hold: {exc}") from None


def _strings_to_parts(strings: list[str]) -> dict[str, np.ndarray]:
    """Text values as bytes quick to read back: joined by NUL (``split`` is fast), or as a JSON
    array if some value holds a NUL."""
    import numpy as np

    joined = _SEP.join(strings)
    count = np.array([len(strings)], dtype=np.int64)
    if joined.count(_SEP) == max(len(strings) - 1, 0):
        return {"n": count, "t": _text_to_array(joined)}
    return {"n": count, "j": _text_to_array(_json(strings))}


def _parts_to_strings(parts: Mapping[str, np.ndarray]) -> list[str]:
    if "j" in parts:
        return list(json.loads(_array_to_text(parts["j"])))
    return _array_to_text(parts["t"]).split(_SEP) if parts["n"][0] else []


def _repetitive(strings: list[str]) -> bool:
    """Whether a text column repeats its values (then worth storing each once, with codes):
    judged from a sample, as counting every distinct value of a column of prompts is slow."""
    sample = strings[:: max(1, len(strings) // 1000)]
    return len(set(sample)) * 2 < len(sample)


def _object_codes(values: Any) -> tuple[np.ndarray | None, str]:
    """(code per row or None for one value per row, JSON array of the distinct values). Values
    are told apart by their JSON text, so True, 1 and 1.0 stay three values (pandas' factorize
    would make them one)."""
    import numpy as np

    if all(type(v) is str for v in values):  # the index and text before pandas 3: fast path
        return None, _json(values.tolist())
    # Equal tags share one tuple in the view: find the distinct objects by identity first
    # (vectorised), then turn only those into JSON.
    ids = np.fromiter(map(id, values), dtype=np.uint64, count=len(values))
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    texts: dict[str, int] = {}
    code_of = [texts.setdefault(_json(values[i]), len(texts)) for i in first.tolist()]
    codes = np.asarray(code_of, dtype=np.int64)[inverse.reshape(-1)]
    return codes, "[" + ",".join(texts) + "]"


def _encode_column(values: Any) -> tuple[str, dict[str, np.ndarray]]:
    """(kind, arrays) of one column (a Series or an Index); raises Unsupported."""
    import numpy as np
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        if str(dtype) != "datetime64[us, UTC]":
            raise Unsupported(f"times of dtype {dtype}")
        naive = values.array.tz_localize(None).to_numpy()
        return "time", {"v": naive.view(np.int64)}
    if isinstance(dtype, pd.CategoricalDtype):
        if dtype.ordered or not all(isinstance(c, str) for c in dtype.categories):
            raise Unsupported(f"categories {list(dtype.categories)[:5]!r}")
        codes = np.asarray(values.array.codes)
        return "category", {"k": codes, "u": _text_to_array(_json(list(dtype.categories)))}
    if isinstance(dtype, (pd.Int64Dtype, pd.BooleanDtype)):
        numpy_type = np.int64 if isinstance(dtype, pd.Int64Dtype) else np.bool_
        filler = 0 if numpy_type is np.int64 else False
        return str(dtype), {
            "v": values.to_numpy(dtype=numpy_type, na_value=filler),
            "m": np.asarray(values.isna(), dtype=bool),
        }
    if isinstance(dtype, pd.StringDtype):
        if not (isinstance(dtype.na_value, float) and np.isnan(dtype.na_value)):
            raise Unsupported(f"strings of dtype {dtype!r}")
        objects = values.to_numpy(dtype=object)
        missing = np.asarray(pd.isna(objects), dtype=bool)
        strings = objects[~missing].tolist()
        if not _repetitive(strings):
            return "str", {"m": missing, **_strings_to_parts(strings)}
        codes, uniques = pd.factorize(np.asarray(strings, dtype=object))
        return "str", {"m": missing, "k": codes, **_strings_to_parts(uniques.tolist())}
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return "numpy", {"v": np.asarray(values)}
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        object_codes, uniques = _object_codes(np.asarray(values, dtype=object))
        parts = {"u": _text_to_array(uniques)}
        return "object", parts if object_codes is None else {**parts, "k": object_codes}
    raise Unsupported(f"a column of dtype {dtype}")


def _decode_column(kind: str, parts: Mapping[str, np.ndarray]) -> Any:
    """The array that ``_encode_column`` turned into ``parts``."""
    import numpy as np
    import pandas as pd

    if kind == "time":
        return pd.array(parts["v"].view("datetime64[us]")).tz_localize("UTC")
    if kind == "category":
        categories = json.loads(_array_to_text(parts["u"]))
        return pd.Categorical.from_codes(parts["k"], categories=categories)
    if kind == "Int64":
        return pd.arrays.IntegerArray(parts["v"], parts["m"])
    if kind == "boolean":
        return pd.arrays.BooleanArray(parts["v"], parts["m"])
    if kind == "numpy":
        return parts["v"]
    if kind == "str":
        missing = parts["m"]
        strings = _parts_to_strings(parts)
        present = np.fromiter(strings, dtype=object, count=len(strings))
        if "k" in parts:
            present = present[parts["k"]]
        if len(present) < len(missing):
            values = np.full(len(missing), np.nan, dtype=object)
            values[~missing] = present
        else:
            values = present
        return pd.array(values, dtype=pd.StringDtype(na_value=np.nan))
    if kind == "object":  # one by one (fromiter): numpy would make a list of lists 2-D
        uniques = json.loads(_array_to_text(parts["u"]))
        objects = (tuple(v) if type(v) is list else v for v in uniques)
        table = np.fromiter(objects, dtype=object, count=len(uniques))
        return table[parts["k"]] if "k" in parts else table
    raise Unsupported(f"a column kind {kind!r}")


def encode_frame(frame: pd.DataFrame, meta: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Arrays for ``numpy.savez``: member ``meta`` (``meta`` plus the layout) and the columns and
    index. Raises Unsupported for a column it cannot hold."""
    if not frame.columns.is_unique:
        raise Unsupported("duplicate column names")
    arrays: dict[str, np.ndarray] = {}
    kinds = []
    for i, (name, series) in enumerate([("", frame.index), *frame.items()]):
        kind, parts = _encode_column(series)
        kinds.append([str(name), kind])
        arrays.update({f"{i}.{key}": array for key, array in parts.items()})
    layout = {**meta, "format": FORMAT, "index": frame.index.name, "columns": kinds}
    arrays["meta"] = _text_to_array(json.dumps(layout))
    return arrays


def decode_meta(arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    meta = json.loads(_array_to_text(arrays["meta"]))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise Unsupported(f"format {meta.get('format') if isinstance(meta, dict) else meta!r}")
    return meta


def decode_frame(arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> pd.DataFrame:
    """The frame that ``encode_frame`` turned into ``arrays`` (``meta``: its ``decode_meta``)."""
    import pandas as pd

    columns: list[Any] = []
    for i, (_, kind) in enumerate(meta["columns"]):
        prefix = f"{i}."
        parts = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        columns.append(_decode_column(kind, parts))
    names = [name for name, _ in meta["columns"][1:]]
    index = pd.Index(columns[0], name=meta["index"])
    data = dict(zip(names, columns[1:], strict=True))
    return pd.DataFrame(data, index=index, columns=names, copy=False)


# ------------------------------------------------------------------------------- the file
def load(
    path: Path, accept: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], pd.DataFrame] | None:
    """(meta, frame) from ``path`` if its meta is ``accept``-ed (checked before the columns are
    read); None when there is no such file, it is damaged or of another format, or not accepted."""
    import numpy as np

    try:  # the file opened here, not by numpy, which leaves it open when the archive is bad
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as archive:
            meta = decode_meta(archive)
            if not accept(meta):
                return None
            arrays = {name: archive[name] for name in archive.files}
            return meta, decode_frame(arrays, meta)
    except (OSError, ValueError, LookupError, TypeError, AttributeError, EOFError, BadZipFile):
        return None  # none, damaged or foreign: the caller builds the frame from the log


def save(path: Path, frame: pd.DataFrame, meta: Mapping[str, Any]) -> bool:
    """Write ``frame`` to ``path`` atomically; False (and nothing written) if it cannot be."""
    import numpy as np

    _remove_stale_temps(path)
    temp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    try:  # first, so that a folder we may not write to costs no encoding
        file = open(temp, "xb")  # noqa: SIM115 - closed below; "x": never someone else's file
    except OSError:
        return False
    try:
        with file:
            np.savez(file, **encode_frame(frame, meta))  # type: ignore[arg-type]  # numpy's stub: allow_pickle
        os.replace(temp, path)
    except (OSError, ValueError, TypeError):  # Unsupported and UnicodeEncodeError included
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return False
    return True


def _remove_stale_temps(path: Path) -> None:
    """Temporary files a writer left when it died (never those being written: they are new)."""
    now = time.time()
    for temp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - temp.stat().st_mtime > _STALE_TEMP_S:
                temp.unlink()
