"""The rules a request must meet, checked against the catalogue: every problem at once.

``validate`` returns every problem (errors block sending, warnings are only said); ``check``
raises one :class:`ValidationError` naming each field, the value given and what the model allows.
Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from wanbook._errors import Problem, ValidationError
from wanbook._spec.catalogue import Catalogue, ModelSpec, catalogue, tier_of_size
from wanbook._spec.extra_fields import extra_problems
from wanbook._spec.extra_fields import short_value as _short
from wanbook._spec.media import media_items, media_problems, source_problem

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
    _check_ratio(req, spec, out)
    if spec.sized:
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
        if spec.geometry == "ratio":
            takes = (
                f"a resolution tier ({_choices(spec.tiers)}) and a ratio "
                f"({_choices(spec.ratios)}) instead"
            )
        elif spec.protocol == "classic":
            takes = (
                f"a resolution tier, one of {_choices(spec.tiers)} (the output keeps the "
                "image's aspect ratio)"
            )
        else:
            takes = (
                f"a resolution tier, one of {_choices(spec.tiers)} (the output keeps the aspect "
                "of its first frame or clip)"
            )
        what = "is for text-to-video" if spec.protocol == "classic" else "is not a parameter"
        out.append(
            _problem("size", req.size, f"size {req.size!r} {what} of {spec.name}; it takes {takes}")
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


def _check_ratio(req: Request, spec: ModelSpec, out: list[Problem]) -> None:
    r = req.ratio
    if r is None:
        return
    if spec.geometry != "ratio":
        if spec.sized:
            why = "it takes an exact size W*H"
        elif spec.protocol == "classic":
            why = "the output keeps the image's aspect ratio"
        else:
            why = "the output keeps the aspect of its first frame or clip"
        out.append(_problem("ratio", r, f"ratio {r!r} is not a parameter of {spec.name}: {why}"))
    elif r not in spec.ratios:
        out.append(
            _problem(
                "ratio",
                r,
                f"ratio {r!r} is not offered by {spec.name}; choose one of {_choices(spec.ratios)}",
            )
        )
    elif spec.kind == "r2v" and any(i.type == "first_frame" for i in media_items(req, spec)[0]):
        out.append(
            _problem(
                "ratio",
                r,
                f"{spec.name} ignores ratio when a first frame is given: the output keeps "
                "the first frame's aspect",
                "warning",
            )
        )


def _check_audio_setting(req: Request, spec: ModelSpec, out: list[Problem]) -> None:
    v = req.audio_setting
    if v is None:
        return
    if not spec.audio_settings:
        out.append(
            _problem(
                "audio_setting",
                v,
                f"audio_setting {v!r} is not accepted by {spec.name}; it belongs to video "
                "editing (wan2.7-videoedit)",
            )
        )
    elif v not in spec.audio_settings:
        out.append(
            _problem(
                "audio_setting",
                v,
                f"audio_setting {v!r} is not offered by {spec.name}; choose one of "
                f"{_choices(spec.audio_settings)} (auto: the model decides; origin: keep the "
                "input's sound)",
            )
        )


def _check_duration(req: Request, spec: ModelSpec, out: list[Problem]) -> None:
    d = req.duration
    if d is None:
        return
    if not _is_int(d):  # "5" or 5.0: a type mistake, not a length the model lacks
        out.append(
            _problem(
                "duration",
                d,
                f"duration {d!r} must be an integer number of seconds "
                f"({spec.name}: {spec.duration.describe()})",
            )
        )
        return
    rule = spec.media
    if rule is not None and rule.duration_with_video and spec.duration.allows(d):
        items = media_items(req, spec)[0]
        if any(i.type == "reference_video" for i in items):
            lo, hi = rule.duration_with_video
            if not lo <= int(d) <= hi:
                out.append(
                    _problem(
                        "duration",
                        d,
                        f"duration {d!r} is not offered by {spec.name} with a reference video; "
                        f"it is an integer from {lo} to {hi} s",
                    )
                )
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


#: Text longer than this many times what the model keeps is refused, not sent and stored in full
#: (a 40 MB prompt is a mistake: the service would keep its first few hundred characters).
TEXT_REFUSE_FACTOR = 10


def _check_text(req: Request, spec: ModelSpec, cat: Catalogue, out: list[Problem]) -> None:
    for name in ("prompt", "negative_prompt"):
        v = getattr(req, name)
        if v is not None and not isinstance(v, str):
            out.append(_problem(name, v, f"{name} must be text, not {type(v).__name__}"))
        elif isinstance(v, str):
            keeps = spec.prompt_limit if name == "prompt" else cat.limits["negative_prompt"]
            _check_text_value(name, v, keeps, out)
    prompt = req.prompt if isinstance(req.prompt, str) else None
    if spec.prompt_required and not (prompt and prompt.strip()):
        what = "text-to-video" if spec.is_t2v else "reference-to-video"
        out.append(
            _problem("prompt", req.prompt, f"prompt is required by {what} model {spec.name}")
        )
    if prompt and TEXT_REFUSE_FACTOR * spec.prompt_limit >= len(prompt) > spec.prompt_limit:
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
    if neg and TEXT_REFUSE_FACTOR * limit >= len(neg) > limit:
        out.append(
            _problem(
                "negative_prompt",
                f"<{len(neg)} characters>",
                f"negative_prompt has {len(neg)} characters; the server will silently cut it "
                f"at {limit} characters",
                "warning",
            )
        )


def _check_text_value(name: str, text: str, keeps: int, out: list[Problem]) -> None:
    """Text that cannot be sent: a lone surrogate (not UTF-8: e.g. bytes of another encoding
    read from a command line), or far longer than the model keeps."""
    bad = next((i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:
        out.append(
            _problem(
                name,
                f"<{len(text)} characters>",
                f"{name} is not valid Unicode text at character {bad + 1} (a lone surrogate, as "
                "from bytes that are not UTF-8); give it as UTF-8 text",
            )
        )
    if len(text) > TEXT_REFUSE_FACTOR * keeps:
        out.append(
            _problem(
                name,
                f"<{len(text)} characters>",
                f"{name} has {len(text)} characters; the model keeps {keeps}, and text over "
                f"{TEXT_REFUSE_FACTOR * keeps} characters is refused rather than sent and stored",
            )
        )


def _check_image_and_template(
    req: Request, spec: ModelSpec, cat: Catalogue, region: str, out: list[Problem]
) -> None:
    first_frames = spec.media is not None and "first_frame" in spec.media.types
    if spec.is_t2v or (spec.protocol != "classic" and not first_frames):
        if req.image is not None:
            other = "use an image-to-video model (e.g. wan2.6-i2v-flash)"
            if not spec.is_t2v:
                other = f"it takes {', '.join(spec.media.types if spec.media else ())}"
            out.append(
                _problem(
                    "image",
                    _short(req.image),
                    f"image {_short(req.image)!r} is not accepted by {spec.name}; {other}",
                )
            )
    elif spec.protocol == "classic" and (
        req.image is None or (isinstance(req.image, str) and not req.image.strip())
    ):
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
    elif not spec.templates_documented:
        out.append(
            _problem(
                "template",
                req.template,
                f"effect templates are documented for other first+last-frame models, not for "
                f"{spec.name}; the server may refuse template {req.template!r}",
                "warning",
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
    if req.audio is not None and not spec.audio_switch:
        out.append(
            _problem(
                "audio",
                req.audio,
                f"audio={req.audio!r} is not accepted by {spec.name}: it always makes video "
                "with sound and has no audio switch",
            )
        )
    elif req.audio is not None and spec.audio != "switchable":
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
        if spec.media is not None and "driving_audio" in spec.media.types:
            why = "give the audio as driving_audio= instead"
        elif spec.audio == "silent":
            why = "it makes silent video only (custom audio needs wan2.5 or later)"
        else:
            why = "it takes no custom audio"
        out.append(
            _problem(
                "audio_url",
                req.audio_url,
                f"audio_url {_without_query(req.audio_url)!r} is not accepted by {spec.name}; {why}",
            )
        )
    elif spec.protocol == "media" and (
        bad := source_problem(catalogue(), "audio", req.audio_url, "audio_url")
    ):
        out.append(bad)  # wan2.7-t2v: a URL, an oss:// upload, or a local file wanbook uploads
    elif spec.protocol != "media" and (bad := _audio_url_problem(req.audio_url)) is not None:
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


def _check_edit_length(req: Request, spec: ModelSpec, items: list, out: list[Problem]) -> None:
    """A cut longer than a video given by URL: the service's answer is not documented (§15)."""
    if spec.kind != "videoedit" or not req.duration or not spec.duration.allows(req.duration):
        return
    if any(i.type == "video" and isinstance(i.source, str) and "://" in i.source for i in items):
        out.append(
            _problem(
                "duration",
                req.duration,
                f"{spec.name} cuts the input video to its first {req.duration} s; if the video at "
                "the URL is shorter, what the service does is not documented (a local file is "
                "checked before sending)",
                "warning",
            )
        )


def validate(req: Request, region: str = "intl") -> list[Problem]:
    """Every problem with ``req`` for ``region``: errors (block sending) and warnings (said only)."""
    cat = catalogue()
    spec = cat.get(req.model) if isinstance(req.model, str) else None
    if spec is None:
        close = (
            difflib.get_close_matches(req.model, cat.names(), n=1, cutoff=0.75)
            if isinstance(req.model, str)
            else []
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return [
            _problem(
                "model",
                req.model,
                f"model {req.model!r} is not a Wan video model wanbook knows{hint} "
                f"(choose one of {_choices(cat.names())})",
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
        off = (
            " (expected there, but the vendor does not document it yet)"
            if region in spec.regions_off
            else ""
        )
        out.append(
            _problem(
                "model",
                req.model,
                f"model {spec.name} is not served in region {region!r}{off}; it is served in "
                f"{_choices(spec.regions)}",
            )
        )
    elif region in spec.regions_unlisted:
        out.append(
            _problem(
                "model",
                req.model,
                f"model {spec.name} is missing from the vendor's official tables for region "
                f"{region!r} (it was seen there); if the region does not serve it, the service "
                "refuses it without charge, and its price there may be unknown",
                "warning",
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
    _check_audio_setting(req, spec, out)
    _check_shot_type(req, spec, out)
    items, shape = media_items(req, spec)
    out += shape + media_problems(req, spec, cat, items)
    _check_edit_length(req, spec, items, out)
    out += extra_problems(req.extra)
    return out


def check(req: Request, region: str = "intl") -> list[Problem]:
    """Raise :class:`ValidationError` if ``req`` has any error; return its warnings."""
    problems = validate(req, region)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ValidationError(errors, model=req.model if isinstance(req.model, str) else None)
    return problems
