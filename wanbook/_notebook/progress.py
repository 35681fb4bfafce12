"""Progress in words: a generation's status line, and a progress bar for many generations.

:func:`status_line` is pure (state, seconds, record in; one line of text out); the form shows it
for each generation. :class:`Progress` shows "7 of 12 done" while a batch works: in a notebook as
one HTML output updated in place (``display_id``, so a saved notebook keeps only its last state
and needs no widget state), in plain Python as one line on stderr at the end (or nothing when
quiet).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from wanbook._notebook.html import cost_words, duration_words, progress_html, status_words
from wanbook._warn import in_kernel

__all__ = ["Progress", "in_notebook", "status_line"]

_ICON = {
    "SUCCEEDED": "✔",
    "FAILED": "✖",
    "ERROR": "✖",
    "CANCELED": "■",
    "PENDING": "…",
    "RUNNING": "…",
    "STARTING": "…",
}
# States of a generation before the run log has a row for it (the form's own).
_EARLY_WORDS = {"STARTING": "checking the request and sending it"}
_POLLED = frozenset({"PENDING", "RUNNING"})  # states only known as of the last poll


def status_line(
    state: str,
    elapsed: float | None,
    record: Mapping[str, Any] | None = None,
    error: str | None = None,
    *,
    seen_ago: float | None = None,
) -> str:
    """One line for a generation: ``"… PENDING · waiting in the service's queue · 3.0 s"``.

    ``seen_ago``: how long ago the service last reported ``state``. A queued or running task is
    only known as of the last poll, so the line says so (``"last seen 4 s ago"``) rather than
    claiming it is still PENDING now. When it is over: how long it took, the seed actually used
    and the cost (``unknown`` when not priced), or the error in plain words.
    """
    r = record or {}
    state = (state or "").upper() or "STARTING"
    bits = [f"{_ICON.get(state, '●')} {state}"]
    if error:
        bits.append(error)
    elif state in _EARLY_WORDS:
        bits.append(_EARLY_WORDS[state])
    else:
        words = status_words(state, r.get("error_code"), r.get("error_message"))
        if state in _POLLED and seen_ago is not None:
            words += f" (last seen {duration_words(max(0.0, seen_ago))} ago)"
        bits.append(words)
    if elapsed is not None:
        bits.append(duration_words(elapsed))
    if state == "SUCCEEDED":
        seed = r.get("seed")
        bits.append("seed random (not recorded)" if seed is None else f"seed {seed}")
        bits.append(f"cost {cost_words(r.get('cost'), r.get('currency'))}")
    # no run id: the card below the line shows it, and a 26-character id made the line wrap
    return " · ".join(b for b in bits if b)


def in_notebook() -> bool:
    """Whether we run in a Jupyter kernel (which can show HTML), not a terminal or a script."""
    return in_kernel()


class Progress:
    """How far a batch of ``total`` generations is. Thread-safe: updates come from the portal."""

    def __init__(
        self,
        total: int,
        *,
        label: str = "wanbook",
        quiet: bool = False,
        notebook: bool | None = None,
        min_interval: float = 0.25,
    ) -> None:
        self.total = total
        self.label = label
        self.quiet = quiet
        self.done = 0
        self.failed = 0
        self._started = time.monotonic()
        self._last_shown = 0.0
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._handle: Any = None
        if (in_notebook() if notebook is None else notebook) and not quiet:
            from IPython.display import HTML, display

            self._handle = display(HTML(self.html()), display_id=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def html(self) -> str:
        return progress_html(self.done, self.total, self.failed, self.elapsed)

    def text(self) -> str:
        words = f"{self.label}: {self.done} of {self.total} done"
        if self.failed:
            words += f" ({self.failed} failed)"
        return f"{words} in {duration_words(self.elapsed)}"

    def step(self, *, failed: bool = False) -> None:
        """One more generation is over (``failed``: without a video)."""
        with self._lock:
            self.done += 1
            self.failed += int(failed)
            now = time.monotonic()
            if now - self._last_shown >= self._min_interval or self.done >= self.total:
                self._last_shown = now
                self._show()

    def _show(self) -> None:
        if self._handle is not None:
            from IPython.display import HTML

            self._handle.update(HTML(self.html()))

    def close(self) -> None:
        """Show the final state (notebook) or print it as one line (plain Python, not quiet)."""
        with self._lock:
            if self._handle is not None:
                self._show()
            elif not self.quiet:
                print(self.text(), file=sys.stderr)
