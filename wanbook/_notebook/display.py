"""The file side of display objects: where a video is as seen from the notebook, and its poster.

``_notebook.html`` renders; this module decides what it renders from. A video is referenced by its path
relative to the kernel's working directory (Jupyter starts a kernel in the notebook's folder and
resolves relative ``src`` attributes of outputs against it), so a saved notebook holds a few
hundred bytes per video instead of megabytes. Bytes are embedded only when asked (``embed=True``).

A poster frame is written beside the run's video as ``<run_id>.jpg`` (once; reused after) and
referenced the same way.

A :class:`~wanbook._runlog.run.Run` has no ``_repr_html_``: the run log knows nothing of notebooks.
:func:`register_formatter` tells IPython to draw a Run as its card instead; ``wanbook`` calls it the
first time one of its lazy names (everything that can return a Run) is used.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from wanbook._errors import DownloadError
from wanbook._notebook.html import Cell, esc, run_html, status_words, video_html

__all__ = [
    "ensure_poster",
    "media_src",
    "register_formatter",
    "run_card",
    "run_cell",
    "run_video",
]

_MIME = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webm": "video/webm"}


def media_src(
    path: str | os.PathLike[str], *, base: str | os.PathLike[str] | None = None, embed: bool = False
) -> str:
    """How a notebook page reaches ``path``: relative to ``base`` (default: the working directory).

    With ``embed=True`` the file's bytes as a ``data:`` URI instead — only when asked, because a
    five-second video is megabytes in the saved notebook.
    """
    p = Path(path)
    if embed:
        mime = _MIME.get(p.suffix.lower(), "application/octet-stream")
        return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"
    start = Path(base) if base is not None else Path.cwd()
    try:
        rel = os.path.relpath(p.resolve(), start.resolve())
    except ValueError:  # another drive (Windows): no relative path exists
        return p.resolve().as_uri()
    return quote(rel.replace(os.sep, "/"))


def ensure_poster(video: str | os.PathLike[str], name: str | None = None) -> Path | None:
    """The poster JPEG beside ``video`` (``<name>.jpg``, default the video's stem), made if needed.

    None when the video cannot be read: a card without a poster still plays.
    """
    from wanbook._media.videos import poster_frame

    v = Path(video)
    try:
        return poster_frame(v, v.with_name(f"{name or v.stem}.jpg"))
    except (DownloadError, OSError):
        return None


def _media(
    record: Mapping[str, Any], base: str | os.PathLike[str] | None, embed: bool
) -> tuple[str | None, str | None, str | None, str | None]:
    """(src, poster, link, note) for a run record's video."""
    video = record.get("video_path")
    if not video:
        return None, None, None, None
    path = Path(str(video))
    if not path.is_file():
        return None, None, None, f"video file missing: {path}"
    poster = ensure_poster(path, str(record.get("run_id") or path.stem))
    link = media_src(path, base=base)
    src = media_src(path, base=base, embed=embed)
    poster_src = media_src(poster, base=base, embed=embed) if poster is not None else None
    return src, poster_src, link, None


def run_card(
    record: Mapping[str, Any],
    *,
    base: str | os.PathLike[str] | None = None,
    embed: bool = False,
    width: int = 480,
) -> str:
    """The HTML card of one run: its video by reference (or embedded if asked), poster, params, cost."""
    src, poster, link, note = _media(record, base, embed)
    return run_html(record, src=src, poster=poster, link=link, width=width, note=note)


def run_video(
    record: Mapping[str, Any], *, base: str | os.PathLike[str] | None = None, width: int = 320
) -> str:
    """Only the run's video (or why there is none): no model, seed, parameters or cost, so a
    rater judging blind sees the picture and nothing else."""
    src, poster, _, note = _media(record, base, False)
    if src:
        return video_html(src, poster, width=width)
    words = note or status_words(
        record.get("status"), record.get("error_code"), record.get("error_message")
    )
    return f'<div style="color:#6b7280;max-width:{width}px">{esc(words)}</div>'


def run_cell(
    record: Mapping[str, Any] | None,
    *,
    error: str | None = None,
    base: str | os.PathLike[str] | None = None,
    embed: bool = False,
) -> Cell:
    """A grid cell for ``record`` (None: nothing ran, ``error`` says why)."""
    if record is None:
        return Cell(None, error=error)
    src, poster, link, note = _media(record, base, embed)
    return Cell(record, src=src, poster=poster, link=link, error=error or note)


def register_formatter(shell: Any = None) -> bool:
    """Have IPython show a ``Run`` as its card (``shell``: the running IPython shell by default).

    Safe to repeat. False (and nothing imported) when there is no IPython shell to register with.
    """
    if shell is None:
        if "IPython" not in sys.modules:
            return False
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:
            return False
    from wanbook._runlog.run import Run

    shell.display_formatter.formatters["text/html"].for_type(Run, _run_as_card)
    return True


def _run_as_card(run: Any) -> str:
    return run_card(run.record)
