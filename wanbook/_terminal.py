"""Text for a terminal: what a server or a user wrote is shown, never obeyed.

A task's code, message or id, a prompt, a path: any of them may carry escape sequences (clear the
screen, set the window title, rewrite the line), BEL, or bidirectional overrides that make a line
read differently from what it is. :func:`for_terminal` shows each such character as a visible
``\\xNN`` / ``\\uNNNN`` escape. Used by the command line's human output and the run log's table;
machine formats (CSV, JSON) carry the data unchanged.
"""

from __future__ import annotations

import re

__all__ = ["for_terminal"]

# C0 and C1 controls (newline and tab too: a cell or a one-line message must stay one line), and
# the bidirectional formatting characters (embeddings, overrides, isolates, marks).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: object) -> str:
    """``text`` with every control and bidi character escaped (one line, shown as written)."""
    return _UNSAFE.sub(_escape, str(text))
