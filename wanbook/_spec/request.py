"""One request type for every Wan generation: its defaults and its wire body.

Everything here is pure: no I/O, no network, no clock. The rules a request must meet live in
``_spec.rules`` (re-exported here as ``validate`` and ``check``). The emulator parses the bodies it
receives with :func:`request_from_body` and checks them with the same rules, so wanbook and its
emulator cannot disagree about what a model accepts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from wanbook._errors import Problem, ValidationError
from wanbook._spec.catalogue import ModelSpec, catalogue, tier_of_size
from wanbook._spec.extra_fields import FIELD_OF_KEY
from wanbook._spec.media import MediaItem, Reference, media_items
from wanbook._spec.rules import check, validate

__all__ = [
    "Request",
    "Resolved",
    "build_body",
    "check",
    "draw_seed",
    "request_from_body",
    "resolve",
    "validate",
    "with_seed",
]

_INPUT_FIELDS = ("prompt", "negative_prompt", "audio_url", "template")
_PARAM_FIELDS = (
    "size",
    "resolution",
    "ratio",
    "duration",
    "prompt_extend",
    "shot_type",
    "audio",
    "audio_setting",
    "watermark",
    "seed",
)
_MEDIA_REQUEST_FIELDS = (
    "first_frame",
    "last_frame",
    "first_clip",
    "driving_audio",
    "reference_images",
    "reference_videos",
    "video",
    "media",
)


@dataclass(frozen=True)
class Request:
    """A generation to ask for. Only ``model`` is always required; the rest follow the model.

    ``image`` (i2v) may be an ``http(s)`` URL or ``data:`` URI, a local path, bytes or a PIL
    image; the session turns it into a URL or data URI before it is sent. For the models that
    take input media (wan2.7, kf2v) ``image`` is the first frame, and ``first_frame``,
    ``last_frame``, ``first_clip``, ``driving_audio``, ``video`` and the lists
    ``reference_images``/``reference_videos`` (items may be :class:`Reference` with a voice) take
    a path, URL or bytes each (images also a PIL image); local audio and video are uploaded.
    ``media`` is the raw wire list ``[{"type": ..., "url": ...}]`` instead. ``extra`` passes
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
    ratio: str | None = None
    audio_setting: str | None = None
    first_frame: Any = None
    last_frame: Any = None
    first_clip: Any = None
    driving_audio: Any = None
    reference_images: Any = None
    reference_videos: Any = None
    video: Any = None
    media: Any = None
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
            if f.name == "image" or f.name in _MEDIA_REQUEST_FIELDS:
                v = _shown(v)
            out[f.name] = dict(v) if isinstance(v, Mapping) else v
        return out


def _shown(v: Any) -> Any:
    """A media value as text: strings as they are, the rest by type (lists item by item)."""
    if isinstance(v, Reference):
        return {"source": _shown(v.source), "voice": _shown(v.voice)}
    if isinstance(v, list | tuple):
        return [_shown(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _shown(x) for k, x in v.items()}
    return v if isinstance(v, str | int | float | bool | type(None)) else f"<{type(v).__name__}>"


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
    ratio: str | None = None  # ratio geometry: the ratio the service applies (None: follows input)
    media: tuple[MediaItem, ...] = ()


def resolve(req: Request) -> Resolved:
    """``req`` with the model's defaults filled in. Assumes ``req`` is valid for its model."""
    spec = catalogue().get(req.model)
    if spec is None:
        raise ValidationError(validate(req), model=str(req.model))
    items = tuple(media_items(req, spec)[0])
    ratio = None
    if spec.sized:
        size = req.size or spec.default
        tier = tier_of_size(size) or spec.default_tier
    else:
        size = None
        tier = req.resolution or spec.default
    if spec.geometry == "ratio":
        with_first_frame = any(i.type == "first_frame" for i in items)
        ratio = None if with_first_frame else (req.ratio or spec.ratio_default or None)
        size = spec.ratio_size(tier, ratio) if ratio else None
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
        ratio=ratio,
        media=items,
    )


def build_body(
    req: Request,
    region: str = "intl",
    img_url: str | None = None,
    media_urls: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON body of a create request. ``img_url`` is the prepared image (URL or data URI);
    ``media_urls`` maps each medium's field (``first_frame``, ``reference_images[0].voice``) to
    what is sent for it (a URL, a data URI or an ``oss://`` upload); the rest go as given.

    Only fields the user set are sent (the service applies its own defaults), except that a
    fixed duration is never sent, and the model goes by its name in ``region``. The models that
    take media send them as docs/dashscope-wan27.md §12.3 shows: ``input.media`` (wan2.7) or
    ``input.first_frame_url``/``last_frame_url`` (kf2v).
    """
    spec = catalogue().get(req.model)
    if spec is None:
        raise ValidationError(validate(req, region), model=str(req.model))
    urls = dict(media_urls or {})
    inp: dict[str, Any] = {}
    for name in _INPUT_FIELDS:
        v = getattr(req, name)
        if v is not None:
            inp[name] = urls.get(name, v)  # audio_url: a local file's upload
    if spec.protocol == "classic":
        if img_url is None and isinstance(req.image, str):
            img_url = req.image
        if img_url is not None:
            inp["img_url"] = img_url
    else:
        items = media_items(req, spec)[0]
        if spec.protocol == "frames":
            for item in items:
                inp[f"{item.type}_url"] = urls.get(item.field, item.source)
        elif items or req.media is not None:
            inp["media"] = [_wire_item(item, urls) for item in items]
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


def _wire_item(item: MediaItem, urls: Mapping[str, str]) -> dict[str, Any]:
    out = {"type": item.type, "url": urls.get(item.field, item.source)}
    if item.voice is not None:
        out["reference_voice"] = urls.get(item.voice_field, item.voice)
    return out


def _has(spec: ModelSpec | None, name: str) -> bool:
    """Whether a body's ``ratio``/``audio_setting`` is read as that field. A wan2.1-2.6 model
    has never heard of them and ignores them (unknown parameters); the newer models know them,
    so one where it does not belong is refused (docs/dashscope-wan27.md §13.1)."""
    if spec is None or name not in ("ratio", "audio_setting") or spec.protocol != "classic":
        return True
    return bool(spec.ratios) if name == "ratio" else bool(spec.audio_settings)


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
    spec = catalogue().get(body["model"]) if isinstance(body.get("model"), str) else None
    known = {k: params[k] for k in _PARAM_FIELDS if k in params and _has(spec, k)}
    extra = {k: v for k, v in params.items() if k not in FIELD_OF_KEY}
    frames = {
        "first_frame": inp.get("first_frame_url"),
        "last_frame": inp.get("last_frame_url"),
    }
    return Request(
        model=body.get("model"),  # type: ignore[arg-type]
        prompt=inp.get("prompt"),
        negative_prompt=inp.get("negative_prompt"),
        image=inp.get("img_url"),
        audio_url=inp.get("audio_url"),
        template=inp.get("template"),
        media=inp.get("media"),
        extra={"parameters": extra} if extra else None,
        **{k: v for k, v in frames.items() if v is not None},
        **known,
    )


def draw_seed(rng: random.Random | None = None) -> int:
    """A seed for a request that names none. wanbook draws it (the service never says which it
    picked), so the seed of every run is known, logged and can be used again."""
    lo, hi = catalogue().limits["seed_min"], catalogue().limits["seed_max"]
    return (rng or random.SystemRandom()).randint(lo, hi)


def with_seed(request: Request) -> Request:
    """``request`` with a drawn seed if it names none (every entry point sends one)."""
    return request if request.seed is not None else request.replace(seed=draw_seed())
