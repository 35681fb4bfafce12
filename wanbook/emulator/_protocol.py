"""The service's wire vocabulary, as pure functions: times, error bodies, usage, prompt rewrite.

Nothing here does I/O or reads a clock; every function takes what it needs, so each shape the
emulator answers with can be tested as a table (docs/dashscope-api.md §3, §4).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from wanbook._spec.catalogue import ModelSpec

__all__ = [
    "ERROR_MESSAGES",
    "TZ_SERVICE",
    "actual_prompt",
    "error_body",
    "format_time",
    "list_time",
    "new_id",
    "oss_error_xml",
    "parse_list_time",
    "usage_for",
    "vendor_region",
]

# The service reports times in UTC+8 (docs/dashscope-api.md §1), whatever region answers.
TZ_SERVICE = timezone(timedelta(hours=8))

# Vendor wording for the errors the emulator answers (docs/dashscope-api.md §3, §4).
ERROR_MESSAGES: dict[str, str] = {
    "no_key": "No API-key provided.",
    "bad_key": "Invalid API-key provided.",
    "sync": "current user api does not support synchronous calls",
    "model": "Model not exist.",
    "cancel": "Failed to cancel the task, please confirm if the task is in PENDING status.",
    "rate": "Requests rate limit exceeded, please try again later.",
    "throttle": "Request was denied due to request throttling, please try again later.",
    "internal": "An internal error has occured, please try again later or contact service support.",
    "unavailable": "Model is temporarily unavailable, please try again later.",
    "inspection": "Output data may contain inappropriate content.",
    "empty_model": 'Required parameter "model" missing from request.',
    "empty_input": 'Required parameter "input" missing from request.',
    "json": "The request body is not valid JSON.",
    "too_large": "The request body is too large.",
}

# wanbook region id -> the region name the service reports in task lists.
_VENDOR_REGIONS = {
    "intl": "ap-southeast-1",
    "us": "us-east-1",
    "cn": "cn-beijing",
    "eu": "eu-central-1",
}

_TIER_SR = {"480P": 480, "720P": 720, "1080P": 1080}


def new_id() -> str:
    """A fresh request or task id, shaped like the service's (a UUID4)."""
    return str(uuid.uuid4())


def format_time(epoch: float) -> str:
    """``epoch`` as the service writes it: UTC+8, ``YYYY-MM-DD HH:mm:ss.SSS``."""
    dt = datetime.fromtimestamp(epoch, tz=TZ_SERVICE)
    return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def list_time(epoch: float | None) -> int | None:
    """A time in a task-list entry: epoch milliseconds (docs/dashscope-api.md §4.2)."""
    return None if epoch is None else int(math.floor(epoch * 1000))


def parse_list_time(text: str) -> float:
    """A list filter time ``YYYYMMDDhhmmss`` (UTC+8) as epoch seconds; ValueError if malformed."""
    if len(text) != 14 or not text.isdigit():
        raise ValueError(text)
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=TZ_SERVICE).timestamp()


def vendor_region(region: str) -> str:
    return _VENDOR_REGIONS.get(region, region)


def error_body(code: str, message: str) -> dict[str, str]:
    """The error body every 4xx/5xx carries, with a fresh request id."""
    return {"code": code, "message": message, "request_id": new_id()}


def oss_error_xml(code: str, message: str, request_id: str) -> bytes:
    """An object-store error document, as an expired or missing OSS link answers."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{code}</Code>\n  <Message>{message}</Message>\n"
        f"  <RequestId>{request_id}</RequestId>\n  <HostId>wanbook-emulator</HostId>\n"
        "</Error>\n"
    ).encode()


def usage_for(
    spec: ModelSpec,
    *,
    duration: float,
    tier: str,
    size: str,
    sound: bool,
    input_seconds: float = 0.0,
    ratio: str | None = None,
) -> dict[str, Any]:
    """The ``usage`` of a SUCCEEDED task, in exactly the shape of the model's family (§3.1;
    docs/dashscope-wan27.md §4-§8 for wan2.7 and kf2v).

    ``size`` is the output ``W*H``; the t2v families report it, the i2v ones report the tier.
    ``duration`` is the output's length; ``input_seconds`` the input billed with it (r2v: the
    capped reference videos; videoedit: the input video) or, for a continuation, its clip's
    length (reported, never billed: wan2.7-i2v bills ``duration``).
    """
    sr = _TIER_SR[tier]
    family = spec.usage
    if family.startswith("wan2.7-"):
        return _wan27_usage(family, duration, input_seconds, sr, ratio)
    if family == "kf2v-2.2":
        return {"video_duration": duration, "video_count": 1, "SR": sr}
    if family == "kf2v-2.1":
        return {"video_duration": duration, "video_count": 1, "video_ratio": "standard"}
    if family in ("wan2.6-t2v", "wan2.6-i2v", "wan2.6-i2v-flash"):
        usage: dict[str, Any] = {
            "duration": duration,
            "input_video_duration": 0,
            "output_video_duration": duration,
            "video_count": 1,
            "SR": sr,
        }
        if family == "wan2.6-t2v":
            usage["size"] = size
        if family == "wan2.6-i2v-flash":
            usage["audio"] = sound
        return usage
    if family == "sr-duration":
        return {"duration": duration, "SR": sr, "video_count": 1}
    if family == "t2v-legacy":
        return {"video_duration": duration, "video_ratio": size, "video_count": 1}
    if family == "wan2.1-i2v":
        return {"video_duration": duration, "video_ratio": "standard", "video_count": 1}
    raise ValueError(f"unknown usage family {family!r} for model {spec.name}")


def _number(x: float) -> float | int:
    """Whole seconds as an integer (as the vendor's examples print them), fractions as floats."""
    return int(x) if float(x).is_integer() else round(float(x), 2)


def _wan27_usage(
    family: str, duration: float, input_seconds: float, sr: int, ratio: str | None
) -> dict[str, Any]:
    """wan2.7 ``usage``: t2v reports input 0 and its ratio; i2v bills the output only (a
    continuation's clip is inside it); r2v and videoedit bill input + output (§6.4, §7)."""
    billed = duration + input_seconds if family in ("wan2.7-r2v", "wan2.7-videoedit") else duration
    usage: dict[str, Any] = {
        "duration": _number(billed),
        "input_video_duration": _number(input_seconds if family != "wan2.7-t2v" else 0),
        "output_video_duration": _number(duration),
        "video_count": 1,
        "SR": sr,
    }
    if family == "wan2.7-videoedit":  # documented as floats: 5.02 + 5.02 = 10.04
        usage = {k: float(v) if k != "video_count" and k != "SR" else v for k, v in usage.items()}
    if family in ("wan2.7-t2v", "wan2.7-r2v") and ratio:
        usage["ratio"] = ratio
    return usage


# Phrases the emulator's stand-in "prompt rewriter" adds. The real rewrite is an LLM; this one is
# deterministic (prompt + seed), so tests can rely on it, and plausible enough to read.
_SHOTS = (
    "Medium shot",
    "Wide establishing shot",
    "Low-angle shot",
    "Close-up",
    "Slow tracking shot",
    "Overhead shot",
)
_LIGHT = (
    "soft natural light",
    "warm golden-hour light",
    "cool moonlight with gentle rim lighting",
    "diffuse overcast light",
    "high-contrast side lighting",
)
_STYLE = (
    "cinematic composition, shallow depth of field",
    "smooth camera movement, rich detail",
    "balanced colours, film grain",
    "steady framing, realistic textures",
)


def actual_prompt(prompt: str, seed: int, *, from_image: bool = False) -> str:
    """A deterministic stand-in for the service's rewritten prompt (``prompt_extend``)."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    shot = _SHOTS[digest[0] % len(_SHOTS)]
    light = _LIGHT[digest[1] % len(_LIGHT)]
    style = _STYLE[digest[2] % len(_STYLE)]
    text = prompt.strip().rstrip(".")
    if not text:
        text = "The scene in the image comes to life with gentle, natural motion"
    elif from_image:
        text = f"The scene in the image comes to life: {text}"
    else:
        text = text[0].upper() + text[1:]
    return f"{shot}, {light}. {text}. {style.capitalize()}."
