"""HTML for runs, grids and progress: pure functions of run records (no I/O, no widgets).

Everything that reaches the page goes through :func:`esc` (prompts, error messages, model names,
paths), so a prompt containing ``<script>`` is shown as text, never run. Videos are referenced by
the ``src`` the caller passes (a relative path, normally): this module never reads a file, so it
cannot embed bytes by accident — embedding is the caller's explicit choice (``_notebook.display``).

Inline styles only: JupyterLab's sanitizer keeps them, and drops ``<style>`` blocks and scripts
from untrusted notebooks.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wanbook._errors import (
    AmbiguousCreateError,
    APIError,
    AuthenticationError,
    BatchCancelled,
    BudgetExceededError,
    DownloadError,
    MediaError,
    RateLimitError,
    ServerError,
    TaskFailedError,
    TaskTimeoutError,
    TransportError,
    ValidationError,
)
from wanbook._spec.prices import as_number

__all__ = [
    "Cell",
    "api_detail",
    "cost_words",
    "duration_words",
    "error_words",
    "esc",
    "grid_html",
    "progress_html",
    "run_html",
    "status_words",
]

_FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px;line-height:1.4"
_MUTED = "color:#6b7280"
_BAD = "color:#b91c1c"

# What each run status means, in plain words (the run log's statuses, see docs/runlog-schema.md).
STATUS_WORDS: dict[str, str] = {
    "PREPARED": "prepared, not sent yet",
    "SUBMITTING": "sending the request",
    "AMBIGUOUS": "sent, but no answer came back; wanbook is looking for the task",
    "PENDING": "waiting in the service's queue",
    "RUNNING": "rendering",
    "SUCCEEDED": "done",
    "FAILED": "failed at the service (not billed)",
    "CANCELED": "canceled (not billed)",
    "UNKNOWN": "the service no longer knows this task",
    "EXPIRED": "older than 24 hours: the task and its video link have expired",
    "ERROR": "not sent: it failed before reaching the service",
    "NOT_CREATED": "no task was created (not billed)",
}

# Task failure codes the service reports, in plain words (docs/dashscope-api.md §4).
CODE_WORDS: dict[str, str] = {
    "DataInspectionFailed": "the service's content check refused the prompt or the image",
    "InternalError": "the service failed internally; trying again usually works",
    "InvalidParameter": "the service refused a parameter",
    "Throttling": "too many requests at once; nothing was created",
    "UnsupportedOperation": "the service cannot do that for this task",
}


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def cost_words(cost: Any, currency: Any) -> str:
    """``"0.1000 USD"``; ``"unknown"`` when the cost is not known (never a made-up 0)."""
    amount = as_number(cost)
    if amount is None:
        return "unknown"
    cur = currency if isinstance(currency, str) and currency else ""
    return f"{amount:.4f} {cur}".strip()


def duration_words(seconds: Any) -> str:
    """``"42 s"``, ``"3 min 05 s"``; ``""`` when not known."""
    value = as_number(seconds)
    if value is None or value < 0:
        return ""
    if value < 10:
        return f"{value:.1f} s"
    whole = int(round(value))
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def status_words(status: Any, code: Any = None, message: Any = None) -> str:
    """A run status (and the service's error, if any) as a sentence a person can act on."""
    state = str(status or "").upper()
    words = STATUS_WORDS.get(state, state.lower() or "unknown status")
    if code or message:
        hint = CODE_WORDS.get(str(code), "") if code else ""
        detail = ": ".join(str(x) for x in (code, message) if x)
        words += f" — {hint + ' (' + detail + ')' if hint else detail}"
    return words


# Exception type -> what it means for the person at the form (first match wins).
_ERROR_WORDS: tuple[tuple[type[BaseException], str], ...] = (
    (ValidationError, "the request is not valid, nothing was sent"),
    (MediaError, "the image cannot be used, nothing was sent"),
    (BudgetExceededError, "refused by your budget, nothing was sent"),
    (AuthenticationError, "the service refused the API key (wrong key, region or no access)"),
    (RateLimitError, "the service is busy (throttled); nothing was created — try again shortly"),
    (ServerError, "the service had a problem answering"),
    (TransportError, "could not reach the service"),
    (
        AmbiguousCreateError,
        "the request may have reached the service but no answer came back; "
        "wb.resume() finds and finishes the task, it is never sent twice",
    ),
    (BatchCancelled, "not sent: the batch was stopped first (nothing billed)"),
    (TaskTimeoutError, "stopped waiting; the task may still finish — wb.resume() collects it"),
    (TaskFailedError, "the task ended without a video"),
    (DownloadError, "the video could not be downloaded yet — wb.resume() tries again"),
)


def error_words(exc: BaseException) -> str:
    """An exception as one plain sentence: what it means, then what it said."""
    said = str(exc).strip() or type(exc).__name__
    if isinstance(exc, APIError) and type(exc) not in _SAID_BEFORE:
        return _refusal_words(exc)
    for kind, words in _ERROR_WORDS:
        if isinstance(exc, kind):
            return f"{words}: {said}"
    return f"something went wrong ({type(exc).__name__}): {said}"


# API errors with words of their own above; every other service refusal is _refusal_words.
_SAID_BEFORE = (AuthenticationError, RateLimitError, ServerError)


def api_detail(exc: APIError) -> str:
    """What the service said, without Python's class names: ``"HTTP 415 Code: message"``."""
    status = f"HTTP {exc.status_code}" if exc.status_code else None
    head = " ".join(str(x) for x in (status, exc.code) if x)
    detail = f"{head}: {exc.message}" if head else str(exc.message)
    return f"{detail}; request_id {exc.request_id}" if exc.request_id else detail


def _refusal_words(exc: APIError) -> str:
    """A service refusal of a create (400, 404, 413, 415 ...): its status, code and message.

    Such an answer means no task was made, so nothing is billed.
    """
    return f"the service refused the request ({api_detail(exc)}); nothing was created or billed"


def _params(record: Mapping[str, Any]) -> Mapping[str, Any]:
    params = record.get("params")
    return params if isinstance(params, Mapping) else {}


def _elapsed(record: Mapping[str, Any]) -> Any:
    """Seconds the service took (queue + render), else our wall time from creation to finish."""
    queue, run = as_number(record.get("queue_seconds")), as_number(record.get("run_seconds"))
    if queue is not None or run is not None:
        return (queue or 0.0) + (run or 0.0)
    return record.get("elapsed")


def key_params(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The parameters worth showing under a video, as (name, text) pairs, in reading order."""
    p = _params(record)
    out: list[tuple[str, str]] = []
    seed = record.get("seed")
    out.append(("seed", "random (not recorded)" if seed is None else str(seed)))
    width, height = as_number(record.get("width")), as_number(record.get("height"))
    if width and height and math.isfinite(width * height):
        out.append(("size", f"{int(width)}×{int(height)}"))
    elif p.get("size"):
        out.append(("size", str(p["size"]).replace("*", "×")))
    tier = record.get("tier") or p.get("tier")
    if tier:
        out.append(("tier", str(tier)))
    duration = as_number(record.get("duration")) or as_number(p.get("duration"))
    if duration:
        out.append(("duration", f"{duration:g} s"))
    audio = record.get("has_audio")
    if audio is None:
        audio = p.get("audio")
    if audio is not None:
        out.append(("audio", "sound" if audio else "silent"))
    for name in ("prompt_extend", "shot_type", "template"):
        value = p.get(name)
        if value is not None:
            out.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
    return out


def video_html(src: str, poster: str | None = None, *, width: int = 480) -> str:
    """A ``<video>`` element for ``src`` (a URL or relative path).

    ``poster`` should be a ``data:`` URI (``_notebook.display`` makes a small one): JupyterLab
    resolves a relative ``src`` but not a relative ``poster``, which would leave a black box.
    ``preload="metadata"`` fetches only the start of the file.
    """
    poster_attr = f' poster="{esc(poster)}"' if poster else ""
    return (
        f'<video src="{esc(src)}"{poster_attr} controls preload="metadata" '
        f'style="width:100%;max-width:{width}px;background:#111;display:block"></video>'
    )


def _short(text: Any, limit: int) -> str:
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _body(record: Mapping[str, Any], src: str | None, poster: str | None, width: int) -> str:
    if src:
        return video_html(src, poster, width=width)
    status = record.get("status")
    words = status_words(status, record.get("error_code"), record.get("error_message"))
    color = _MUTED if str(status).upper() in ("PENDING", "RUNNING", "SUBMITTING") else _BAD
    return (
        f'<div style="{color};border:1px dashed #d1d5db;padding:12px;max-width:{width}px">'
        f"{esc(words)}</div>"
    )


def run_html(
    record: Mapping[str, Any],
    *,
    src: str | None = None,
    poster: str | None = None,
    link: str | None = None,
    width: int = 480,
    note: str | None = None,
) -> str:
    """One run as a card: the video (``src``), model, key parameters, cost, prompt and run id.

    ``src``/``poster``/``link`` are given by the caller (paths relative to the notebook, or a
    ``data:`` URI when the caller chose to embed); without ``src`` the card says in plain words
    why there is no video (still running, failed, canceled ...).
    """
    model = esc(record.get("model") or "?")
    status = str(record.get("status") or "")
    params = " · ".join(f"{esc(k)} {esc(v)}" for k, v in key_params(record))
    elapsed = duration_words(_elapsed(record))
    cost = esc(cost_words(record.get("cost"), record.get("currency")))
    head = f"<b>{model}</b> · {params} · cost {cost}" + (f" · {esc(elapsed)}" if elapsed else "")
    if status and status != "SUCCEEDED":
        head += f' · <span style="{_BAD}">{esc(status.lower())}</span>'
    lines = [f"<div>{head}</div>"]
    prompt = record.get("prompt")
    if prompt:
        lines.append(f'<div title="{esc(prompt)}">prompt: {esc(_short(prompt, 300))}</div>')
    if record.get("negative_prompt"):
        lines.append(f"<div>negative: {esc(_short(record['negative_prompt'], 200))}</div>")
    actual = record.get("actual_prompt")
    if actual and actual != prompt:
        lines.append(
            f'<div style="{_MUTED}" title="{esc(actual)}">rewritten by the service: '
            f"{esc(_short(actual, 200))}</div>"
        )
    if src and status == "SUCCEEDED" and record.get("error_message"):
        lines.append(f'<div style="{_BAD}">{esc(record["error_message"])}</div>')
    foot = [f"run {esc(record.get('run_id') or '?')}"]
    if link:
        foot.append(f'<a href="{esc(link)}" target="_blank">video file</a>')
    if record.get("backend") == "emulator":
        foot.append("emulator (synthetic video)")
    if note:
        foot.append(esc(note))
    lines.append(f'<div style="{_MUTED}">{" · ".join(foot)}</div>')
    return (
        f'<div class="wanbook-run" style="{_FONT};max-width:{width}px;margin:4px 0">'
        f"{_body(record, src, poster, width)}{''.join(lines)}</div>"
    )


@dataclass(frozen=True)
class Cell:
    """One cell of a grid: its run record (or None if nothing ran) and where its media is."""

    record: Mapping[str, Any] | None
    src: str | None = None
    poster: str | None = None
    link: str | None = None
    error: str | None = None  # why this cell has no run (e.g. its request was invalid)


def _cell_html(cell: Cell, width: int) -> str:
    if cell.record is None:
        return f'<div style="{_BAD};max-width:{width}px">{esc(cell.error or "no run")}</div>'
    r = cell.record
    bits = [f"cost {esc(cost_words(r.get('cost'), r.get('currency')))}"]
    elapsed = duration_words(_elapsed(r))
    if elapsed:
        bits.append(esc(elapsed))
    if r.get("seed") is not None:
        bits.append(f"seed {esc(r.get('seed'))}")
    link = f' · <a href="{esc(cell.link)}" target="_blank">file</a>' if cell.link else ""
    error = ""
    if cell.error and cell.src:
        error = f'<div style="{_BAD}">{esc(cell.error)}</div>'
    return (
        f"{_body(r, cell.src, cell.poster, width)}<div>{' · '.join(bits)}</div>{error}"
        f'<div style="{_MUTED}">run {esc(r.get("run_id") or "?")}{link}</div>'
    )


def _label(axis: str, value: Any) -> str:
    """A row or column label: a bare number gets its axis name (``seed 7``), text stands alone."""
    if value is None:
        return f"{axis} random" if axis else "random"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{axis} {value}".strip()
    return str(value)


def grid_html(
    cells: Mapping[tuple[Any, Any], Cell],
    rows: Sequence[Any],
    cols: Sequence[Any],
    *,
    row_title: str = "",
    col_title: str = "",
    title: str | None = None,
    width: int = 320,
) -> str:
    """A labelled table of cells: ``rows`` × ``cols`` (labels are escaped; missing cells are blank)."""
    corner = esc(f"{row_title} \\ {col_title}" if row_title and col_title else row_title)
    th = 'style="text-align:left;padding:4px 8px;vertical-align:bottom"'
    th_row = 'style="text-align:left;padding:4px 8px;vertical-align:top"'
    head = f"<th {th}>{corner}</th>" + "".join(
        f"<th {th}>{esc(_label(col_title, c))}</th>" for c in cols
    )
    body = []
    for row in rows:
        tds = "".join(
            f'<td style="vertical-align:top;padding:4px 8px;min-width:120px">'
            f"{_cell_html(cells[(row, col)], width) if (row, col) in cells else ''}</td>"
            for col in cols
        )
        body.append(f"<tr><th {th_row}>{esc(_label(row_title, row))}</th>{tds}</tr>")
    caption = (
        f'<caption style="text-align:left;font-weight:bold;padding:4px 8px">{esc(title)}</caption>'
        if title
        else ""
    )
    return (
        f'<table class="wanbook-grid" style="{_FONT};border-collapse:collapse">{caption}'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def progress_html(done: int, total: int, failed: int = 0, elapsed: float | None = None) -> str:
    """A progress bar and one line of words: ``7 of 12 done (1 failed) · 14 s``."""
    words = f"{done} of {total} done"
    if failed:
        words += f" ({failed} failed)"
    if elapsed is not None:
        words += f" · {duration_words(elapsed)}"
    return (
        f'<div style="{_FONT}"><progress value="{int(done)}" max="{max(int(total), 1)}" '
        f'style="width:240px;vertical-align:middle"></progress> {esc(words)}</div>'
    )
