"""Media in, for audio and video: a local file probed and checked before anything is sent.

Audio and video have no base64 transport (docs/dashscope-wan27.md §3): a local file goes through the
vendor's temporary upload (``_api/uploads``), so it is read here first, probed with PyAV
(container, duration, sides, sound) and checked against the limits of its media type (§5.3, §6.2,
§7); a file that breaks one costs nothing. URLs are passed through: the service fetches them.

The limits are arguments (the caller reads them from the catalogue), like ``images``. PyAV is
imported inside the functions that need it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from wanbook._avtime import stream_seconds
from wanbook._errors import MediaError
from wanbook._spec.images import MB

__all__ = ["LocalMedia", "Limits", "prepare_local"]

_AUDIO_CONTAINERS = {"wav": "wav", "mp3": "mp3"}
_VIDEO_CONTAINERS = {"mp4": "mp4", "mov": "mov"}
_CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
}


@dataclass(frozen=True)
class Limits:
    """What one media type allows: file kind, extensions, seconds, size, sides and aspect."""

    kind: str  # "audio" | "video"
    extensions: tuple[str, ...]
    min_seconds: float
    max_seconds: float
    max_mb: float
    min_side: int | None = None
    max_side: int | None = None
    max_aspect: float | None = None


@dataclass(frozen=True)
class LocalMedia:
    """A checked local audio or video file, ready to upload. ``data`` is left out of the repr."""

    field: str
    kind: str
    source: str  # the absolute path, or "<bytes>"
    filename: str
    extension: str
    sha256: str
    size: int  # bytes
    duration: float
    width: int | None = None
    height: int | None = None
    has_audio: bool = False
    data: bytes = dataclasses.field(repr=False, default=b"")

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES.get(self.extension, "application/octet-stream")

    def describe(self) -> dict[str, Any]:
        """What the run log may keep: never the bytes."""
        return {
            "field": self.field,
            "kind": self.kind,
            "source": self.source,
            "sha256": self.sha256,
            "bytes": self.size,
            "duration": round(self.duration, 3),
            "width": self.width,
            "height": self.height,
            "has_audio": self.has_audio,
        }


def _path_of(source: str) -> Path:
    if source.startswith("file://"):
        parts = urlsplit(source)
        return Path(url2pathname(unquote(parts.path)))
    return Path(source).expanduser()


def prepare_local(source: Any, field_name: str, limits: Limits) -> LocalMedia:
    """Read, probe and check a local audio/video file (a path, ``file://`` URL or bytes).

    Raises :class:`MediaError` naming ``field_name``, the file and the limit broken.
    """
    what = f"{field_name} ({limits.kind})"
    if isinstance(source, bytes | bytearray | memoryview):
        data, shown, name = bytes(source), "<bytes>", ""
    elif isinstance(source, str | os.PathLike):
        path = _path_of(os.fspath(source))
        shown, name = str(path.absolute()), path.name
        try:
            size = path.stat().st_size
            if size > limits.max_mb * MB:
                raise MediaError(
                    f"{what} {shown!r}: {size / MB:.1f} MB is over the limit of "
                    f"{limits.max_mb:g} MB",
                    field=field_name,
                )
            data = path.read_bytes()
        except FileNotFoundError:
            raise MediaError(f"{what} {shown!r}: no such file", field=field_name) from None
        except IsADirectoryError:
            raise MediaError(f"{what} {shown!r}: is a directory", field=field_name) from None
        except PermissionError:
            raise MediaError(f"{what} {shown!r}: cannot be read", field=field_name) from None
    else:
        raise MediaError(
            f"{what}: give a local path, an http(s) URL or bytes, not {type(source).__name__}",
            field=field_name,
        )
    if len(data) > limits.max_mb * MB:
        raise MediaError(
            f"{what} {shown!r}: {len(data) / MB:.1f} MB is over the limit of {limits.max_mb:g} MB",
            field=field_name,
        )
    info = _probe(data, shown, what, field_name, limits)
    ext = info["extension"]
    if name and "." in name:
        given = name.rsplit(".", 1)[-1].lower()
        if given in limits.extensions:
            ext = given
    problems = []
    dur = info["duration"]
    if not limits.min_seconds <= dur <= limits.max_seconds:
        problems.append(
            f"{dur:.2f} s long; it must be {limits.min_seconds:g} to {limits.max_seconds:g} s"
        )
    w, h = info["width"], info["height"]
    if w is not None and h is not None and limits.min_side is not None:
        assert limits.max_side is not None and limits.max_aspect is not None
        if not (
            limits.min_side <= w <= limits.max_side and limits.min_side <= h <= limits.max_side
        ):
            problems.append(
                f"{w}x{h} px; each side must be {limits.min_side} to {limits.max_side} px"
            )
        if max(w, h) > limits.max_aspect * min(w, h):
            problems.append(
                f"aspect {w}:{h} is beyond 1:{limits.max_aspect:g} to {limits.max_aspect:g}:1"
            )
    if problems:
        raise MediaError(f"{what} {shown!r}: " + "; ".join(problems), field=field_name)
    digest = hashlib.sha256(data).hexdigest()
    return LocalMedia(
        field=field_name,
        kind=limits.kind,
        source=shown,
        filename=name or f"{digest[:16]}.{ext}",
        extension=ext,
        sha256=digest,
        size=len(data),
        duration=dur,
        width=w,
        height=h,
        has_audio=info["has_audio"],
        data=data,
    )


def _probe(data: bytes, shown: str, what: str, field_name: str, limits: Limits) -> dict[str, Any]:
    """Container, duration, sides and sound of ``data``; MediaError if it is not of the kind."""
    import av

    want = " or ".join(limits.extensions)
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.FFmpegError, OSError, ValueError):
        raise MediaError(
            f"{what} {shown!r}: not a readable {limits.kind} file (the service takes {want})",
            field=field_name,
        ) from None
    with container:
        names = set(container.format.name.split(","))
        table = _AUDIO_CONTAINERS if limits.kind == "audio" else _VIDEO_CONTAINERS
        ext = next((e for e, c in table.items() if c in names and e in limits.extensions), None)
        if ext is None:
            raise MediaError(
                f"{what} {shown!r}: container {container.format.name!r}; the service takes {want}",
                field=field_name,
            )
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        stream = video if limits.kind == "video" else audio
        if stream is None:
            raise MediaError(f"{what} {shown!r}: has no {limits.kind} stream", field=field_name)
        return {
            "extension": ext,
            "duration": stream_seconds(container, stream),
            "width": int(video.codec_context.width) if video is not None else None,
            "height": int(video.codec_context.height) if video is not None else None,
            "has_audio": audio is not None,
        }
