"""The DataFrame view on disk: every column kind round-trips exactly; bad files read as None."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from wanbook._runlog import dataframe_cache as _framestore
from wanbook._runlog.dataframe_cache import decode_frame, decode_meta, encode_frame, load, save

TEXT = pd.StringDtype(na_value=np.nan)
N = 6  # rows of every test column


def objects(*values: Any) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # one by one: tuples must stay elements
        out[i] = v
    return out


def times(*texts: str | None) -> Any:
    return pd.array(pd.to_datetime(list(texts), utc=True, format="ISO8601")).astype(
        "datetime64[us, UTC]"
    )


COLUMNS: dict[str, Any] = {
    "time": times(
        "2026-01-01T00:00:00.000001+00:00", None, "1999-12-31T23:59:59.999999+00:00", *[None] * 3
    ),
    "time, none known": times(*[None] * N),
    "category": pd.Categorical(["b", None, "a", "b", "b", "a"], categories=["a", "b"]),
    "category, unused ones": pd.Categorical.from_codes([0, 0, -1, 0, 0, 0], ["DONE", "NEW"]),
    "category, none known": pd.Categorical.from_codes([-1] * N, categories=[]),
    "Int64": pd.array([1, None, 2**62, -5, 0, None], dtype="Int64"),
    "boolean": pd.array([True, None, False, True, None, False], dtype="boolean"),
    "float64": np.array([0.1, np.nan, np.inf, -0.0, 1e-300, 2.5]),
    "text": pd.array(["a", np.nan, "", "naïve ✓", "b", "a"], dtype=TEXT),
    "text, a NUL inside": pd.array(["x\x00y", np.nan, "z", "", "\x00", "q"], dtype=TEXT),
    "text, repeated": pd.array(["e1", "e2", "e1", "e1", np.nan, "e1"], dtype=TEXT),
    "text, none known": pd.array([np.nan] * N, dtype=TEXT),
    "text, all empty": pd.array([""] * N, dtype=TEXT),
    "objects": objects(("a", "b"), (), None, {"k": [1, 2]}, ([1], [2]), "s"),
    "objects, True 1 1.0": objects(True, 1, 1.0, None, np.nan, 1),
    "objects, shared tuples": objects(*[("bench", "batch-1")] * 3, *[("x",)] * 3),
}
INDEX = pd.Index(np.array([f"r{i}" for i in range(N)], dtype=object), name="run_id")


def round_trip(frame: pd.DataFrame, meta: dict[str, Any] | None = None) -> pd.DataFrame:
    arrays = encode_frame(frame, meta or {})
    assert all(a.dtype != object for a in arrays.values())  # loadable without pickle
    return decode_frame(arrays, decode_meta(arrays))


@pytest.mark.parametrize("name", list(COLUMNS))
def test_each_kind_of_column_comes_back_exactly(name: str) -> None:
    frame = pd.DataFrame({name: COLUMNS[name]}, index=INDEX)
    back = round_trip(frame)
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    if frame[name].dtype == object:  # equal is not enough: True, 1 and 1.0 stay themselves
        assert [type(v) for v in back[name]] == [type(v) for v in frame[name]]
        assert [repr(v) for v in back[name]] == [repr(v) for v in frame[name]]


def test_a_frame_of_every_kind_and_an_empty_one() -> None:
    frame = pd.DataFrame(COLUMNS, index=INDEX)
    pd.testing.assert_frame_equal(round_trip(frame), frame, check_exact=True)
    empty = frame.iloc[:0]
    pd.testing.assert_frame_equal(round_trip(empty), empty, check_exact=True)


def test_the_meta_is_kept_beside_the_layout() -> None:
    arrays = encode_frame(pd.DataFrame({"a": [1.0]}), {"seq": 7, "marker": "r1"})
    meta = decode_meta(arrays)
    assert (meta["seq"], meta["marker"], meta["format"]) == (7, "r1", _framestore.FORMAT)


UNSUPPORTED = {
    "naive times": pd.array(pd.to_datetime(["2026-01-01"] * N)),
    "ordered categories": pd.Categorical(["a"] * N, ordered=True),
    "periods": pd.period_range("2026-01", periods=N, freq="M"),
    "a set": objects({1}, *[None] * (N - 1)),
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_a_column_it_cannot_hold_is_not_written(name: str, tmp_path: Path) -> None:
    path = tmp_path / "runs.frame.npz"
    frame = pd.DataFrame({name: UNSUPPORTED[name]}, index=INDEX)
    assert save(path, frame, {}) is False
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left


def good_file(path: Path, seq: int = 1) -> pd.DataFrame:
    frame = pd.DataFrame(COLUMNS, index=INDEX)
    assert save(path, frame, {"seq": seq})
    return frame


def test_save_then_load(tmp_path: Path) -> None:
    path = tmp_path / "runs.frame.npz"
    frame = good_file(path)
    seen: list[dict[str, Any]] = []
    loaded = load(path, lambda meta: seen.append(meta) or True)
    assert loaded is not None and loaded[0]["seq"] == 1 == seen[0]["seq"]
    pd.testing.assert_frame_equal(loaded[1], frame, check_exact=True)
    good_file(path, seq=2)  # replaced as a whole
    assert load(path, lambda meta: True)[0]["seq"] == 2  # type: ignore[index]
    assert [p.name for p in tmp_path.iterdir()] == ["runs.frame.npz"]


def test_a_meta_not_accepted_reads_no_columns(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "runs.frame.npz"
    good_file(path)
    monkeypatch.setattr(_framestore, "decode_frame", lambda *a: pytest.fail("columns read"))
    assert load(path, lambda meta: False) is None


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(b"not a zip file at all" * 10)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "flipped byte":  # inside a member: zip's CRC check catches it
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    elif how == "other format":
        arrays = encode_frame(pd.DataFrame({"a": [1.0]}), {})
        arrays["meta"] = np.frombuffer(b'{"format": 999}', dtype=np.uint8)
        with path.open("wb") as f:
            np.savez(f, **arrays)
    elif how == "a member missing":
        arrays = encode_frame(pd.DataFrame(COLUMNS, index=INDEX), {})
        del arrays["1.v"]
        with path.open("wb") as f:
            np.savez(f, **arrays)
    elif how == "a plain .npy":
        with path.open("wb") as f:
            np.save(f, np.arange(3))
    elif how == "a folder":
        path.unlink()
        path.mkdir()


HOW = ["truncated", "garbage", "empty", "flipped byte", "other format", "a member missing"]


@pytest.mark.parametrize("how", [*HOW, "a plain .npy", "a folder"])
def test_a_damaged_or_foreign_file_reads_as_none(tmp_path: Path, how: str) -> None:
    path = tmp_path / "runs.frame.npz"
    good_file(path)
    damage(path, how)
    assert load(path, lambda meta: True) is None
    assert load(tmp_path / "absent.npz", lambda meta: True) is None


def test_a_place_that_cannot_be_written_gives_false(tmp_path: Path) -> None:
    (tmp_path / "runs.frame.npz").mkdir()  # os.replace cannot put a file there
    assert save(tmp_path / "runs.frame.npz", pd.DataFrame({"a": [1.0]}), {}) is False
    assert [p.name for p in tmp_path.iterdir()] == ["runs.frame.npz"]  # the temporary removed
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    assert save(not_a_folder / "runs.frame.npz", pd.DataFrame({"a": [1.0]}), {}) is False


def test_temporaries_left_by_a_dead_writer_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "runs.frame.npz"
    old, new = tmp_path / ".runs.frame.npz.dead.tmp", tmp_path / ".runs.frame.npz.live.tmp"
    for temp in (old, new):
        temp.write_bytes(b"partial")
    hours_ago = time.time() - 3 * 3600
    os.utime(old, (hours_ago, hours_ago))
    good_file(path)
    assert not old.exists() and new.exists()  # one being written now is left alone
