"""The emulator's scratch folder for videos, and the sweep of folders left by dead processes.

An emulator without ``files_dir`` keeps its videos in a ``wanbook-emulator-*`` temporary folder,
removed at ``stop()`` or at interpreter exit. A process killed outright (a notebook kernel stopped
by nbval, ``kill -9``) removes nothing, so each folder holds an ``owner.pid`` file naming the
process that made it, and every start first removes the folders whose owner is gone. Folders
without that file (made before it existed) are removed once untouched for a day.

Why sweep rather than keep the files under ``WANBOOK_HOME``: the emulator is a wing of its own
(``wanbook emulator`` runs without a home), the session copies every video it needs into the home
anyway, and the temporary folder keeps working when the home is on a slow or synced disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["OWNER_FILE", "PREFIX", "make_scratch", "sweep"]

PREFIX = "wanbook-emulator-"
OWNER_FILE = "owner.pid"
UNOWNED_AGE = 24 * 3600.0  # seconds a folder without an owner file is left alone


def make_scratch() -> tempfile.TemporaryDirectory[str]:
    """A new scratch folder (owned by this process), after sweeping the stale ones."""
    sweep()
    tmp = tempfile.TemporaryDirectory(prefix=PREFIX, ignore_cleanup_errors=True)
    (Path(tmp.name) / OWNER_FILE).write_text(f"{os.getpid()}\n", "ascii")
    return tmp


def sweep(root: str | Path | None = None, *, now: float | None = None) -> list[Path]:
    """Remove the scratch folders in ``root`` (default: the temp folder) whose owner process is
    gone, or that have no owner file and were untouched for :data:`UNOWNED_AGE`. Returns them.
    Never raises: a folder it cannot read or remove is left for a later sweep."""
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    now = time.time() if now is None else now
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for folder in base.glob(PREFIX + "*"):
            if folder.is_dir() and not folder.is_symlink() and _stale(folder, now):
                shutil.rmtree(folder, ignore_errors=True)
                if not folder.exists():
                    removed.append(folder)
    return removed


def _stale(folder: Path, now: float) -> bool:
    try:
        text = (folder / OWNER_FILE).read_text("ascii").strip()
    except FileNotFoundError:
        try:
            return now - folder.stat().st_mtime > UNOWNED_AGE
        except OSError:
            return False
    except OSError:
        return False
    if not text.isdigit():
        return False  # not ours to judge
    return not _alive(int(text))


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this machine)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: keep the folder
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True  # cannot tell (e.g. Windows without the right): keep it
    return True
