"""One request type for every Wan generation: its defaults and its wire body.

Everything here is pure: no I/O, no network, no clock. The rules a request must meet live in
``_spec.rules`` (re-exported here as ``validate`` and ``check``). The emulator parses the bodies it
receives with :func:`request_from_body` and checks them with the same rules, so wanbook and its
emulator cannot disagree about what a model accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from wanbook._errors import Problem, ValidationError
from wanbook._spec.catalogue import ModelSpec, catalogue, tier_of_size
from wanbook._spec.extra_fields import FIELD_OF_KEY
from wanbook._spec.rules import check, validate

__all__ = [
    "Request",
    "Resolved",
    "build_body",
    "check",
    "request_from_body",
    "resolve",
    "validate",
]

_INPUT_FIELDS = ("prompt", "negative_prompt", "audio_url", "template")
_PARAM_FIELDS = (
    "size",
    "resolution",
    "duration",
    "prompt_extend",
    "shot_type",
    "audio",
    "watermark",
    "seed",
)


@dataclass(frozen=True)
class Request:
    """A generation to ask for. Only ``model`` is always required; the rest follow the model.

    ``image`` (i2v) may be an ``http(s)`` URL or ``data:`` URI, a local path, bytes or a PIL
    image; the session turns it into a URL or data URI before it is sent. ``extra`` passes
    fields wanbook does not know yet: ``{"input": {...}, "parameters": {...}}`` (a flat mapping
    goes to ``parameters``).
    """

    model: str
    prompt: str | None = None
    negative_prompt: str | None = None
    image: Any = None
    audio_url: str | None = None
    template: str | None = None
    size: str | None = None
    resolution: str | None = None
    duration: int | None = None
    seed: int | None = None
    prompt_extend: bool | None = None
    watermark: bool | None = None
    shot_type: str | None = None
    audio: bool | None = None
    extra: Mapping[str, Any] | None = None

    def replace(self, **changes: Any) -> Request:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (image shown as its type unless it is a string)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            if f.name == "image" and not isinstance(v, str):
                v = f"<{type(v).__name__}>"
            out[f.name] = dict(v) if isinstance(v, Mapping) else v
        return out


@dataclass(frozen=True)
class Resolved:
    """A request with the model's defaults filled in: what the service will actually do."""

    spec: ModelSpec
    tier: str
    size: str | None  # t2v only
    duration: int
    sound: bool
    prompt_extend: bool
    seed: int | None
    watermark: bool
    shot_type: str


def resolve(req: Request) -> Resolved:
    """``req`` with the model's defaults filled in. Assumes ``req`` is valid for its model."""
    spec = catalogue().get(req.model)
    if spec is None:
        raise ValidationError(validate(req), model=str(req.model))
    if spec.is_t2v:
        size = req.size or spec.default
        tier = tier_of_size(size) or spec.default_tier
    else:
        size = None
        tier = req.resolution or spec.default
    return Resolved(
        spec=spec,
        tier=tier,
        size=size,
        duration=int(req.duration) if req.duration is not None else spec.duration.default,
        sound=spec.has_sound(req.audio, req.audio_url),
        prompt_extend=True if req.prompt_extend is None else bool(req.prompt_extend),
        seed=req.seed,
        watermark=bool(req.watermark),
        shot_type=req.shot_type or "single",
    )


def build_body(req: Request, region: str = "intl", img_url: str | None = None) -> dict[str, Any]:
    """The JSON body of a create request. ``img_url`` is the prepared image (URL or data URI).

    Only fields the user set are sent (the service applies its own defaults), except that a
    fixed duration is never sent, and the model goes by its name in ``region``.
    """
    spec = catalogue().get(req.model)
    if spec is None:
        raise ValidationError(validate(req, region), model=str(req.model))
    inp: dict[str, Any] = {}
    for name in _INPUT_FIELDS:
        v = getattr(req, name)
        if v is not None:
            inp[name] = v
    if img_url is None and isinstance(req.image, str):
        img_url = req.image
    if img_url is not None:
        inp["img_url"] = img_url
    params: dict[str, Any] = {}
    for name in _PARAM_FIELDS:
        v = getattr(req, name)
        if v is None or (name == "duration" and spec.duration.fixed):
            continue
        params[name] = v
    extra = dict(req.extra or {})
    if "input" in extra or "parameters" in extra:
        inp.update(extra.pop("input", None) or {})
        params.update(extra.pop("parameters", None) or {})
    params.update(extra)
    return {"model": spec.wire_name(region), "input": inp, "parameters": params}


def request_from_body(body: Mapping[str, Any]) -> Request:
    """Parse a wire body (as the service receives it) back into a :class:`Request`.

    Unknown ``input`` keys are ignored as the service ignores them; unknown ``parameters`` are
    kept in ``extra``. A request field in the wrong section (``parameters.prompt``) is not that
    field and is ignored too: ``extra`` may not carry request fields (see ``_spec.extra_fields``).
    """
    inp = body.get("input") or {}
    params = body.get("parameters") or {}
    if not isinstance(inp, Mapping) or not isinstance(params, Mapping):
        problem = Problem("input", type(inp).__name__, "input and parameters must be JSON objects")
        raise ValidationError([problem])
    known = {k: params[k] for k in _PARAM_FIELDS if k in params}
    extra = {k: v for k, v in params.items() if k not in FIELD_OF_KEY}
    return Request(
        model=body.get("model"),  # type: ignore[arg-type]
        prompt=inp.get("prompt"),
        negative_prompt=inp.get("negative_prompt"),
        image=inp.get("img_url"),
        audio_url=inp.get("audio_url"),
        template=inp.get("template"),
        extra={"parameters": extra} if extra else None,
        **known,
    )
