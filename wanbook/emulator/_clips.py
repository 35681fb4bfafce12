"""Input video clips (``first_clip``, ``video``, ``reference_video``): checked as the service checks
them at create time, and read back frame by frame and as sound for the render.

Like images and audio, the bytes are found by ``_fetch.read_input`` (a data URI is refused: video
has no base64 transport; an SDK upload at ``oss://``; a loopback URL). Any other ``http(s)`` URL is
**never fetched**: a deterministic stand-in clip (a drifting synthetic picture, silent,
``STAND_IN_SECONDS`` long) takes its place. Limits come from the catalogue (``[video_file]`` and
the media type's seconds, docs/dashscope-wan27.md §5.3, §6.2, §7); a file outside them is answered
``400 InvalidParameter`` naming the field.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from wanbook._avtime import stream_seconds
from wanbook._spec.catalogue import catalogue
from wanbook.emulator._fetch import Rejected, read_input

__all__ = [
    "STAND_IN_SECONDS",
    "VideoSource",
    "clip_frames",
    "clip_planes",
    "clip_sound",
    "resolve_video",
]

STAND_IN_SECONDS = 5.0
STAND_IN_SIZE = (1280, 720)
LENGTH_SLACK = 0.1  # s: containers pad a few ms


@dataclass(frozen=True)
class VideoSource:
    """An accepted input clip: its bytes (None for a stand-in), size, length and sound."""

    data: bytes | None
    ref: str  # the sha256 of the bytes; the URL for a stand-in
    width: int
    height: int
    seconds: float
    has_audio: bool = False

    @property
    def digest(self) -> str:
        return self.ref if self.data is not None else "url:" + self.ref


def _probe(data: bytes, field: str) -> tuple[str, int, int, float, bool]:
    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            fmt = container.format.name
            if not container.streams.video:
                raise ValueError("no video stream")
            vs = container.streams.video[0]
            return (
                fmt,
                int(vs.codec_context.width),
                int(vs.codec_context.height),
                stream_seconds(container, vs),
                bool(container.streams.audio),
            )
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise Rejected(
            415,
            "BadRequest.UnsupportedFileFormat",
            f"{field}: the file is not a readable mp4 or mov video ({type(exc).__name__})",
        ) from None


def resolve_video(
    url: Any, field: str, media_type: str, uploads: Mapping[str, bytes], oss_resolve: bool
) -> VideoSource:
    """Check the clip at ``url`` for ``media_type``; raise :class:`Rejected` naming ``field``."""
    cat = catalogue()
    rules = cat.video_file
    if not isinstance(url, str) or not url.strip():
        raise Rejected(400, "InvalidParameter", f"{field}: a video URL is required")
    text = url.strip()
    if text.startswith("data:"):
        raise Rejected(
            400,
            "InvalidParameter",
            f"{field}: video cannot be sent as a data URI; use an http(s) URL or an oss:// upload",
        )
    limit = int(rules["max_mb"] * 1024 * 1024)
    data = read_input(
        text, field=field, what="video", limit=limit, uploads=uploads, oss_resolve=oss_resolve
    )
    if data is None:
        w, h = STAND_IN_SIZE
        return VideoSource(None, text, w, h, STAND_IN_SECONDS)
    if len(data) > limit:
        raise Rejected(
            400,
            "InvalidParameter",
            f"{field}: the video is larger than {rules['max_mb']} MB",
        )
    fmt, w, h, seconds, has_audio = _probe(data, field)
    if not set(fmt.split(",")) & set(rules["extensions"]):
        raise Rejected(
            415,
            "BadRequest.UnsupportedFileFormat",
            f"{field}: the file is {fmt} video; the service takes "
            + " or ".join(rules["extensions"]),
        )
    lo, hi = cat.media_types.get(media_type, {}).get("seconds", (0, 1e9))
    if not lo - LENGTH_SLACK <= seconds <= hi + LENGTH_SLACK:
        raise Rejected(
            400,
            "InvalidParameter",
            f"{field}: the video is {seconds:.1f} s long; a {media_type} must be {lo}-{hi} s",
        )
    side_lo, side_hi, aspect = rules["min_side"], rules["max_side"], rules["max_aspect"]
    if not (side_lo <= w <= side_hi and side_lo <= h <= side_hi):
        raise Rejected(
            400,
            "InvalidParameter",
            f"{field}: the video is {w}x{h}; width and height must each be from {side_lo} to "
            f"{side_hi} px",
        )
    if max(w, h) > aspect * min(w, h):
        raise Rejected(
            400, "InvalidParameter", f"{field}: aspect {w}:{h} is beyond 1:{aspect} to {aspect}:1"
        )
    digest = hashlib.sha256(data).hexdigest()
    return VideoSource(data, digest, w, h, seconds, has_audio)


def clip_frames(source: VideoSource, width: int, height: int, fps: int) -> Iterator[Any]:
    """The clip as RGB frames of ``width`` × ``height`` at ``fps`` (frames repeated or dropped
    to follow the clip's own clock), until it ends."""
    import numpy as np

    if source.data is None:
        from wanbook.emulator._scene import synthetic_image

        base = synthetic_image(source.ref, width + 64, height)
        for i in range(int(source.seconds * fps)):
            shift = int(32 + 32 * np.sin(i / fps))
            yield np.ascontiguousarray(base[:, shift : shift + width])
        return
    yield from _decoded(source, width, height, fps, "rgb24")


def clip_planes(source: VideoSource, width: int, height: int, fps: int) -> Iterator[Any]:
    """The clip as yuv420p arrays ``(H*3/2, W)`` (the layout frames are encoded from), at
    ``fps``: scaled by the decoder, with no RGB round trip (an edit redraws every frame)."""
    if source.data is None:
        from wanbook.emulator._yuv import Planes, rgb_to_yuv

        planes = Planes(width, height)
        for rgb in clip_frames(source, width, height, fps):
            planes.y[:], planes.u[:], planes.v[:] = rgb_to_yuv(rgb)
            yield planes.array().copy()
        return
    yield from _decoded(source, width, height, fps, "yuv420p")


def _decoded(source: VideoSource, width: int, height: int, fps: int, fmt: str) -> Iterator[Any]:
    """The clip's frames as ``fmt`` arrays at the output size, one per output frame at ``fps``:
    each decoded frame is shown from its own time until the next one's (repeated or dropped)."""
    import av

    assert source.data is not None
    with av.open(io.BytesIO(source.data), "r") as container:
        stream = container.streams.video[0]
        i, last = 0, None
        for frame in container.decode(stream):
            known = frame.pts is not None and stream.time_base is not None
            t = float(frame.pts * stream.time_base) if known else i / fps  # type: ignore[operator]
            pixels = frame.to_ndarray(format=fmt, width=width, height=height)
            while i / fps < t + 0.5 / fps and i / fps < source.seconds:
                yield pixels if i / fps >= t - 0.5 / fps or last is None else last
                i += 1
            last = pixels
        while last is not None and i < int(round(source.seconds * fps)):
            yield last
            i += 1


def clip_sound(source: VideoSource, seconds: float, rate: int) -> Any:
    """The clip's own sound cut or padded to ``seconds``, or None if it has none."""
    if source.data is None or not source.has_audio:
        return None
    from wanbook.emulator._audio import decode, fit

    n = int(round(seconds * rate))
    try:
        return fit(decode(source.data, n)[1], n)
    except ValueError:
        return None
