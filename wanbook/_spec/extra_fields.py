"""``Request.extra``: fields wanbook does not know yet, passed through to the wire body.

A request field hidden in ``extra`` (``extra={"parameters": {"size": "1280*720"}}``) would be sent
without the catalogue's checks and priced as the field says, not as sent; so ``extra`` may carry
only fields wanbook does not know, and a known one is refused, naming the field to use. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wanbook._errors import Problem

__all__ = ["FIELD_OF_KEY", "extra_problems", "extra_sections", "short_value"]


def _problem(field: str, value: Any, message: str) -> Problem:
    return Problem(field=field, value=value, message=message, severity="error")


def short_value(v: Any) -> Any:
    """A value fit for a message: long text cut, bytes and objects by their size or type."""
    if isinstance(v, str) and len(v) > 80:
        return v[:60] + f"...<{len(v)} characters>"
    if isinstance(v, bytes | bytearray):
        return f"<{len(v)} bytes>"
    return v if isinstance(v, str | int | float | bool | type(None)) else f"<{type(v).__name__}>"


#: Wire keys that are request fields -> the Request field to use instead. ``extra`` may not set
#: them: the catalogue's rules and the price estimate read the fields, so a value hidden in ``extra``
#: would be sent unchecked and priced as something else (e.g. 1080P billed as 480P).
FIELD_OF_KEY = {
    "model": "model",
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "img_url": "image",
    "image": "image",
    "audio_url": "audio_url",
    "template": "template",
    "size": "size",
    "resolution": "resolution",
    "duration": "duration",
    "seed": "seed",
    "prompt_extend": "prompt_extend",
    "watermark": "watermark",
    "shot_type": "shot_type",
    "audio": "audio",
    "ratio": "ratio",
    "audio_setting": "audio_setting",
    "media": "media",
    "first_frame_url": "first_frame",
    "last_frame_url": "last_frame",
}


def extra_sections(extra: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``extra`` split as ``build_body`` sends it: ``(path, mapping)`` pairs, where a flat
    mapping (no ``input``/``parameters`` key) and the flat keys beside them go to ``parameters``."""
    if "input" not in extra and "parameters" not in extra:
        return [("extra", extra)]
    flat = {k: v for k, v in extra.items() if k not in ("input", "parameters")}
    out = [(f"extra.{k}", extra[k]) for k in ("input", "parameters") if extra.get(k) is not None]
    return [*out, ("extra", flat)] if flat else out


def extra_problems(extra: Any) -> list[Problem]:
    """The problems of ``extra``: not a mapping, or a request field hidden in it."""
    out: list[Problem] = []
    if extra is None:
        return out
    if not isinstance(extra, Mapping):
        return [_problem("extra", short_value(extra), "extra must be a mapping of field -> value")]
    for path, section in extra_sections(extra):
        if not isinstance(section, Mapping):
            out.append(
                _problem(path, short_value(section), f"{path} must be a mapping of field -> value")
            )
            continue
        for key, value in section.items():
            name = FIELD_OF_KEY.get(key) if isinstance(key, str) else None
            if name is None:
                continue
            shown = short_value(value)
            out.append(
                _problem(
                    f"{path}.{key}",
                    shown,
                    f"{path}.{key}={shown!r} would skip wanbook's checks and price estimate; "
                    f"use the {name} field instead ({name}={shown!r}); extra is for fields "
                    "wanbook does not know",
                )
            )
    return out
