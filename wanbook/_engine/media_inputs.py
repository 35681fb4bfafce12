"""The input media of a request made ready to send, before any I/O to the API.

Each medium (``_spec.media``) goes as the wire takes it (docs/dashscope-wan27.md §3): an image given locally
(path, bytes, PIL image, data URI) is checked and sent as a data URI; a local audio or video file
is probed and checked (``_media.inputs``) and waits for its upload, which happens only when the
request is sent (``_api.uploads``): until then the body names it ``wanbook-upload:<sha256>``. URLs
pass through untouched. The run log keeps every medium by path and hash, never its bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wanbook._errors import Problem
from wanbook._media.images import PreparedImage, describe_for_log, prepare_image
from wanbook._media.inputs import Limits, LocalMedia, prepare_local
from wanbook._spec.catalogue import Catalogue, ModelSpec
from wanbook._spec.images import image_rules
from wanbook._spec.media import MediaItem, Reference, file_kind

__all__ = [
    "UPLOAD_PREFIX",
    "PreparedMedia",
    "media_limits",
    "media_kwargs",
    "prepare_media",
    "upload_placeholder",
]

UPLOAD_PREFIX = "wanbook-upload:"


def upload_placeholder(sha256: str) -> str:
    """What a body names a local file by until it is uploaded."""
    return f"{UPLOAD_PREFIX}{sha256}"


@dataclass(frozen=True)
class PreparedMedia:
    """What is sent for each medium (by field), the files to upload, and what the log keeps."""

    urls: dict[str, str] = field(default_factory=dict)
    uploads: tuple[LocalMedia, ...] = ()
    images: dict[str, PreparedImage] = field(default_factory=dict)
    log: tuple[dict[str, Any], ...] = ()
    warnings: tuple[Problem, ...] = ()

    def lengths(self) -> dict[str, float]:
        """The known length in seconds of each local audio/video input, by field."""
        return {u.field: u.duration for u in self.uploads}

    def first_frame(self) -> PreparedImage | None:
        return self.images.get("first_frame")


def _is_remote(source: Any) -> bool:
    if not isinstance(source, str):
        return False
    text = source.strip()
    return text.startswith(("http://", "https://", "oss://"))


def media_limits(cat: Catalogue, media_type: str) -> Limits:
    """The limits a local audio or video file of ``media_type`` must meet (docs/dashscope-wan27.md §5-§7)."""
    kind = file_kind(cat, media_type)
    seconds = cat.media_types.get(media_type, {}).get("seconds") or (0, 1e9)
    if kind == "audio":
        audio = cat.audio_file
        return Limits("audio", tuple(audio["extensions"]), seconds[0], seconds[1], audio["max_mb"])
    video = cat.video_file
    return Limits(
        "video",
        tuple(video["extensions"]),
        seconds[0],
        seconds[1],
        video["max_mb"],
        video["min_side"],
        video["max_side"],
        video["max_aspect"],
    )


def prepare_media(
    spec: ModelSpec, cat: Catalogue, items: tuple[MediaItem, ...], audio_url: Any = None
) -> PreparedMedia:
    """Check every local medium of a request; raise :class:`MediaError` naming its field.

    ``audio_url`` is wan2.7-t2v's custom audio (not a ``media`` item): a local file is uploaded
    like the others."""
    urls: dict[str, str] = {}
    uploads: list[LocalMedia] = []
    images: dict[str, PreparedImage] = {}
    log: list[dict[str, Any]] = []
    warnings: list[Problem] = []
    if audio_url is not None and not _is_remote(audio_url):
        audio = cat.audio_file
        lo, hi = spec.audio_seconds or (audio["min_seconds"], audio["max_seconds"])
        limits = Limits("audio", tuple(audio["extensions"]), lo, hi, audio["max_mb"])
        local = prepare_local(audio_url, "audio_url", limits)
        uploads.append(local)
        urls["audio_url"] = upload_placeholder(local.sha256)
        log.append({"type": "audio_url", **local.describe()})
    for item in items:
        parts = [(item.field, item.type, item.source)]
        if item.voice is not None:
            parts.append((item.voice_field, "reference_voice", item.voice))
        for name, media_type, source in parts:
            kind = file_kind(cat, media_type)
            if _is_remote(source):
                log.append({"field": name, "type": media_type, "kind": kind, "source": source})
                continue
            if kind == "image":
                image = prepare_image(source, image_rules(spec), field=name)
                warnings += _side_warnings(spec, name, image)
                images[name] = image
                urls[name] = image.url
                log.append(
                    {"field": name, "type": media_type, "kind": kind, **describe_for_log(image)}
                )
                continue
            local = prepare_local(source, name, media_limits(cat, media_type))
            uploads.append(local)
            urls[name] = upload_placeholder(local.sha256)
            log.append({"type": media_type, **local.describe()})
    return PreparedMedia(
        urls=urls, uploads=tuple(uploads), images=images, log=tuple(log), warnings=tuple(warnings)
    )


def _side_warnings(spec: ModelSpec, name: str, image: PreparedImage) -> list[Problem]:
    """The kf2v pages disagree on image sides (240-8000 px newer, 360-2000 px older): an image
    outside the older range is sent, with a warning (docs/dashscope-wan27.md §8)."""
    if spec.image_sides_warn is None or image.width is None or image.height is None:
        return []
    lo, hi = spec.image_sides_warn
    if lo <= min(image.width, image.height) and max(image.width, image.height) <= hi:
        return []
    return [
        Problem(
            name,
            f"{image.width}x{image.height}",
            f"{name} is {image.width}x{image.height} px; older vendor pages for {spec.name} "
            f"allow sides of {lo}-{hi} px only (the newer one 240-8000): the service may refuse it",
            "warning",
        )
    ]


def media_kwargs(log: Any) -> tuple[dict[str, Any], list[str]]:
    """The media keyword arguments of a logged run, from what the log kept of each medium.

    Each medium comes back as it was given: a URL as the URL, a local file as its absolute path
    (read again). The second value lists the fields only known by hash (bytes, a PIL image):
    those must be given again.
    """
    kwargs: dict[str, Any] = {}
    lost: list[str] = []
    entries = [e for e in log or () if isinstance(e, Mapping) and isinstance(e.get("field"), str)]
    voices = {e["field"][: -len(".voice")]: e for e in entries if e["field"].endswith(".voice")}
    raw: list[dict[str, Any]] = []
    for entry in entries:
        name = entry["field"]
        if name.endswith(".voice"):
            continue
        source = _logged_source(entry, name, lost)
        voice_entry = voices.get(name)
        voice = _logged_source(voice_entry, name + ".voice", lost) if voice_entry else None
        base = name.split("[", 1)[0]
        if base == "media":
            raw.append(
                {"type": entry.get("type"), "url": source}
                | ({"reference_voice": voice} if voice is not None else {})
            )
        elif "[" in name:
            value = Reference(source, voice=voice) if voice is not None else source
            kwargs.setdefault(base, []).append(value)
        else:
            kwargs[base] = Reference(source, voice=voice) if voice is not None else source
    if raw:
        kwargs["media"] = raw
    return kwargs, lost


def _logged_source(entry: Mapping[str, Any], name: str, lost: list[str]) -> Any:
    source = entry.get("source")
    if not isinstance(source, str) or not source or source.startswith("<"):
        lost.append(name)
    return source
