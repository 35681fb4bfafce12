"""``wb.show(x)``: a display object for a run, a run id, a video path, or a DataFrame of runs.

The object renders when it is the value of a cell (or through ``display(...)``); it references
video files by path relative to the notebook and never embeds their bytes unless ``embed=True``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wanbook._notebook.html import esc, video_html

if TYPE_CHECKING:
    from wanbook._engine.session import Session

__all__ = ["View", "show"]

_RUN_ID = re.compile(r"^[0-9a-f]{26}$")
_FONT = "font-family:system-ui,sans-serif;font-size:12px"


class View:
    """Runs and videos to show. ``items`` are run records (dicts) or video paths."""

    def __init__(
        self,
        items: Sequence[Mapping[str, Any] | Path],
        *,
        embed: bool = False,
        session: Session | None = None,
    ) -> None:
        self.items = list(items)
        self.embed = embed
        self.session = session  # fetches a video that is only in the team's store

    def _item_html(self, item: Mapping[str, Any] | Path, width: int) -> str:
        from wanbook._notebook.display import media_src, run_card

        if isinstance(item, Path):
            src = media_src(item, embed=self.embed)
            size = f"{item.stat().st_size / 1e6:.1f} MB"
            return (
                f'<div style="{_FONT};max-width:{width}px">{video_html(src, width=width)}'
                f"<div>{esc(item.name)} · {esc(size)}</div></div>"
            )
        return run_card(item, embed=self.embed, width=width, session=self.session)

    def _repr_html_(self) -> str:
        if len(self.items) == 1:
            return self._item_html(self.items[0], 480)
        cards = "".join(
            f'<div style="flex:0 0 auto">{self._item_html(item, 320)}</div>' for item in self.items
        )
        return f'<div style="display:flex;flex-wrap:wrap;gap:12px">{cards}</div>'

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"<wanbook view of {len(self.items)} item(s)>"


def _clean(value: Any) -> Any:
    """A DataFrame cell as a plain value: NaN / NA / NaT become None, numpy scalars Python ones."""
    import numpy as np
    import pandas as pd

    if isinstance(value, list | tuple | dict | np.ndarray):
        return value
    if pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _row_record(row: Mapping[str, Any], run_id: Any) -> dict[str, Any]:
    """A run record from a ``wb.runs()`` row (``param_*`` columns folded back into ``params``)."""
    record = {k: _clean(v) for k, v in row.items() if not str(k).startswith("param_")}
    record["params"] = {
        str(k)[6:]: _clean(v) for k, v in row.items() if str(k).startswith("param_")
    }
    record["run_id"] = run_id
    return record


def _records_from_frame(frame: Any, session: Session | None) -> list[Mapping[str, Any]]:
    log = session.log if session is not None else None
    out: list[Mapping[str, Any]] = []
    use_index = "run_id" not in frame.columns
    for index, row in frame.iterrows():
        run_id = index if use_index else row["run_id"]
        found = log.get(str(run_id)) if log is not None and isinstance(run_id, str) else None
        out.append(found or _row_record(row.to_dict(), run_id))
    return out


def _items(x: Any, session: Session | None) -> list[Mapping[str, Any] | Path]:
    from wanbook._runlog.run import Run

    if isinstance(x, Run):
        return [x.record]
    if isinstance(x, os.PathLike):
        path = Path(x)
        if not path.is_file():
            raise FileNotFoundError(f"show: no video file at {str(path)!r}")
        return [path]
    if isinstance(x, str):
        if _RUN_ID.match(x):
            return [_session(session).run(x).record]
        if Path(x).is_file():
            return [Path(x)]
        raise ValueError(
            f"show: {x!r} is neither a run id (26 hex characters) nor a video file; "
            "give a Run, a run id, a path or a DataFrame of runs"
        )
    if type(x).__name__ == "Series" and hasattr(x, "to_frame"):  # one row: grid.iloc[0]
        return _items(x.to_frame().T, session)
    if type(x).__module__.startswith("pandas") or hasattr(x, "iterrows"):
        return list(_records_from_frame(x, _session(session)))
    if isinstance(x, Mapping):
        return [x]
    if isinstance(x, Sequence):
        return [item for element in x for item in _items(element, session)]
    raise TypeError(
        f"show: cannot show a {type(x).__name__}; give a Run, a run id, a path or a DataFrame of runs"
    )


def _session(session: Session | None) -> Session:
    if session is not None:
        return session
    from wanbook._engine.default_session import session as default_session

    return default_session()


def show(x: Any, *, session: Session | None = None, embed: bool = False) -> Any:
    """A display object for ``x``: a Run, a run id, a video path, a DataFrame of runs (e.g.
    ``wb.runs()`` or a filtered part of it), a comparison, or a list of these.

    Videos are referenced by path (relative to the notebook); ``embed=True`` puts their bytes in
    the notebook instead (megabytes each). The object shows itself as a cell's value; elsewhere
    use ``IPython.display.display(wb.show(x))``.
    """
    grid = getattr(x, "grid", None)
    if callable(grid) and hasattr(x, "iterrows"):
        return grid(embed=embed)
    return View(_items(x, session), embed=embed, session=session)
