"""Prices as data: the table of ``data/prices.csv``, an estimate before a run, its cost after.

Prices are facts found on public pages, not code, so they live in a CSV file shipped with the
package (one row per model, region, tier and audio setting, each with its currency, source,
confidence and the date it was checked). A user can load their own table with the same columns.

Rules this module keeps (pricing.md, "What a cost feature must handle"):

- An unknown price is ``NaN``, never 0, and says so once: one :class:`UnknownPriceWarning` per
  (model, region, tier) per process.
- Only successful video is billed: FAILED, CANCELED and UNKNOWN runs, and runs that failed locally
  before anything was created (ERROR), cost 0.0.
- Amounts carry their currency and :func:`totals` never adds two currencies together.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from wanbook._errors import ConfigError
from wanbook._spec.catalogue import ModelSpec, catalogue
from wanbook._spec.media import MediaItem
from wanbook._warn import warn_user

__all__ = [
    "Estimate",
    "ImplausibleUsageWarning",
    "Price",
    "PriceTable",
    "Totals",
    "UnknownPriceWarning",
    "as_number",
    "billed_seconds",
    "cost",
    "estimate",
    "plausible_seconds",
    "totals",
]

AUDIO_VALUES = ("any", "audio", "silent")
CONFIDENCE_VALUES = ("O", "S", "I", "")  # official, secondary, derived; "" = not stated
REQUIRED_COLUMNS = ("model", "region", "tier", "per_second", "currency")
OPTIONAL_COLUMNS = ("audio", "source", "confidence", "checked")

# Statuses whose run was not billed: the vendor bills only successfully generated video.
# ERROR (a local failure) and NOT_CREATED (the create was refused) are wanbook's own: no task
# existed. EXPIRED and AMBIGUOUS are not here on purpose: their task may have succeeded (and
# been billed) without us seeing it.
UNBILLED_STATUSES = frozenset({"FAILED", "CANCELED", "UNKNOWN", "ERROR", "NOT_CREATED"})

_CHECKED_RE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")  # ISO date, or a month when only that is known
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_warned: set[tuple[str, str, str]] = set()  # (model, region, tier) already warned about


class UnknownPriceWarning(UserWarning):
    """No price is known for a (model, region, tier): its cost is NaN, not 0."""


class ImplausibleUsageWarning(UserWarning):
    """The service billed a number of seconds that cannot be right: the cost is NaN, not a guess."""


#: Billed seconds above ``max(PLAUSIBLE_FACTOR × requested, requested + PLAUSIBLE_EXTRA)`` are not
#: believed (wan2.6 bills input + output video, so some excess is normal; 1e12 s is not).
PLAUSIBLE_FACTOR = 4.0
PLAUSIBLE_EXTRA = 60.0


def plausible_seconds(billed: float, requested: float | None) -> bool:
    """Whether ``billed`` seconds can be the bill of a video of ``requested`` seconds."""
    if not (math.isfinite(billed) and billed > 0):
        return False
    if requested is None or not requested > 0:
        return True
    return billed <= max(PLAUSIBLE_FACTOR * requested, requested + PLAUSIBLE_EXTRA)


@dataclass(frozen=True)
class Price:
    """One row of the table: the price of one second of successful video."""

    per_second: float
    currency: str
    source: str
    confidence: str  # "O" official page, "S" secondary source, "I" derived, "" not stated
    checked: str  # ISO date (or month) the figure was found


@dataclass(frozen=True)
class Estimate:
    """An amount of money for some seconds of video. ``amount`` is NaN when it is not known."""

    amount: float
    currency: str | None
    per_second: float | None
    seconds: float
    price: Price | None

    @property
    def known(self) -> bool:
        return not math.isnan(self.amount)

    def __str__(self) -> str:
        if not self.known:
            return "unknown"
        return f"{self.amount:.4f} {self.currency}" if self.currency else f"{self.amount:.4f}"


def normalize_tier(tier: Any) -> str:
    """``"720P"`` from ``"720p"``, ``720`` or ``"720"`` (usage reports ``SR`` as a number)."""
    text = str(tier).strip().upper()
    return f"{text}P" if text.isdigit() else text


def canonical_model(name: str) -> str:
    """wanbook's name for a model (``wanx2.1-t2v-turbo`` -> ``wan2.1-t2v-turbo``); unknown names as given."""
    spec = catalogue().get(name)
    return spec.name if spec is not None else name


class PriceTable:
    """The price table: (model, region, tier, audio) -> :class:`Price`.

    Load the shipped table with ``PriceTable.load()`` or a user's CSV with ``PriceTable.load(path)``.
    ``date`` is the newest ``checked`` date in the table (None if no row has one).
    """

    def __init__(
        self, rows: Mapping[tuple[str, str, str, str], Price], source_path: Path | None = None
    ) -> None:
        self._rows = dict(rows)
        self.source_path = source_path
        dates = [p.checked for p in self._rows.values() if p.checked]
        self.date: str | None = max(dates) if dates else None

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Read a price table CSV (default: the one shipped in ``wanbook/data/prices.csv``)."""
        if path is None:
            ref = resources.files("wanbook").joinpath("data/prices.csv")
            return cls(_parse(ref.read_text("utf-8"), "prices.csv"), Path(str(ref)))
        p = Path(path).expanduser()
        try:
            text = p.read_text("utf-8-sig")  # tolerate a BOM from spreadsheet exports
        except OSError as exc:
            raise ConfigError(f"cannot read price table {str(p)!r}: {exc.strerror}") from exc
        return cls(_parse(text, str(p)), p)

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        where = self.source_path.name if self.source_path else "in memory"
        return f"<PriceTable {len(self)} prices, checked up to {self.date}, {where}>"

    def rows(self) -> list[dict[str, Any]]:
        """Every row as a dict (the CSV's columns), in table order."""
        return [
            {"model": m, "region": r, "tier": t, "audio": a, **vars(p)}
            for (m, r, t, a), p in self._rows.items()
        ]

    def lookup(self, model: str, region: str, tier: Any, sound: bool) -> Price | None:
        """The price of (model, region, tier) with or without sound, or None if not known.

        ``model`` may be a regional alias. An ``audio``/``silent`` row beats an ``any`` row.
        """
        key = (canonical_model(model), region, normalize_tier(tier))
        specific = self._rows.get((*key, "audio" if sound else "silent"))
        return specific if specific is not None else self._rows.get((*key, "any"))


def _parse(text: str, where: str) -> dict[tuple[str, str, str, str], Price]:
    """Rows of a price CSV, checked: every bad cell is an error naming row, column and value."""
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ConfigError(
            f"price table {where}: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}"
        )
    rows: dict[tuple[str, str, str, str], Price] = {}
    for line, raw in enumerate(reader, start=2):
        cell = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(cell.values()):
            continue  # blank line

        def bad(column: str, allowed: str, cell: dict[str, str] = cell, line: int = line) -> None:
            raise ConfigError(
                f"price table {where}, line {line}: {column}={cell.get(column, '')!r} "
                f"is not allowed; expected {allowed}"
            )

        for column in ("model", "region", "tier"):
            if not cell[column]:
                bad(column, "a non-empty value")
        audio = cell.get("audio") or "any"
        if audio not in AUDIO_VALUES:
            bad("audio", " or ".join(AUDIO_VALUES))
        try:
            per_second = float(cell["per_second"])
        except ValueError:
            per_second = math.nan
        if not math.isfinite(per_second) or per_second < 0:
            bad("per_second", "a number >= 0 (leave the row out when the price is unknown)")
        if not _CURRENCY_RE.match(cell["currency"]):
            bad("currency", "a 3-letter ISO code such as USD or CNY")
        confidence = cell.get("confidence", "")
        if confidence not in CONFIDENCE_VALUES:
            bad("confidence", "O (official), S (secondary), I (derived) or empty")
        checked = cell.get("checked", "")
        if checked and not _CHECKED_RE.match(checked):
            bad("checked", "an ISO date YYYY-MM-DD (or YYYY-MM)")
        key = (canonical_model(cell["model"]), cell["region"], normalize_tier(cell["tier"]), audio)
        clash = [k for k in rows if k[:3] == key[:3] and (k[3] == audio or "any" in (k[3], audio))]
        if clash:
            raise ConfigError(
                f"price table {where}, line {line}: a second price for {key[0]} {key[1]} {key[2]} "
                f"(audio={audio}); each (model, region, tier) has one 'any' row or "
                "'audio'/'silent' rows"
            )
        rows[key] = Price(
            per_second=per_second,
            currency=cell["currency"],
            source=cell.get("source") or f"user table {Path(where).name}",
            confidence=confidence,
            checked=checked,
        )
    return rows


def _warn_unknown(model: str, region: str, tier: str) -> None:
    key = (canonical_model(model), region, normalize_tier(tier))
    if key in _warned:
        return
    _warned.add(key)
    warn_user(
        f"no price known for {key[0]} in region {key[1]!r} at {key[2]}: its cost is NaN (unknown), "
        "not 0. Add a row to your own price table (PriceTable.load(path)) to price it.",
        UnknownPriceWarning,
    )


def _check_seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name}={value!r} is not allowed; expected a number of seconds >= 0")


def estimate(
    table: PriceTable, model: str, region: str, tier: Any, seconds: float | None, sound: bool
) -> Estimate:
    """What ``seconds`` of video of (model, region, tier, sound) will cost. NaN if not priced,
    or if ``seconds`` is None (the billed length cannot be known before: see :func:`billed_seconds`)."""
    if seconds is not None:
        _check_seconds("seconds", seconds)
    price = table.lookup(model, region, tier, sound)
    if price is None:
        _warn_unknown(model, region, tier)
        return Estimate(math.nan, None, None, math.nan if seconds is None else float(seconds), None)
    if seconds is None:
        return Estimate(math.nan, price.currency, price.per_second, math.nan, price)
    return Estimate(
        price.per_second * seconds, price.currency, price.per_second, float(seconds), price
    )


def cost(
    table: PriceTable,
    model: str,
    region: str,
    tier: Any,
    billed_seconds: float | None,
    sound: bool,
    status: Any,
) -> Estimate:
    """What a finished run cost.

    FAILED, CANCELED, UNKNOWN (and ERROR, NOT_CREATED: no task) cost 0.0: nothing was billed. A
    SUCCEEDED run costs price × ``billed_seconds`` (from ``usage``); NaN when the price or the
    billed seconds are unknown. Any other status (still running, EXPIRED, AMBIGUOUS) is NaN:
    the outcome, and so the bill, is not known. (Whether billed seconds can be believed at all is
    :func:`plausible_seconds`; the caller asks before pricing.)
    """
    if isinstance(billed_seconds, float) and math.isnan(billed_seconds):
        billed_seconds = None  # a NaN from a DataFrame means "not reported", like None
    state = str(getattr(status, "value", status)).upper()
    if billed_seconds is not None:
        _check_seconds("billed_seconds", billed_seconds)
    seconds = math.nan if billed_seconds is None else float(billed_seconds)
    price = table.lookup(model, region, tier, sound)
    if state != "SUCCEEDED":
        # No warning here: an unbilled run costs 0 whatever the price, an unfinished one is unknown.
        amount = 0.0 if state in UNBILLED_STATUSES else math.nan
    elif price is None:
        _warn_unknown(model, region, tier)
        amount = math.nan
    else:
        amount = price.per_second * seconds
    return Estimate(
        amount,
        price.currency if price else None,
        price.per_second if price else None,
        seconds,
        price,
    )


def billed_seconds(
    spec: ModelSpec,
    duration: int,
    media: Sequence[MediaItem] = (),
    lengths: Mapping[str, float] | None = None,
) -> float | None:
    """The seconds the service will bill for a request (docs/dashscope-wan27.md §10); None if not knowable.

    ``duration`` is the resolved output duration; ``lengths`` the known lengths of input clips by
    media field (local files are probed; a URL's length is unknown). Output seconds are billed
    for every model; a continuation's ``duration`` already includes its clip. Reference-to-video
    adds each reference video's length capped at its share of 5 s (an unknown length counts as
    the whole cap, so the estimate is never low); video editing adds its input, cut to
    ``duration`` when that is set, and its output is as long — unknown for a video URL.
    """
    lengths = lengths or {}
    if spec.billed_input == "references" and spec.media is not None:
        caps = catalogue().reference_caps
        refs = [m for m in media if m.type in spec.media.reference_types]
        if not refs:
            return float(duration)
        cap = caps[min(len(refs), len(caps)) - 1]
        videos = [m for m in refs if m.type == "reference_video"]
        return sum(min(lengths.get(v.field, cap), cap) for v in videos) + float(duration)
    if spec.billed_input == "all":
        video = next((m for m in media if m.type == "video"), None)
        length = lengths.get(video.field) if video is not None else None
        if length is None:
            return None
        used = min(float(duration), length) if duration else length
        return 2 * used
    return float(duration)


class Totals(dict):  # dict[str, float]
    """Known sums per currency (``{"USD": 1.5, "CNY": 3.0}``); amounts in different currencies
    are never added together.

    ``unknown`` counts the amounts that were NaN, per currency (``None`` when even the currency is
    unknown): a total with unknowns is a lower bound, and ``str()`` says so.
    """

    def __init__(self) -> None:
        super().__init__()
        self.unknown: dict[str | None, int] = {}

    @property
    def unknown_count(self) -> int:
        return sum(self.unknown.values())

    def __str__(self) -> str:
        parts = [f"{amount:.4f} {currency}" for currency, amount in sorted(self.items())]
        text = " + ".join(parts) if parts else "nothing known"
        if self.unknown_count:
            n = self.unknown_count
            text += f" (plus {n} amount{'s' if n != 1 else ''} of unknown cost)"
        return text


def totals(rows: Iterable[Any]) -> Totals:
    """Sum amounts per currency, never across currencies, counting the unknown ones apart.

    Each row is an :class:`Estimate` (or anything with ``amount`` and ``currency``), a mapping
    with ``currency`` and ``cost`` or ``amount``, or an ``(amount, currency)`` pair.
    """
    out = Totals()
    for row in rows:
        if isinstance(row, Mapping):
            amount, currency = row.get("cost", row.get("amount")), row.get("currency")
        elif isinstance(row, tuple):
            amount, currency = row
        else:
            amount, currency = row.amount, row.currency
        value = as_number(amount)
        code = currency if isinstance(currency, str) and currency else None
        if value == 0.0 and code is None:
            continue  # an unbilled run whose price is unknown: 0 in no currency adds nothing
        if value is None or code is None:
            out.unknown[code] = out.unknown.get(code, 0) + 1
            continue
        out[code] = out.get(code, 0.0) + value
    return out


def as_number(value: Any) -> float | None:
    """A finite-or-infinite float, or None for None / NaN / pandas NA / anything not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
