"""The file side of display objects: where a video is as seen from the notebook, and its poster.

``_notebook.html`` renders; this module decides what it renders from. A video is referenced by its path
relative to the kernel's working directory (Jupyter starts a kernel in the notebook's folder and
resolves relative ``src`` attributes of outputs against it), so a saved notebook holds a few
hundred bytes per video instead of megabytes. Bytes are embedded only when asked (``embed=True``).

A small poster frame is written beside the run's video as ``<run_id>.jpg`` (once; reused after)
and put in the card inline, as a ``data:`` URI of a few kilobytes: front ends resolve a relative
``src`` and ``href`` but not always a ``poster`` (JupyterLab leaves it as is, so the browser gets
the Lab page instead of the picture and shows a black box), and an inline picture shows wherever
the card is drawn, even where the video itself cannot be reached.

A video outside the folder the Jupyter server serves (a run log in ``/data`` or a shared one)
cannot be loaded by the page at all: the card says so in one line, and what to do.

A :class:`~wanbook._runlog.run.Run` has no ``_repr_html_``: the run log knows nothing of notebooks.
:func:`register_formatter` tells IPython to draw a Run as its card instead; ``wanbook`` calls it the
first time one of its lazy names (everything that can return a Run) is used.
"""

from __future__ import annotations

import base64
import functools
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wanbook._errors import DownloadError, WanbookError
from wanbook._notebook.html import Cell, esc, run_html, status_words, video_html

if TYPE_CHECKING:
    from wanbook._engine.session import Session

__all__ = [
    "ensure_poster",
    "local_video",
    "media_src",
    "outside_note",
    "register_formatter",
    "run_card",
    "run_cell",
    "run_video",
    "served_root",
]

# The inline poster: small enough that a saved notebook with a 12-video grid stays small.
POSTER_WIDTH, POSTER_QUALITY = 320, 60

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
        return poster_frame(
            v, v.with_name(f"{name or v.stem}.jpg"), max_width=POSTER_WIDTH, quality=POSTER_QUALITY
        )
    except (DownloadError, OSError):
        return None


def local_video(record: Mapping[str, Any], session: Session | None = None) -> Path | None:
    """The file to play for a run record: its logged video when it is on this machine, else
    (a run of a shared log, whose video is in the team's store) this home's copy, fetched and
    checked against the logged SHA-256 by ``session`` (default: the default session) — the
    notebook references files, so a copy is what plays. None when the run has no video."""
    video = record.get("video_path")
    path = Path(str(video)) if video else None
    if (path is None or not path.is_file()) and record.get("video_uri"):
        if session is None:
            from wanbook._engine.default_session import session as default_session

            session = default_session()
        return session.video_file(record)
    return path


def _media(
    record: Mapping[str, Any],
    base: str | os.PathLike[str] | None,
    embed: bool,
    session: Session | None = None,
) -> tuple[str | None, str | None, str | None, str | None]:
    """(src, poster, link, note) for a run record's video."""
    try:
        path = local_video(record, session)
    except WanbookError as exc:  # not fetched (store down, a copy that does not verify ...)
        return None, None, None, f"video not available here: {exc}"
    if path is None:
        return None, None, None, None
    if not path.is_file():
        return None, None, None, f"video file missing: {path}"
    poster = ensure_poster(path, str(record.get("run_id") or path.stem))
    poster_src = media_src(poster, embed=True) if poster is not None else None
    src = media_src(path, base=base, embed=embed)
    if embed or base is not None:
        return src, poster_src, media_src(path, base=base), None
    note = outside_note(path)
    link = None if note else media_src(path, base=base)  # a link that cannot resolve: none
    return src, poster_src, link, note


@functools.lru_cache(maxsize=8)
def _served_root(cwd: str) -> Path | None:
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return None
    here = Path(cwd)
    roots = []
    for server in list_running_servers():
        root = server.get("root_dir")
        if root and here.is_relative_to(Path(root).resolve()):
            roots.append(Path(root).resolve())
    return max(roots, key=lambda r: len(r.parts)) if roots else None


def served_root() -> Path | None:
    """The folder the Jupyter server that started this kernel serves (None when unknown: not a
    Jupyter server's kernel, as under nbclient, VS Code or a script)."""
    if "JPY_SESSION_NAME" not in os.environ:  # set by jupyter_server for its kernels
        return None
    return _served_root(str(Path.cwd().resolve()))


def outside_note(path: str | os.PathLike[str], root: Path | None = None) -> str | None:
    """One line saying what to do when ``path`` is outside the served folder (the page cannot
    load it), else None."""
    root = root if root is not None else served_root()
    if root is None or Path(path).resolve().is_relative_to(root):
        return None
    return (
        f"this video is outside the folder Jupyter serves ({root}), so the page cannot play it: "
        "wb.show(run, embed=True) embeds it, or set WANBOOK_HOME to a folder inside it"
    )


def run_card(
    record: Mapping[str, Any],
    *,
    base: str | os.PathLike[str] | None = None,
    embed: bool = False,
    width: int = 480,
    session: Session | None = None,
) -> str:
    """The HTML card of one run: its video by reference (or embedded if asked), poster, params,
    cost. A video in the team's store only is fetched here first (``local_video``)."""
    src, poster, link, note = _media(record, base, embed, session)
    return run_html(record, src=src, poster=poster, link=link, width=width, note=note)


def run_video(
    record: Mapping[str, Any],
    *,
    base: str | os.PathLike[str] | None = None,
    width: int = 320,
    session: Session | None = None,
) -> str:
    """Only the run's video (or why there is none): no model, seed, parameters or cost, so a
    rater judging blind sees the picture and nothing else."""
    src, poster, _, note = _media(record, base, False, session)
    if src:
        said = f'<div style="color:#6b7280;max-width:{width}px">{esc(note)}</div>' if note else ""
        return video_html(src, poster, width=width) + said
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
    session: Session | None = None,
) -> Cell:
    """A grid cell for ``record`` (None: nothing ran, ``error`` says why)."""
    if record is None:
        return Cell(None, error=error)
    src, poster, link, note = _media(record, base, embed, session)
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
