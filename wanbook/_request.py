"""One request type for every Wan generation, its validation against the catalogue, and its body.

Everything here is pure: no I/O, no network, no clock. ``validate`` returns *every* problem at
once (errors and warnings); ``check`` raises one :class:`ValidationError` naming each field, the
value given and what the model allows. The emulator uses the same functions on the bodies it
receives, so wanbook and its emulator cannot disagree about what a model accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from wanbook._catalogue import Catalogue, ModelSpec, catalogue, tier_of_size
from wanbook._errors import Problem, ValidationError

__all__ = [
    "Request",
    "Resolved",
    "build_body",
    "check",
    "request_from_body",
    "resolve",
    "validate",
]

_SIZE_RE = re.compile(r"^\d+\*\d+$")
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


def _choices(values: Any) -> str:
    return ", ".join(str(v) for v in values)


def _problem(field: str, value: Any, message: str, severity: str = "error") -> Problem:
    return Problem(field=field, value=value, message=message, severity=severity)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_bool(req: Request, name: str, out: list[Problem]) -> None:
    v = getattr(req, name)
    if v is not None and not isinstance(v, bool):
        out.append(_problem(name, v, f"{name} {v!r} must be true or false"))


def _check_geometry(req: Request, spec: ModelSpec, cat: Catalogue, out: list[Problem]) -> None:
    if spec.is_t2v:
        if req.resolution is not None:
            out.append(
                _problem(
                    "resolution",
                    req.resolution,
                    f"resolution {req.resolution!r} is for image-to-video; text-to-video model "
                    f"{spec.name} takes an exact size W*H, one of {_choices(spec.sizes)}",
                )
            )
        if req.size is not None and req.size not in spec.sizes:
            if not isinstance(req.size, str) or not _SIZE_RE.match(req.size):
                hint = " (an exact W*H, not an aspect ratio or a tier name)"
            elif tier_of_size(req.size):
                hint = f" ({tier_of_size(req.size)} is not a tier of this model)"
            else:
                hint = ""
            out.append(
                _problem(
                    "size",
                    req.size,
                    f"size {req.size!r} is not offered by {spec.name}{hint}; "
                    f"choose one of {_choices(spec.sizes)}",
                )
            )
        return
    if req.size is not None:
        out.append(
            _problem(
                "size",
                req.size,
                f"size {req.size!r} is for text-to-video; image-to-video model {spec.name} "
                f"takes a resolution tier, one of {_choices(spec.tiers)} (the output keeps "
                "the image's aspect ratio)",
            )
        )
    if req.resolution is not None and req.resolution not in spec.tiers:
        out.append(
            _problem(
                "resolution",
                req.resolution,
                f"resolution {req.resolution!r} is not offered by {spec.name}; "
                f"choose one of {_choices(spec.tiers)}",
            )
        )


def _check_duration(req: Request, spec: ModelSpec, out: list[Problem]) -> None:
    d = req.duration
    if d is None:
        return
    if spec.duration.fixed and d == spec.duration.default and _is_int(d):
        return
    if not spec.duration.allows(d):
        out.append(
            _problem(
                "duration",
                d,
                f"duration {d!r} is not offered by {spec.name}; it is {spec.duration.describe()}",
            )
        )


def _check_text(req: Request, spec: ModelSpec, cat: Catalogue, out: list[Problem]) -> None:
    for name in ("prompt", "negative_prompt"):
        v = getattr(req, name)
        if v is not None and not isinstance(v, str):
            out.append(_problem(name, v, f"{name} must be text, not {type(v).__name__}"))
    prompt = req.prompt if isinstance(req.prompt, str) else None
    if spec.is_t2v and not (prompt and prompt.strip()):
        out.append(
            _problem("prompt", req.prompt, f"prompt is required by text-to-video model {spec.name}")
        )
    if prompt and len(prompt) > spec.prompt_limit:
        out.append(
            _problem(
                "prompt",
                f"<{len(prompt)} characters>",
                f"prompt has {len(prompt)} characters; {spec.name} keeps {spec.prompt_limit} "
                f"and the server will silently cut it at {spec.prompt_limit} characters",
                "warning",
            )
        )
    neg = req.negative_prompt if isinstance(req.negative_prompt, str) else None
    limit = cat.limits["negative_prompt"]
    if neg and len(neg) > limit:
        out.append(
            _problem(
                "negative_prompt",
                f"<{len(neg)} characters>",
                f"negative_prompt has {len(neg)} characters; the server will silently cut it "
                f"at {limit} characters",
                "warning",
            )
        )


def _check_image_and_template(
    req: Request, spec: ModelSpec, cat: Catalogue, region: str, out: list[Problem]
) -> None:
    if spec.is_t2v:
        if req.image is not None:
            out.append(
                _problem(
                    "image",
                    _short(req.image),
                    f"image {_short(req.image)!r} is not accepted by text-to-video model {spec.name}; "
                    "use an image-to-video model (e.g. wan2.6-i2v-flash)",
                )
            )
    elif req.image is None or (isinstance(req.image, str) and not req.image.strip()):
        out.append(
            _problem("image", req.image, f"image is required by image-to-video model {spec.name}")
        )
    if req.template is None:
        return
    if not spec.templates:
        with_effects = ", ".join(m.name for m in cat.models.values() if m.templates)
        out.append(
            _problem(
                "template",
                req.template,
                f"template {req.template!r} (a video effect) is not accepted by {spec.name}; "
                f"effects exist for {with_effects}",
            )
        )
    elif req.template not in spec.templates:
        out.append(
            _problem(
                "template",
                req.template,
                f"template {req.template!r} is not in wanbook's effect list for {spec.name} "
                f"({_choices(spec.templates)}); the server may refuse it",
                "warning",
            )
        )
    elif region not in cat.effects_regions and cat.regions.get(region, None) is not None:
        out.append(
            _problem(
                "template",
                req.template,
                f"the vendor documents video effects for region(s) {_choices(cat.effects_regions)} "
                f"only; region {region!r} may refuse template {req.template!r}",
                "warning",
            )
        )
    if req.prompt:
        out.append(
            _problem(
                "prompt",
                _short(req.prompt),
                "the prompt is ignored when a template (video effect) is used",
                "warning",
            )
        )


def _check_audio(req: Request, spec: ModelSpec, out: list[Problem]) -> None:
    if req.audio is not None and spec.audio != "switchable":
        if spec.audio == "silent" and req.audio is True:
            out.append(
                _problem(
                    "audio",
                    req.audio,
                    f"audio={req.audio!r} is not possible: {spec.name} makes silent video only "
                    "(sound needs wan2.5 or later)",
                )
            )
        elif spec.audio == "always" and req.audio is False:
            out.append(
                _problem(
                    "audio",
                    req.audio,
                    f"audio={req.audio!r} is not possible: {spec.name} always adds sound "
                    "(for silent image-to-video use wan2.6-i2v-flash with audio=False)",
                )
            )
    if req.audio_url is None:
        return
    if not spec.audio_url:
        out.append(
            _problem(
                "audio_url",
                req.audio_url,
                f"audio_url {_without_query(req.audio_url)!r} is not accepted by {spec.name}, which makes silent video only "
                "(custom audio needs wan2.5 or later)",
            )
        )
    elif (bad := _audio_url_problem(req.audio_url)) is not None:
        out.append(bad)
    elif req.audio is False and spec.audio == "switchable":
        if spec.audio_wins:
            msg = f"with audio=False, {spec.name} makes a silent video and ignores audio_url"
        else:
            msg = f"audio_url beats audio=False on {spec.name}: the video will carry the audio"
        out.append(_problem("audio", req.audio, msg, "warning"))


def _without_query(url: Any) -> Any:
    """A URL fit for a message: signed URLs carry tokens in the query, so it is left out."""
    if not isinstance(url, str):
        return _short(url)
    parts = urlsplit(url.strip())
    return parts._replace(query="", fragment="").geturl() + ("?…" if parts.query else "")


def _audio_url_problem(url: Any) -> Problem | None:
    """An audio URL must be http(s) and name a wav or mp3 file; its length is the server's to check.

    The query string is left out of messages: signed URLs carry tokens.
    """
    spec = catalogue().audio_file
    exts = tuple(spec["extensions"])
    want = " or ".join("." + e for e in exts)
    limits = f"{spec['min_seconds']}-{spec['max_seconds']} s, at most {spec['max_mb']} MB"
    if not isinstance(url, str) or not url.strip():
        return _problem(
            "audio_url", _short(url), f"audio_url: expected an http(s) URL to a {want} file"
        )
    parts = urlsplit(url.strip())
    shown = _without_query(url)
    if parts.scheme.lower() not in ("http", "https"):
        got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        return _problem(
            "audio_url", shown, f"audio_url {shown!r}: {got} is not allowed; use an http(s) URL"
        )
    if not parts.netloc:
        return _problem("audio_url", shown, f"audio_url {shown!r}: the URL has no host")
    name = unquote(parts.path).rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in exts:
        found = f"extension .{ext}" if ext else "no file extension"
        return _problem(
            "audio_url",
            shown,
            f"audio_url {shown!r}: {found}; the Wan models accept {want} audio ({limits})",
        )
    return None


def _check_shot_type(req: Request, spec: ModelSpec, out: list[Problem]) -> None:
    if req.shot_type is None:
        return
    if not spec.shot_type:
        out.append(
            _problem(
                "shot_type",
                req.shot_type,
                f"shot_type {req.shot_type!r} is not accepted by {spec.name}; "
                "shot_type exists on wan2.6 models only",
            )
        )
        return
    if req.shot_type not in ("single", "multi"):
        out.append(
            _problem(
                "shot_type", req.shot_type, f"shot_type {req.shot_type!r}: choose single or multi"
            )
        )
    elif req.shot_type == "multi" and req.prompt_extend is False:
        out.append(
            _problem(
                "shot_type",
                req.shot_type,
                "shot_type 'multi' takes effect only with prompt_extend on; "
                "set prompt_extend=True or drop shot_type",
            )
        )


def _short(v: Any) -> Any:
    if isinstance(v, str) and len(v) > 80:
        return v[:60] + f"...<{len(v)} characters>"
    if isinstance(v, bytes | bytearray):
        return f"<{len(v)} bytes>"
    return v if isinstance(v, str | int | float | bool | type(None)) else f"<{type(v).__name__}>"


def validate(req: Request, region: str = "intl") -> list[Problem]:
    """Every problem with ``req`` for ``region``: errors (block sending) and warnings (said only)."""
    cat = catalogue()
    spec = cat.get(req.model) if isinstance(req.model, str) else None
    if spec is None:
        return [
            _problem(
                "model",
                req.model,
                f"model {req.model!r} is not a Wan video model wanbook knows; choose one of "
                f"{_choices(cat.names())}",
            )
        ]
    out: list[Problem] = []
    if region not in cat.regions:
        out.append(
            _problem(
                "region",
                region,
                f"region {region!r} is unknown; choose one of {_choices(cat.regions)}",
            )
        )
    elif not cat.serves(region, spec):
        out.append(
            _problem(
                "model",
                req.model,
                f"model {spec.name} is not served in region {region!r}; it is served in "
                f"{_choices(spec.regions)}",
            )
        )
    _check_text(req, spec, cat, out)
    _check_image_and_template(req, spec, cat, region, out)
    _check_geometry(req, spec, cat, out)
    _check_duration(req, spec, out)
    seed = req.seed
    lo, hi = cat.limits["seed_min"], cat.limits["seed_max"]
    if seed is not None and not (_is_int(seed) and lo <= seed <= hi):
        out.append(_problem("seed", seed, f"seed {seed!r} must be an integer from {lo} to {hi}"))
    for name in ("prompt_extend", "watermark", "audio"):
        _check_bool(req, name, out)
    _check_audio(req, spec, out)
    _check_shot_type(req, spec, out)
    if req.extra is not None and not isinstance(req.extra, Mapping):
        out.append(
            _problem("extra", _short(req.extra), "extra must be a mapping of field -> value")
        )
    return out


def check(req: Request, region: str = "intl") -> list[Problem]:
    """Raise :class:`ValidationError` if ``req`` has any error; return its warnings."""
    problems = validate(req, region)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ValidationError(errors, model=req.model if isinstance(req.model, str) else None)
    return problems


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
    kept in ``extra``.
    """
    inp = body.get("input") or {}
    params = body.get("parameters") or {}
    if not isinstance(inp, Mapping) or not isinstance(params, Mapping):
        raise ValidationError(
            [_problem("input", _short(inp), "input and parameters must be JSON objects")]
        )
    known = {k: params[k] for k in _PARAM_FIELDS if k in params}
    extra = {k: v for k, v in params.items() if k not in _PARAM_FIELDS}
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
