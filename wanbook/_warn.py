"""Warnings for people: attributed to their own line of code, never to wanbook's insides.

``warnings.warn(..., stacklevel=N)`` counts frames, and the count is wrong as soon as the same
function is reached by another path (``wb.estimate`` → session → prepare, or a batch on the
portal loop). :func:`warn_user` walks the stack instead and attributes the warning to the first
frame outside wanbook (and outside asyncio, threading and concurrent.futures): the notebook
cell or script line that asked for the work. Shown in a notebook, the warning then names the
user's cell, and its filters (``warnings.filterwarnings(..., module=...)``) match the user's
module, like any well-behaved library warning.

When the work runs on wanbook's portal thread (``wb.generate`` runs its coroutine there), the
user's line is the one the main thread is waiting at inside wanbook. When there is none (a
form's generation, while the kernel is idle), the warning is attributed to ``"wanbook"``
itself (no file, no source line): ``wanbook:0: UnknownPriceWarning: no price known for ...``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
import threading
import warnings
from types import FrameType

__all__ = ["in_kernel", "notice", "warn_user"]


def in_kernel() -> bool:
    """Whether we run in a Jupyter kernel (which shows outputs), not a terminal or a script."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def notice(text: str) -> None:
    """Tell the person something that is not a problem (which backend answers, say), in one line.

    In a notebook on stdout: Jupyter draws stderr as a pink error box. Elsewhere on stderr, which
    keeps stdout for results (``wanbook generate --json``).
    """
    print(text, file=sys.stdout if in_kernel() else sys.stderr, flush=True)


def _dirs() -> tuple[str, ...]:
    packages = (
        os.path.dirname(os.path.abspath(__file__)),  # wanbook
        os.path.dirname(os.path.abspath(asyncio.__file__)),
        os.path.dirname(os.path.abspath(concurrent.futures.__file__)),
    )
    return tuple(p + os.sep for p in packages) + (os.path.abspath(threading.__file__),)


def _user_frame(frame: FrameType | None, *, via_wanbook: bool = False) -> FrameType | None:
    """The first frame outside wanbook and the machinery; with ``via_wanbook``, only if some
    wanbook frame lies between (the thread is waiting in wanbook for the work)."""
    inside, ours = _dirs(), _dirs()[0]
    seen_ours = False
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(inside):
            return frame if seen_ours or not via_wanbook else None
        seen_ours = seen_ours or path.startswith(ours)
        frame = frame.f_back
    return None


def _waiting_user_frame() -> FrameType | None:
    """On wanbook's portal thread: the user's line the main thread is waiting at, if it waits
    in wanbook (``wb.generate`` → ``run_sync``); None when it is doing something else."""
    main = threading.main_thread()
    if threading.current_thread() is main or main.ident is None:
        return None
    return _user_frame(sys._current_frames().get(main.ident), via_wanbook=True)


def warn_user(message: str, category: type[Warning]) -> None:
    """Warn, attributed to the user's code (see the module docstring)."""
    frame = _user_frame(sys._getframe(1)) or _waiting_user_frame()
    if frame is None:
        registry = globals().setdefault("__warningregistry__", {})
        warnings.warn_explicit(message, category, "wanbook", 0, "wanbook", registry)
        return
    module_globals = frame.f_globals
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module_globals.get("__name__", "<string>"),
        module_globals.setdefault("__warningregistry__", {}),
        module_globals,
    )
