"""Where the benchmarks put their figures: a section of ``bench/RESULTS.md``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def headline(details: str) -> str:
    """The line above a table: the command as run, when (UTC), and ``details``."""
    command = " ".join(["python", *sys.argv])
    return f"`{command}` — {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; {details}"


def record(section: str, text: str, path: Path = RESULTS) -> None:
    """Append ``text`` at the end of ``section`` (a ``## `` heading) of ``path``, made if missing;
    earlier runs stay above it, other sections are left alone."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if section not in old:
        old = old.rstrip("\n") + f"\n\n{section}\n"
    start = old.index(section) + len(section)
    nxt = old.find("\n## ", start)
    end = len(old) if nxt < 0 else nxt
    body = old[:end].rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(body + ("\n" + old[end:].lstrip("\n") if nxt >= 0 else ""), encoding="utf-8")
