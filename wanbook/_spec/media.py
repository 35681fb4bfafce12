"""The input media of a request (docs/dashscope-wan27.md §5-§8): frames, clips, audio, references, a video.

A user gives them as keyword arguments (``first_frame=``, ``reference_images=[...]``, ...) or as
the raw wire list ``media=[{"type": ..., "url": ...}]``; :func:`media_items` turns either into one
list of :class:`MediaItem`, each remembering the field it came from so a problem names it. The
rules of a model's ``[media]`` table (combinations, counts, references) and of each item's URL are
checked by :func:`media_problems`. Pure: no I/O (local files are probed in ``_media``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from wanbook._errors import Problem
from wanbook._spec.catalogue import Catalogue, ModelSpec
from wanbook._spec.extra_fields import short_value

if TYPE_CHECKING:
    from wanbook._spec.request import Request

__all__ = [
    "MEDIA_FIELDS",
    "MediaItem",
    "Reference",
    "file_kind",
    "is_url",
    "media_items",
    "media_problems",
    "shown_url",
    "source_problem",
]

#: Request fields that carry media -> the wire ``type`` of each item, in the order they are sent.
MEDIA_FIELDS: dict[str, str] = {
    "first_frame": "first_frame",
    "first_clip": "first_clip",
    "video": "video",
    "last_frame": "last_frame",
    "driving_audio": "driving_audio",
    "reference_images": "reference_image",
    "reference_videos": "reference_video",
}
_LISTS = ("reference_images", "reference_videos")
_FIELD_OF_TYPE = {t: f for f, t in MEDIA_FIELDS.items()}


@dataclass(frozen=True)
class Reference:
    """A reference image or video for reference-to-video, with the voice its subject speaks in.

    ``source`` is a local path, an ``http(s)`` URL, bytes or (for an image) a PIL image; ``voice``
    an audio file or URL (wav/mp3, 1-10 s) giving the subject's timbre. Without a voice, a
    reference video with sound lends its own.
    """

    source: Any
    voice: Any = None


@dataclass(frozen=True)
class MediaItem:
    """One input medium: its wire ``type``, what the user gave, and where they gave it."""

    type: str
    source: Any
    field: str  # "first_frame", "reference_images[1]", "media[0]"
    voice: Any = None

    @property
    def voice_field(self) -> str:
        return f"{self.field}.voice"


def _p(field: str, value: Any, message: str, severity: str = "error") -> Problem:
    return Problem(field=field, value=value, message=message, severity=severity)


def is_url(source: Any) -> bool:
    """Whether ``source`` is a URL (any scheme) rather than a local path or in-memory data."""
    return (
        isinstance(source, str)
        and "://" in source.strip()[:16]
        or (isinstance(source, str) and source.strip().startswith("data:"))
    )


def shown_url(url: Any) -> Any:
    """A URL fit for a message: signed URLs carry tokens in the query, so it is left out."""
    if not isinstance(url, str):
        return short_value(url)
    if url.startswith("data:"):
        return short_value(url)
    parts = urlsplit(url.strip())
    return parts._replace(query="", fragment="").geturl() + ("?…" if parts.query else "")


def file_kind(cat: Catalogue, media_type: str) -> str:
    """``"image"``, ``"video"`` or ``"audio"``: what file a media type is."""
    return str(cat.media_types.get(media_type, {}).get("file", "image"))


def media_items(req: Request, spec: ModelSpec) -> tuple[list[MediaItem], list[Problem]]:
    """Every medium of ``req`` as one list, and the problems of its shape.

    ``image=`` is the first frame of every model that takes one. Raw ``media=`` and the media
    keyword arguments are two ways to say the same thing: giving both is refused.
    """
    problems: list[Problem] = []
    items: list[MediaItem] = []
    given = {f: getattr(req, f) for f in MEDIA_FIELDS if getattr(req, f) is not None}
    first_frames = spec.media is not None and "first_frame" in spec.media.types
    if req.image is not None and first_frames:
        if "first_frame" in given:
            problems.append(
                _p(
                    "image",
                    short_value(req.image),
                    f"image {short_value(req.image)!r} and first_frame both give {spec.name} "
                    "its first frame; give one",
                )
            )
        else:
            given = {"first_frame": req.image, **given}
    if req.media is not None:
        if given:
            names = ", ".join(f"{f}=" for f in given)
            problems.append(
                _p(
                    "media",
                    "<list>",
                    f"media=[...] and {names} both give input media; give the raw list or the "
                    "keyword arguments, not both",
                )
            )
        return _raw_items(req.media, problems), problems
    for name in sorted(given, key=list(MEDIA_FIELDS).index):
        value = given[name]
        if name in _LISTS:
            if isinstance(value, str | bytes | Reference) or not isinstance(value, Sequence):
                problems.append(
                    _p(
                        name,
                        short_value(value),
                        f"{name} {short_value(value)!r} must be a list "
                        f"(e.g. {name}=[path_or_url, ...]), not {type(value).__name__}",
                    )
                )
                continue
            for i, v in enumerate(value):
                src, voice = (v.source, v.voice) if isinstance(v, Reference) else (v, None)
                items.append(MediaItem(MEDIA_FIELDS[name], src, f"{name}[{i}]", voice))
        else:
            src, voice = (
                (value.source, value.voice) if isinstance(value, Reference) else (value, None)
            )
            items.append(MediaItem(MEDIA_FIELDS[name], src, name, voice))
    return items, problems


def _raw_items(raw: Any, problems: list[Problem]) -> list[MediaItem]:
    if isinstance(raw, str | bytes | Mapping) or not isinstance(raw, Sequence):
        problems.append(
            _p(
                "media",
                short_value(raw),
                'media must be a list of {"type": ..., "url": ...} objects, '
                f"not {type(raw).__name__}",
            )
        )
        return []
    items = []
    for i, entry in enumerate(raw):
        field = f"media[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(
                _p(
                    field,
                    short_value(entry),
                    f'{field} must be an object {{"type": ..., "url": ...}}',
                )
            )
            continue
        kind, url = entry.get("type"), entry.get("url")
        if not isinstance(kind, str) or not kind:
            problems.append(_p(field, short_value(kind), f"{field} needs a type (a string)"))
            continue
        if url is None or (isinstance(url, str) and not url.strip()):
            problems.append(_p(field, kind, f"{field} ({kind}) needs a url"))
            continue
        items.append(MediaItem(kind, url, field, entry.get("reference_voice")))
    return items


def _where(items: list[MediaItem]) -> str:
    return ", ".join(sorted({i.type for i in items})) or "none"


def media_problems(
    req: Request, spec: ModelSpec, cat: Catalogue, items: list[MediaItem]
) -> list[Problem]:
    """The rules of ``spec``'s media table and of each item's URL (local files: see ``_media``)."""
    out: list[Problem] = []
    rule = spec.media
    if rule is None:
        if req.media is not None:
            out.append(
                _p(
                    "media",
                    "<list>",
                    f"media is not accepted by {spec.name}: it takes no input media",
                )
            )
            return out
        for item in items:
            if item.field.startswith("first_frame") and spec.protocol == "classic":
                what = (
                    "it takes image= (the first frame)" if spec.kind == "i2v" else "it takes none"
                )
            else:
                what = _takes(spec)
            out.append(
                _p(
                    _base(item.field),
                    shown_url(item.source),
                    f"{_base(item.field)} {shown_url(item.source)!r} is not accepted by "
                    f"{spec.name}; {what}",
                )
            )
        return _dedupe(out)
    if spec.protocol == "frames" and req.media is not None:
        out.append(
            _p(
                "media",
                "<list>",
                f"{spec.name} takes first_frame= and last_frame= (input.first_frame_url and "
                "last_frame_url), not a media list",
            )
        )
        return out
    kept = []
    for item in items:
        if item.type in rule.types:
            kept.append(item)
            continue
        field = item.field if item.field.startswith("media[") else _base(item.field)
        known = item.type in cat.media_types
        raw = field.startswith("media[")
        shown = item.type if raw else shown_url(item.source)
        out.append(
            _p(
                field,
                shown,
                f"{'type' if raw else field} {shown!r} is not accepted by {spec.name}; it takes "
                + (", ".join(rule.types) if raw else _takes(spec).removeprefix("it takes "))
                + ("" if known else " (unknown media type)"),
            )
        )
    out = _dedupe(out)
    out += _shape_problems(spec, kept, items)
    for item in kept:
        out += _item_problems(spec, cat, item)
    return out


def _base(field: str) -> str:
    return field.split("[", 1)[0].split(".", 1)[0]


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if p.field not in seen:
            seen.add(p.field)
            out.append(p)
    return out


def _takes(spec: ModelSpec) -> str:
    if spec.media is None:
        return "it takes no input media" + (
            " (image= is its first frame)" if spec.kind == "i2v" else ""
        )
    return "it takes " + ", ".join(f"{_FIELD_OF_TYPE.get(t, t)}=" for t in spec.media.types)


def _shape_problems(
    spec: ModelSpec, kept: list[MediaItem], given: list[MediaItem]
) -> list[Problem]:
    """Combinations and counts (each problem under ``media``, or the missing field for kf2v)."""
    rule = spec.media
    assert rule is not None
    out: list[Problem] = []
    counts: dict[str, int] = {}
    for item in kept:
        counts[item.type] = counts.get(item.type, 0) + 1
    if spec.protocol == "frames":
        if not counts.get("first_frame"):
            out.append(
                _p(
                    "first_frame",
                    None,
                    f"first_frame (or image=) is required by {spec.name}: the video starts from it",
                )
            )
        return out
    if rule.combos:
        twice = sorted(t for t, n in counts.items() if n > 1)
        if twice:
            out.append(
                _p(
                    "media",
                    _where(given),
                    f"each media type may appear once; {', '.join(twice)} appears more than once",
                )
            )
        elif frozenset(counts) not in rule.combos:
            got = " + ".join(t for t in rule.types if t in counts) or "no media"
            out.append(
                _p(
                    "media",
                    got,
                    f"{got} is not a combination {spec.name} takes; the only ones are: "
                    f"{rule.describe_combos()}",
                )
            )
        return out
    for t, (lo, hi) in rule.count.items():
        n = counts.get(t, 0)
        if not lo <= n <= hi:
            want = f"exactly {lo}" if lo == hi else f"{lo} to {hi}" if lo else f"at most {hi}"
            out.append(
                _p(
                    "media",
                    f"{n} {t}",
                    f"{spec.name} takes {want} {t} item{'s' if hi != 1 else ''}; got {n}",
                )
            )
    if rule.references is not None:
        lo, hi = rule.references
        n = sum(counts.get(t, 0) for t in rule.reference_types)
        if not lo <= n <= hi:
            out.append(
                _p(
                    "media",
                    f"{n} references",
                    f"{spec.name} takes {lo} to {hi} references (reference_image and "
                    f"reference_video items together: reference_images=, reference_videos=); "
                    f"got {n}",
                )
            )
    return out


def _item_problems(spec: ModelSpec, cat: Catalogue, item: MediaItem) -> list[Problem]:
    out: list[Problem] = []
    kind = file_kind(cat, item.type)
    bad = source_problem(cat, kind, item.source, item.field)
    if bad is not None:
        out.append(bad)
    if item.voice is not None:
        rule = spec.media
        if rule is None or not rule.voice or item.type not in rule.reference_types:
            field = item.field if item.field.startswith("media[") else item.voice_field
            out.append(
                _p(
                    field,
                    shown_url(item.voice),
                    f"a voice (reference_voice) belongs to a reference image or video of "
                    f"{spec.name}, not to {item.type}",
                )
            )
        else:
            bad = source_problem(cat, "audio", item.voice, item.voice_field)
            if bad is not None:
                out.append(bad)
    return out


def source_problem(cat: Catalogue, kind: str, source: Any, field: str) -> Problem | None:
    """What is wrong with one medium given as a URL or in memory; None if nothing (so far).

    Local paths are left to ``_media`` (which reads them). Images may be data URIs; audio and
    video have no base64 transport. A URL must be http(s) or ``oss://`` (a temporary upload);
    its file extension, when it has one, must be of the right kind.
    """
    if isinstance(source, bytes | bytearray):
        return None
    if not isinstance(source, str):
        if kind == "image" and hasattr(source, "save"):
            return None  # a PIL image
        return _p(
            field,
            short_value(source),
            f"{field}: a {kind} is given as a local path, an http(s) URL"
            + (", bytes or a PIL image" if kind == "image" else " or bytes")
            + f", not {type(source).__name__}",
        )
    text = source.strip()
    if not text:
        return _p(field, source, f"{field}: an empty {kind} path or URL")
    if text.startswith("data:"):
        if kind == "image":
            return None
        return _p(
            field,
            shown_url(text),
            f"{field} {shown_url(text)!r}: {kind} cannot be sent as a data URI (the service "
            "takes base64 for images "
            "only); give a local file path (wanbook uploads it) or an http(s) URL",
        )
    if "://" not in text[:16]:
        return None  # a local path: read and checked by _media
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return None
    if scheme not in ("http", "https", "oss"):
        return _p(
            field,
            shown_url(text),
            f"{field} {shown_url(text)!r}: scheme {scheme!r} is not allowed; use an http(s) URL, "
            "an oss:// upload or a local file",
        )
    if scheme != "oss" and not parts.netloc:
        return _p(field, shown_url(text), f"{field} {shown_url(text)!r}: the URL has no host")
    if kind == "image":
        return None  # image URLs often have no extension; the service reads the bytes
    exts = cat.audio_file["extensions"] if kind == "audio" else cat.video_file["extensions"]
    name = unquote(parts.path).rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext and ext not in exts:
        want = " or ".join("." + e for e in exts)
        return _p(
            field,
            shown_url(text),
            f"{field} {shown_url(text)!r}: extension .{ext}; the service takes {want} {kind}",
        )
    return None
