"""What the form shows and sends, as pure functions of its values (no widgets, no I/O).

The widget (``_notebook.form.widget``) is a thin shell: it reads its controls into a plain ``values`` dict and asks
this module which controls the chosen model has (:func:`controls_for`), what request the values
make (:func:`form_to_request`), what is wrong with it and where (:func:`problems_by_field`) and
what it will cost (:func:`estimate_for`). A notebook that must run unattended (nbclient,
papermill) can call the same functions with a dict and never touch a widget.

``values`` keys: ``kind`` (a key of :data:`KINDS`), ``model``, ``prompt``, ``negative_prompt``,
``image`` (bytes or a URL/path string; the first frame of the newer models), ``template``,
``size``, ``resolution``, ``ratio``, ``duration``, ``audio``, ``audio_url``, ``audio_setting``,
``shot_type``, ``prompt_extend``, ``watermark``, ``seed_mode`` ("random"/"fixed"), ``seed`` and
the media slots of :data:`MEDIA_SLOTS` (bytes or a URL; lists for the references). Missing keys
mean "not set".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wanbook._errors import Problem
from wanbook._spec.catalogue import ModelSpec, catalogue, tier_of_size
from wanbook._spec.images import ImageRules, image_rules
from wanbook._spec.media import MEDIA_FIELDS as MEDIA_FIELDS_TYPE
from wanbook._spec.prices import Estimate, PriceTable, billed_seconds
from wanbook._spec.request import Request, draw_seed, resolve, validate

__all__ = [
    "KINDS",
    "MEDIA_SLOTS",
    "Controls",
    "budget_problem",
    "controls_for",
    "count_text",
    "default_choice",
    "draw_seed",
    "estimate_for",
    "estimate_text",
    "form_to_request",
    "has_errors",
    "model_groups",
    "model_summary",
    "problems_by_field",
    "size_label",
    "tier_prices",
]

#: The model picker's groups, in order, with their labels.
KINDS: dict[str, str] = {
    "t2v": "Text to video",
    "i2v": "Image to video",
    "effects": "Effects",
    "frames": "First + last frame",
    "continuation": "Continue a clip",
    "reference": "Reference",
    "edit": "Edit a video",
}
#: The media slots of the newer models, beside ``image`` (their first frame).
MEDIA_SLOTS = (
    "last_frame",
    "first_clip",
    "driving_audio",
    "video",
    "reference_images",
    "reference_videos",
)
# Which slots each picker group shows, among those the model takes.
_KIND_SLOTS = {
    "i2v": ("driving_audio",),
    "frames": ("last_frame", "driving_audio"),
    "continuation": ("first_clip", "last_frame"),
    "reference": ("reference_images", "reference_videos"),
    "edit": ("video", "reference_images"),
}
_FIRST_FRAME = {"i2v": True, "frames": True, "reference": True}  # groups showing `image`
FIELDS = (
    "model",
    "image",
    *MEDIA_SLOTS,
    "ratio",
    "audio_setting",
    "template",
    "prompt",
    "negative_prompt",
    "size",
    "resolution",
    "duration",
    "audio",
    "audio_url",
    "shot_type",
    "prompt_extend",
    "watermark",
    "seed",
)
MULTI_SHOT_NOTE = (
    "multi-shot works only when the service rewrites the prompt, so prompt_extend was turned on"
)
_ORIENTATION = {1: "landscape", 0: "square", -1: "portrait"}


def model_groups(region: str) -> dict[str, list[str]]:
    """Models the region serves, by picker group. Effects are the i2v models with templates."""
    cat = catalogue()
    i2v = cat.names("i2v", region)

    def takes(name: str, media_type: str) -> bool:
        rule = cat.models[name].media
        return rule is not None and media_type in rule.types

    return {
        "t2v": cat.names("t2v", region),
        "i2v": i2v,
        "effects": [n for n in i2v if cat.models[n].templates],
        "frames": [n for n in cat.names(region=region) if takes(n, "last_frame")],
        "continuation": [n for n in i2v if takes(n, "first_clip")],
        "reference": cat.names("r2v", region),
        "edit": cat.names("videoedit", region),
    }


def kinds_of(spec: ModelSpec) -> list[str]:
    """The picker groups a model appears in (wan2.7-i2v: image, first+last, continuation)."""
    own = {"r2v": "reference", "videoedit": "edit", "kf2v": "frames"}.get(spec.kind, spec.kind)
    types = spec.media.types if spec.media else ()
    out = [own]
    if spec.templates and spec.kind == "i2v":
        out.append("effects")
    if spec.kind == "i2v" and "last_frame" in types:
        out.append("frames")
    if "first_clip" in types:
        out.append("continuation")
    return out


def size_label(size: str) -> str:
    """``"1280*720 · 720P landscape"``: a t2v size with its tier and orientation."""
    w, h = (int(x) for x in size.split("*"))
    return f"{size} · {tier_of_size(size) or '?'} {_ORIENTATION[(w > h) - (w < h)]}"


@dataclass(frozen=True)
class Controls:
    """Which controls a model shows, with their choices. An empty tuple means "hidden"."""

    model: str
    kind: str
    prompt: bool  # shown (effects ignore the prompt)
    prompt_required: bool
    prompt_limit: int
    negative_limit: int
    image: bool
    image_rules: ImageRules | None  # what an input image must be (None: the model takes none)
    templates: tuple[str, ...]
    sizes: tuple[tuple[str, str], ...]  # (label, value), by tier
    resolutions: tuple[str, ...]
    default: str  # default size (t2v) or resolution (i2v)
    duration_mode: str  # "fixed", "choices" or "range"
    durations: tuple[int, ...]  # every allowed value (a range expanded)
    duration_default: int
    audio: bool  # the sound switch is shown
    audio_url: bool
    shot_type: bool
    prompt_extend: bool
    notes: dict[str, str] = field(default_factory=dict)  # field -> what the model does here
    media: tuple[str, ...] = ()  # the media slots shown (MEDIA_SLOTS)
    ratios: tuple[str, ...] = ()  # the ratio picker's choices ("" = follow the input)
    ratio_default: str = ""
    audio_settings: tuple[str, ...] = ()

    @property
    def shown(self) -> frozenset[str]:
        """The names of the controls this model shows."""
        on = {
            "prompt": self.prompt,
            "negative_prompt": self.prompt,
            "image": self.image,
            "template": bool(self.templates),
            "size": bool(self.sizes),
            "resolution": bool(self.resolutions),
            "duration": True,
            "audio": self.audio,
            "audio_url": self.audio_url,
            "shot_type": self.shot_type,
            "prompt_extend": self.prompt_extend,
            "watermark": True,
            "seed": True,
            "ratio": bool(self.ratios),
            "audio_setting": bool(self.audio_settings),
            **{slot: slot in self.media for slot in MEDIA_SLOTS},
        }
        return frozenset(k for k, v in on.items() if v)


def _audio_note(spec: ModelSpec) -> str:
    return {
        "silent": f"{spec.name} makes silent video",
        "always": f"{spec.name} always adds sound",
        "switchable": f"{spec.name} adds sound unless switched off",
    }[spec.audio]


def controls_for(model: str, kind: str | None = None) -> Controls:
    """The controls of ``model`` in picker group ``kind`` (default: the model's own kind)."""
    spec = catalogue().get(model)
    if spec is None:
        raise ValueError(f"model {model!r} is not a Wan video model wanbook knows")
    allowed = kinds_of(spec)
    kind = kind or allowed[0]
    if kind not in allowed:
        raise ValueError(f"kind {kind!r} does not fit {spec.name}; it is {' or '.join(allowed)}")
    effects = kind == "effects"
    d = spec.duration
    mode = "fixed" if d.fixed else "choices" if d.choices else "range"
    notes = {
        "audio": _audio_note(spec),
        "seed": "random: wanbook draws a new seed for each Generate and shows it with the run",
    }
    if d.fixed:
        notes["duration"] = f"{spec.name}: {d.describe()}"
    if effects:
        notes["template"] = "a video effect: the prompt is ignored"
    types = spec.media.types if spec.media else ()
    media = tuple(slot for slot in _KIND_SLOTS.get(kind, ()) if MEDIA_FIELDS_TYPE[slot] in types)
    if spec.protocol == "classic":
        image = not spec.is_t2v
    else:
        image = _FIRST_FRAME.get(kind, False) and "first_frame" in types
    ratios = spec.ratios
    if ratios and not spec.ratio_default:
        ratios = ("", *ratios)  # no ratio: the output follows the input video
        notes["ratio"] = "no ratio: the output keeps the input video's aspect"
    if spec.kind == "r2v":
        notes["image"] = "optional first frame: with one, the ratio is ignored"
    if spec.billed_input != "none":
        notes["duration"] = "billed with the input: " + (
            "each reference video up to its share of 5 s"
            if spec.kind == "r2v"
            else "input + output seconds"
        )
    return Controls(
        model=spec.name,
        kind=kind,
        prompt=not effects,
        prompt_required=spec.prompt_required,
        prompt_limit=spec.prompt_limit,
        negative_limit=catalogue().limits["negative_prompt"],
        image=image,
        image_rules=None if spec.is_t2v and spec.media is None else image_rules(spec),
        templates=spec.templates if effects else (),
        sizes=tuple((size_label(s), s) for s in spec.sizes),
        resolutions=() if spec.sized else spec.tiers,
        default=spec.default,
        duration_mode=mode,
        durations=tuple(d.values()),
        duration_default=d.default,
        audio=spec.audio == "switchable",
        audio_url=spec.audio_url and not effects,
        shot_type=spec.shot_type and not effects,
        prompt_extend=not effects,
        notes=notes,
        media=media,
        ratios=ratios,
        ratio_default=spec.ratio_default,
        audio_settings=spec.audio_settings,
    )


def _text(value: Any) -> str | None:
    """Form text: empty or blank means "not set"."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def form_to_request(values: Mapping[str, Any]) -> Request:
    """The :class:`Request` the form's ``values`` ask for. Only the model's shown controls count,
    so a value left in a control the new model hides is never sent.

    ``seed_mode`` "random" sends no seed (the caller draws one first if it wants to know it).
    """
    model = str(values.get("model") or "")
    if catalogue().get(model) is None:
        return Request(model=model)
    c = controls_for(model, values.get("kind"))
    on = c.shown
    image = values.get("image")
    if isinstance(image, str):
        image = _text(image)
    seed: Any = None
    if values.get("seed_mode", "random") == "fixed":
        seed = values.get("seed")
    duration = values.get("duration")
    return Request(
        model=c.model,
        prompt=_text(values.get("prompt")) if "prompt" in on else None,
        negative_prompt=_text(values.get("negative_prompt")) if "negative_prompt" in on else None,
        image=image if "image" in on else None,
        audio_url=_text(values.get("audio_url")) if "audio_url" in on else None,
        template=_text(values.get("template")) if "template" in on else None,
        size=_text(values.get("size")) if "size" in on else None,
        resolution=_text(values.get("resolution")) if "resolution" in on else None,
        duration=None if c.duration_mode == "fixed" or duration is None else int(duration),
        seed=seed,
        prompt_extend=values.get("prompt_extend") if "prompt_extend" in on else None,
        watermark=bool(values["watermark"]) if values.get("watermark") else None,
        shot_type=_text(values.get("shot_type")) if "shot_type" in on else None,
        audio=values.get("audio") if "audio" in on else None,
        ratio=_text(values.get("ratio")) if "ratio" in on else None,
        audio_setting=_text(values.get("audio_setting")) if "audio_setting" in on else None,
        **{slot: _slot(values.get(slot)) for slot in MEDIA_SLOTS if slot in on},
    )


def _slot(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list | tuple):
        return list(value) or None
    return value


def problems_by_field(
    request: Request,
    region: str,
    *,
    kind: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, list[Problem]]:
    """Every problem of ``request`` (errors and warnings) grouped by the field it belongs to.

    ``extra`` adds problems found outside the request (e.g. an uploaded image that breaks the
    model's limits). An effect without a template is an error here: the form would otherwise send
    a plain image-to-video request.
    """
    out: dict[str, list[Problem]] = {}
    for p in validate(request, region):
        base = p.field.split("[", 1)[0].split(".", 1)[0]  # reference_images[1].voice -> its row
        out.setdefault(base if base in FIELDS else "request", []).append(p)
    if kind == "effects" and not request.template:
        out.setdefault("template", []).append(
            Problem("template", None, "choose an effect template")
        )
    for name, message in (extra or {}).items():
        base = name.split("[", 1)[0]
        out.setdefault(base if base in FIELDS else "request", []).append(
            Problem(name, None, message)
        )
    return out


def has_errors(problems: Mapping[str, list[Problem]]) -> bool:
    return any(p.severity == "error" for ps in problems.values() for p in ps)


def count_text(text: str | None, limit: int) -> tuple[str, bool]:
    """``("42 / 800", False)``: the live character count, and whether it is over the limit."""
    n = len(text or "")
    return f"{n} / {limit}", n > limit


def tier_prices(model: str, region: str, prices: PriceTable) -> dict[str, float]:
    """The price per second of each tier of ``model`` that has a known price in ``region``
    (with the model's default sound; the other setting when only that one is priced)."""
    spec = catalogue().get(model)
    if spec is None:
        return {}
    sound = spec.has_sound(None, None)
    out: dict[str, float] = {}
    for tier in spec.tiers:
        price = prices.lookup(spec.name, region, tier, sound) or prices.lookup(
            spec.name, region, tier, not sound
        )
        if price is not None:
            out[tier] = price.per_second
    return out


def default_choice(c: Controls, priced: Mapping[str, float]) -> str:
    """The size (t2v) or resolution (i2v) the form starts a model with: the first of its
    cheapest priced tier; the model's own default when none of its tiers is priced."""
    if c.sizes:
        options = [(tier_of_size(value), value) for _, value in c.sizes]
    else:
        options = [(tier, tier) for tier in c.resolutions]
    known = [(priced[t], i, v) for i, (t, v) in enumerate(options) if t is not None and t in priced]
    return min(known)[2] if known else c.default


def estimate_for(
    request: Request,
    region: str,
    prices: PriceTable,
    lengths: Mapping[str, float] | None = None,
) -> Estimate | None:
    """What ``request`` would cost, or None when its model, size or duration is not settled.

    The same figure ``Session.estimate`` gives, computed without reading images (the price does
    not depend on them) and without warning: the form says "unknown" in place instead. Billed
    input counts (docs/dashscope-wan27.md §10): ``lengths`` are the seconds of the local clips by field
    (from the form's slots); an edit of a video URL is unknown.
    """
    bad = {"model", "size", "resolution", "duration", "audio", "region"}
    if any(p.field in bad and p.severity == "error" for p in validate(request, region)):
        return None
    r = resolve(request)
    seconds = billed_seconds(r.spec, r.duration, r.media, lengths)
    price = prices.lookup(r.spec.name, region, r.tier, r.sound)
    shown = math.nan if seconds is None else float(seconds)
    if price is None:
        return Estimate(math.nan, None, None, shown, None)
    if seconds is None:
        return Estimate(math.nan, price.currency, price.per_second, shown, price)
    return Estimate(price.per_second * seconds, price.currency, price.per_second, shown, price)


def estimate_text(
    est: Estimate | None,
    *,
    model: str = "",
    tier: str | None = None,
    region: str = "",
    budget_left: float | None = None,
    budget_currency: str | None = None,
) -> str:
    """One line: the estimate (``"unknown"`` when not priced, never 0) and the budget left."""
    if est is None:
        text = "estimate: fix the fields marked below first"
    elif not est.known and est.price is not None:
        text = "estimate: unknown (the input video's length is not known: give a local file)"
    elif not est.known:
        where = " ".join(x for x in (model, tier, f"in region {region!r}" if region else "") if x)
        text = f"estimate: unknown (no price known for {where})"
    else:
        text = (
            f"estimate: {est.amount:.4f} {est.currency} "
            f"({est.seconds:g} s × {est.per_second:g} {est.currency}/s)"
        )
    if budget_left is not None:
        text += f" · budget left: {budget_left:.4f} {budget_currency or ''}".rstrip()
    return text


def budget_problem(
    est: Estimate | None, budget_left: float | None, budget_currency: str | None
) -> str | None:
    """Why the session's budget would refuse this request (the session checks again on send)."""
    if budget_left is None or est is None:
        return None
    if not est.known:
        return "the price is unknown, so the session's budget refuses it"
    if budget_currency and est.currency != budget_currency:
        return f"the estimate is in {est.currency} but the budget is in {budget_currency}"
    if est.amount > budget_left + 1e-9:
        cur = est.currency
        return f"over budget: {est.amount:.4f} {cur} needed, {max(budget_left, 0.0):.4f} {cur} left"
    return None


def model_summary(c: Controls) -> str:
    """One line under the model picker: what this model offers."""
    spec = catalogue().models[c.model]
    geometry = "sizes" if c.sizes else "resolutions"
    bits = [
        f"{KINDS[c.kind].lower()}",
        f"{geometry} {', '.join(spec.tiers)}",
        f"duration {spec.duration.describe()}",
        c.notes["audio"].replace(f"{spec.name} ", ""),
        f"prompt up to {c.prompt_limit} characters" if c.prompt else "no prompt",
    ]
    return " · ".join(bits)
