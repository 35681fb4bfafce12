"""The run log as text: CSV, JSON, or a compact table for people (``RunLog.export``,
``wanbook runs --format``).

A job apart from the DataFrame view (``_runlog.dataframe``): these render the plain run records of
:meth:`RunLog.runs` (one value per column, as stored and decoded), never a typed frame, so they
need neither pandas nor the view's kept copy.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from wanbook._errors import RunLogError
from wanbook._runlog.schema import COLUMNS
from wanbook._terminal import for_terminal

if TYPE_CHECKING:
    from wanbook._runlog.store import RunLog

__all__ = ["EXPORT_FORMATS", "TABLE_COLUMNS", "export", "text_table"]

EXPORT_FORMATS = ("table", "csv", "json")
#: Columns holding signed URLs: exported only when asked (``signed_urls=True``).
SIGNED = frozenset({"video_url"})
TABLE_COLUMNS = (
    "run_id",
    "created_at",
    "backend",  # emulator runs cost nothing real: the table says which runs they are
    "model",
    "status",
    "seed",
    "tier",
    "cost",
    "prompt",
)


def export(
    log: RunLog,
    fmt: str,
    file: IO[str] | str | Path | None = None,
    *,
    limit: int | None = None,
    signed_urls: bool = False,
    **filters: Any,
) -> str:
    """The runs as text: ``csv`` (every column, JSON columns as JSON text), ``json`` (an array of
    run objects, JSON columns decoded) or ``table`` (the main columns, for people), oldest first
    (``limit``: the newest N). Written to ``file`` (an open text file or a path) when given; the
    text is returned either way. The service's signed ``video_url`` (a 24 h credential to the
    file) is left out unless ``signed_urls=True``: an export is made to be shared."""
    if fmt not in EXPORT_FORMATS:
        raise RunLogError(
            f"format={fmt!r} is not allowed; expected one of {', '.join(EXPORT_FORMATS)}"
        )
    records = log.runs(limit=limit, **filters)
    columns = {k: v for k, v in COLUMNS.items() if signed_urls or k not in SIGNED}
    if not signed_urls:
        records = [{k: v for k, v in r.items() if k not in SIGNED} for r in records]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _csv_value(record.get(k), columns[k]) for k in columns})
        text = buffer.getvalue()
    elif fmt == "json":
        text = "[" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "]\n"
    else:
        text = text_table(records)
    if isinstance(file, (str, Path)):
        Path(file).write_text(text, encoding="utf-8", newline="")
    elif file is not None:
        file.write(text)
    return text


def _csv_value(value: Any, kind: str) -> Any:
    """A CSV cell: JSON columns as compact JSON text, booleans as true/false, NULL as empty."""
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if kind == "bool":
        return "true" if value else "false"
    return value


def _cell(record: Mapping[str, Any], column: str) -> str:
    value = record.get(column)
    if column == "created_at" and value:
        return str(value)[:16].replace("T", " ")
    if column == "cost":
        if value is None:
            return "unknown" if record.get("status") == "SUCCEEDED" else "-"
        return f"{value:.4f} {record.get('currency') or ''}".rstrip()
    if column == "prompt" and value:
        flat = for_terminal(" ".join(str(value).split()))
        return flat if len(flat) <= 40 else flat[:39] + "…"
    return "-" if value is None else for_terminal(value)  # a server's text: shown, not obeyed


def text_table(records: Sequence[Mapping[str, Any]], columns: Sequence[str] = TABLE_COLUMNS) -> str:
    """A compact fixed-width table of ``records`` (times in UTC), one line per run."""
    if not records:
        return "no runs\n"
    cells = [[_cell(r, c) for c in columns] for r in records]
    heads = [c.replace("created_at", "created (UTC)") for c in columns]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
    lines = [heads, *cells]
    return (
        "\n".join(
            "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        )
        + "\n"
    )
