"""The model catalogue: what every Wan model accepts, as data (``data/models.toml``).

This module only reads the table and answers questions about it. Validation of a request against
it lives in ``_spec.request``; both the client side and the emulator use the same two modules, so they
can never disagree about what a model accepts.
"""

from __future__ import annotations

import functools
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

__all__ = [
    "AudioMode",
    "Catalogue",
    "Duration",
    "MediaRule",
    "ModelSpec",
    "RateGroup",
    "RegionSpec",
    "catalogue",
    "i2v_output_size",
    "tier_of_size",
]

AudioMode = Literal["silent", "always", "switchable"]
Kind = Literal["t2v", "i2v", "r2v", "videoedit", "kf2v"]
Protocol = Literal["classic", "media", "frames"]
Geometry = Literal["size", "follow", "ratio"]


@dataclass(frozen=True)
class Duration:
    """Allowed durations: ``fixed``, or ``choices``, or the integer range ``[min, max]``."""

    default: int
    fixed: bool = False
    choices: tuple[int, ...] = ()
    min: int | None = None
    max: int | None = None

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> Duration:
        if "fixed" in d:
            return cls(default=int(d["fixed"]), fixed=True, choices=(int(d["fixed"]),))
        if "choices" in d:
            return cls(default=int(d["default"]), choices=tuple(int(c) for c in d["choices"]))
        return cls(default=int(d["default"]), min=int(d["min"]), max=int(d["max"]))

    def allows(self, seconds: Any) -> bool:
        if isinstance(seconds, bool):
            return False
        if isinstance(seconds, float) and seconds.is_integer():
            seconds = int(seconds)
        if not isinstance(seconds, int):
            return False
        if self.choices:
            return seconds in self.choices
        assert self.min is not None and self.max is not None
        return self.min <= seconds <= self.max

    def values(self) -> list[int]:
        """Every allowed value, in order (a range is expanded: it is at most 14 values)."""
        if self.choices:
            return list(self.choices)
        assert self.min is not None and self.max is not None
        return list(range(self.min, self.max + 1))

    def describe(self) -> str:
        if self.fixed:
            return f"fixed at {self.default} s (it cannot be set)"
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices) + " s"
        return f"an integer from {self.min} to {self.max} s"


@dataclass(frozen=True)
class MediaRule:
    """The input media a model takes (``models.toml`` ``[models.X.media]``).

    ``count`` bounds each type (a type not named may appear any number of times, within
    ``references``); ``combos`` lists the only valid sets of types (wan2.7-i2v); ``references``
    bounds the number of ``reference_types`` items together (wan2.7-r2v); ``duration_with_video``
    narrows the duration when a reference video is given.
    """

    types: tuple[str, ...]
    count: dict[str, tuple[int, int]] = field(default_factory=dict)
    combos: tuple[frozenset[str], ...] = ()
    references: tuple[int, int] | None = None
    reference_types: tuple[str, ...] = ()
    voice: bool = False
    duration_with_video: tuple[int, int] | None = None

    @classmethod
    def from_data(cls, d: dict[str, Any]) -> MediaRule:
        refs = d.get("references")
        with_video = d.get("duration_with_video")
        return cls(
            types=tuple(d["types"]),
            count={k: (int(lo), int(hi)) for k, (lo, hi) in d.get("count", {}).items()},
            combos=tuple(frozenset(c) for c in d.get("combos", ())),
            references=(int(refs[0]), int(refs[1])) if refs else None,
            reference_types=tuple(d.get("reference_types", ())),
            voice=bool(d.get("voice", False)),
            duration_with_video=(int(with_video[0]), int(with_video[1])) if with_video else None,
        )

    def describe_combos(self) -> str:
        """The valid combinations in the vendor's order, e.g. ``first_frame; first_frame + last_frame``."""
        return "; ".join(" + ".join(t for t in self.types if t in c) for c in self.combos)


@dataclass(frozen=True)
class ModelSpec:
    """One model's capabilities. ``name`` is wanbook's canonical (international) name."""

    name: str
    kind: Kind
    family: str
    regions: dict[str, str]
    tiers: tuple[str, ...]
    default: str  # t2v: default size W*H; i2v: default resolution tier
    duration: Duration
    audio: AudioMode
    audio_url: bool
    audio_wins: bool
    shot_type: bool
    prompt_limit: int
    usage: str
    rewrite_visible: bool
    image_max_mb: int | None = None
    templates: tuple[str, ...] = ()
    rate_group: str = ""  # the rate group (models.toml [rate_groups]) whose limits it shares
    rate_per_second: int = 1  # the group's limits (per account, shared by the whole group)
    rate_in_flight: int = 1
    sizes: tuple[str, ...] = field(default=())  # size geometry: every allowed W*H, tier order
    # The newer models (docs/dashscope-wan27.md); the defaults are the wan2.1-2.6 behaviour.
    protocol: Protocol = "classic"
    path: str = "video-generation"  # the create path under services/aigc/
    geometry: Geometry = "size"
    ratio_sizes: dict[str, dict[str, str]] = field(default_factory=dict)  # tier -> ratio -> W*H
    ratio_default: str = ""  # "" = no ratio unless asked (the output follows the input)
    regions_off: dict[str, str] = field(default_factory=dict)
    regions_unlisted: tuple[str, ...] = ()
    prompt_required: bool = False
    audio_switch: bool = True
    audio_seconds: tuple[int, int] | None = None
    audio_settings: tuple[str, ...] = ()
    media: MediaRule | None = None
    billed_input: str = "none"  # "none" | "references" | "all"
    image_sides_warn: tuple[int, int] | None = None
    templates_documented: bool = True
    rate_by_region: dict[str, tuple[int, int]] = field(default_factory=dict)
    choices: tuple[str, ...] = ()  # where the sources are silent: what wanbook chose, and why
    snapshot_of: str | None = None

    @property
    def is_t2v(self) -> bool:
        return self.kind == "t2v"

    @property
    def sized(self) -> bool:
        """Whether the output is chosen by an exact ``size`` W*H (wan2.1-2.6 text-to-video)."""
        return self.geometry == "size"

    @property
    def ratios(self) -> tuple[str, ...]:
        """The ``ratio`` values the model takes (none unless its geometry is "ratio")."""
        first = next(iter(self.ratio_sizes.values()), {})
        return tuple(first)

    @property
    def takes_media(self) -> bool:
        """Whether the model takes input media (frames, clips, references, a video)."""
        return self.media is not None

    @property
    def default_tier(self) -> str:
        return tier_of_size(self.default) or self.default if self.sized else self.default

    @property
    def create_path(self) -> str:
        """Where a create request for this model goes, under the API base URL."""
        return f"/services/aigc/{self.path}/video-synthesis"

    def rate_limits(self, region: str) -> tuple[int, int]:
        """(task submissions per second, tasks in flight) for this model in ``region``."""
        return self.rate_by_region.get(region, (self.rate_per_second, self.rate_in_flight))

    def ratio_size(self, tier: str, ratio: str) -> str | None:
        """The output W*H for ``ratio`` at ``tier`` (ratio geometry), or None."""
        return self.ratio_sizes.get(tier, {}).get(ratio)

    def wire_name(self, region: str) -> str:
        """The name the service in ``region`` knows this model by (wan2.1 is "wanx2.1" in cn)."""
        return self.regions.get(region, self.name)

    def served_in(self, region: str) -> bool:
        return region in self.regions

    def has_sound(self, audio: bool | None, audio_url: str | None) -> bool:
        """Whether the service returns a video with an audio track for these settings."""
        if self.audio == "silent":
            return False
        if self.audio == "always":
            return True
        if audio_url and not self.audio_wins:
            return True  # t2v: a custom audio URL beats `audio: false`
        return audio is not False


@dataclass(frozen=True)
class RegionSpec:
    id: str
    name: str
    base_url: str
    currency: str
    models_listed: bool = True
    uploads: bool = False  # offers the temporary file store (docs/dashscope-wan27.md §3)

    def url(self, workspace_id: str | None = None) -> str:
        if "{workspace}" in self.base_url:
            if not workspace_id:
                raise ValueError(f"region {self.id!r} needs a workspace id (WANBOOK_WORKSPACE_ID)")
            return self.base_url.replace("{workspace}", workspace_id)
        return self.base_url


@dataclass(frozen=True)
class RateGroup:
    """Families that share one per-account rate limit (docs/dashscope-api.md §4.1): at most ``per_second``
    task submissions per second and ``in_flight`` tasks in progress, counted over all of them."""

    name: str
    families: tuple[str, ...]
    per_second: int
    in_flight: int


@dataclass(frozen=True)
class Catalogue:
    models: dict[str, ModelSpec]
    aliases: dict[str, str]  # every wire name -> canonical name
    regions: dict[str, RegionSpec]
    sizes: dict[str, tuple[str, ...]]  # tier -> t2v sizes
    tier_pixels: dict[str, tuple[int, int]]
    effects: tuple[str, ...]
    effects_regions: tuple[str, ...]
    image: dict[str, Any]
    audio_file: dict[str, Any]
    limits: dict[str, int]
    rate_groups: dict[str, RateGroup] = field(default_factory=dict)
    media_types: dict[str, dict[str, Any]] = field(default_factory=dict)  # type -> {file, seconds}
    video_file: dict[str, Any] = field(default_factory=dict)
    reference_caps: tuple[float, ...] = ()  # r2v: billed input cap per video, by reference count

    def rate_group(self, family: str) -> str:
        """The rate group of a version family (a family in no group is a group of its own)."""
        for group in self.rate_groups.values():
            if family in group.families:
                return group.name
        return family

    def get(self, name: str) -> ModelSpec | None:
        """The model called ``name`` (canonical or a regional alias such as ``wanx2.1-t2v-turbo``)."""
        canonical = self.aliases.get(name)
        return self.models.get(canonical) if canonical else None

    def names(self, kind: str | None = None, region: str | None = None) -> list[str]:
        return [
            m.name
            for m in self.models.values()
            if (kind is None or m.kind == kind) and (region is None or self.serves(region, m))
        ]

    def serves(self, region: str, model: ModelSpec) -> bool:
        spec = self.regions.get(region)
        if spec is not None and not spec.models_listed:
            return True  # no published model list for this region: do not block
        return model.served_in(region)


def _load() -> Catalogue:
    raw = tomllib.loads(resources.files("wanbook").joinpath("data/models.toml").read_text("utf-8"))
    sizes = {tier: tuple(v) for tier, v in raw["sizes"].items()}
    effects = tuple(raw["effects"]["names"])
    groups = {
        name: RateGroup(name, tuple(g["families"]), int(g["per_second"]), int(g["in_flight"]))
        for name, g in raw["rate_groups"].items()
    }
    group_of = {family: g for g in groups.values() for family in g.families}
    models: dict[str, ModelSpec] = {}
    aliases: dict[str, str] = {}
    kf2v_effects = tuple(raw["kf2v_effects"]["names"])
    templates = {"effects": effects, "kf2v": kf2v_effects}
    ratio_tables = raw["ratio_sizes"]
    for name, row in raw["models"].items():
        d = _row(raw["models"], name, row)
        tiers = tuple(d["tiers"])
        geometry = d.get("geometry", "size" if d["kind"] == "t2v" else "follow")
        ratio_table = ratio_tables.get(d.get("ratio_table", ""), {})
        rate = group_of[d["family"]]  # every family of a model must be in a rate group
        models[name] = ModelSpec(
            name=name,
            kind=d["kind"],
            family=d["family"],
            regions=dict(d["regions"]),
            tiers=tiers,
            default=d["default"],
            duration=Duration.from_data(d["duration"]),
            audio=d["audio"],
            audio_url=bool(d["audio_url"]),
            audio_wins=bool(d.get("audio_wins", False)),
            shot_type=bool(d["shot_type"]),
            prompt_limit=int(d["prompt_limit"]),
            usage=d["usage"],
            rewrite_visible=bool(d["rewrite_visible"]),
            image_max_mb=d.get("image_max_mb"),
            templates=templates.get(d.get("templates", ""), ()),
            rate_group=rate.name,
            rate_per_second=rate.per_second,
            rate_in_flight=rate.in_flight,
            sizes=tuple(s for t in tiers for s in sizes[t]) if geometry == "size" else (),
            protocol=d.get("protocol", "classic"),
            path=d.get("path", "video-generation"),
            geometry=geometry,
            ratio_sizes={t: dict(ratio_table[t]) for t in tiers if t in ratio_table},
            ratio_default=d.get("ratio_default", ""),
            regions_off=dict(d.get("regions_off", {})),
            regions_unlisted=tuple(d.get("regions_unlisted", ())),
            prompt_required=bool(d.get("prompt_required", d["kind"] == "t2v")),
            audio_switch=bool(d.get("audio_switch", True)),
            audio_seconds=_pair(d.get("audio_seconds")),
            audio_settings=tuple(d.get("audio_settings", ())),
            media=MediaRule.from_data(d["media"]) if "media" in d else None,
            billed_input=d.get("billed_input", "none"),
            image_sides_warn=_pair(d.get("image_sides_warn")),
            templates_documented=bool(d.get("templates_documented", True)),
            rate_by_region={
                r: (
                    int(v.get("per_second", rate.per_second)),
                    int(v.get("in_flight", rate.in_flight)),
                )
                for r, v in d.get("rate", {}).items()
            },
            choices=tuple(d.get("choices", ())),
            snapshot_of=row.get("snapshot_of"),
        )
        aliases[name] = name
        for wire in d["regions"].values():
            aliases.setdefault(wire, name)
        for wire in d.get("regions_off", {}).values():
            aliases.setdefault(wire, name)
    regions = {rid: RegionSpec(id=rid, **r) for rid, r in raw["regions"].items()}
    return Catalogue(
        models=models,
        aliases=aliases,
        regions=regions,
        sizes=sizes,
        tier_pixels={t: (int(w), int(h)) for t, (w, h) in raw["tier_pixels"].items()},
        effects=effects,
        effects_regions=tuple(raw["effects"]["regions"]),
        image=dict(raw["image"]),
        audio_file=dict(raw["audio_file"]),
        limits={k: int(v) for k, v in raw["limits"].items()},
        rate_groups=groups,
        media_types={k: dict(v) for k, v in raw["media_types"].items()},
        video_file=dict(raw["video_file"]),
        reference_caps=tuple(float(c) for c in raw["billing"]["reference_caps"]),
    )


def _pair(value: Any) -> tuple[int, int] | None:
    """``[lo, hi]`` of the data as a pair of integers, or None when absent."""
    return (int(value[0]), int(value[1])) if value else None


def _row(rows: dict[str, Any], name: str, row: dict[str, Any]) -> dict[str, Any]:
    """A model's row with a dated snapshot's missing keys taken from the model it snapshots.

    The regions of a snapshot keep their wire name: the snapshot's own name.
    """
    base_name = row.get("snapshot_of")
    if base_name is None:
        return row
    base = _row(rows, base_name, rows[base_name])
    merged = {k: v for k, v in base.items() if k != "choices"} | row
    for key in ("regions", "regions_off"):
        if key not in row and key in base:
            merged[key] = dict.fromkeys(base[key], name)
    merged["choices"] = [*base.get("choices", ()), *row.get("choices", ())]
    return merged


@functools.cache
def catalogue() -> Catalogue:
    """The shipped catalogue, read once on first use (never at import)."""
    return _load()


def tier_of_size(size: str) -> str | None:
    """The tier (``"720P"``) a t2v ``W*H`` size belongs to, or None if it is in no tier."""
    for tier, sizes in catalogue().sizes.items():
        if size in sizes:
            return tier
    return None


def i2v_output_size(width: int, height: int, tier: str) -> tuple[int, int]:
    """The size the service renders for an input image of ``width``×``height`` at ``tier``.

    The image's aspect is kept, scaled to the tier's pixel count, each side rounded down to a
    multiple of 16 (docs/dashscope-api.md §2.2: 750×1000 at 720P gives 816×1104).
    """
    tw, th = catalogue().tier_pixels[tier]
    scale = math.sqrt((tw * th) / (width * height))
    return max(16, int(width * scale) // 16 * 16), max(16, int(height * scale) // 16 * 16)
