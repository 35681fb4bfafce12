"""The rules a request must meet, checked against the catalogue: every problem at once.

``validate`` returns every problem (errors block sending, warnings are only said); ``check``
raises one :class:`ValidationError` naming each field, the value given and what the model allows.
Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from wanbook._errors import Problem, ValidationError
from wanbook._spec.catalogue import Catalogue, ModelSpec, catalogue, tier_of_size
from wanbook._spec.extra_fields import extra_problems
from wanbook._spec.extra_fields import short_value as _short

if TYPE_CHECKING:
    from wanbook._spec.request import Request

__all__ = ["check", "validate"]

_SIZE_RE = re.compile(r"^\d+\*\d+$")


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
    out += extra_problems(req.extra)
    return out


def check(req: Request, region: str = "intl") -> list[Problem]:
    """Raise :class:`ValidationError` if ``req`` has any error; return its warnings."""
    problems = validate(req, region)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ValidationError(errors, model=req.model if isinstance(req.model, str) else None)
    return problems
