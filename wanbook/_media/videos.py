"""Media out: download a finished video safely, and describe it.

The service's ``video_url`` is signed and lives 24 hours, so the video is fetched as soon as it is
ready and must then be trustworthy: :func:`download_video` streams it to a temporary file next to
the destination (hashing as it goes), checks the byte count and that PyAV can open it as an MP4
with a video stream, fsyncs it and only then renames it into place. A reader therefore sees either
no file or a whole, verified one, and a failed download never clobbers an earlier good copy.

Signed URLs carry tokens in their query string, so no message here ever shows it.

PyAV, Pillow and httpx are imported inside the functions that use them: ``import wanbook`` stays
fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from wanbook._avtime import stream_seconds
from wanbook._errors import DownloadError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "VideoFile",
    "VideoInfo",
    "backoff_delay",
    "download_video",
    "is_private_host",
    "make_folder_for",
    "poster_frame",
    "probe",
    "redact_url",
    "remove_stale_parts",
    "size_cap",
]

_RETRY_STATUS = frozenset({408, 429})  # and every 5xx
_MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, read by PyAV (duration in seconds of the video stream)."""

    width: int
    height: int
    fps: float
    duration: float
    has_audio: bool
    video_codec: str
    audio_codec: str | None
    frames: int


@dataclass(frozen=True)
class VideoFile:
    """A downloaded, verified video: where it is, its fingerprint, and what it holds."""

    path: Path
    sha256: str
    bytes: int
    info: VideoInfo


# --------------------------------------------------------------------------- pure helpers


def redact_url(url: str) -> str:
    """The URL without its query string, fragment or credentials: safe for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.netloc.rsplit("@", 1)[-1]
    shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return shown + ("?…" if parts.query else "")


def backoff_delay(
    attempt: int, *, base: float = 0.5, cap: float = 8.0, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry number ``attempt + 1``: 0.5, 1, 2, 4, 8, 8 … each ±25 %.

    The jitter keeps several kernels that failed together from retrying in lock step.
    """
    delay = min(cap, base * 2**attempt)
    return min(cap, delay * (0.75 + 0.5 * rand()))


def _retry_after(value: str | None) -> float | None:
    """A numeric ``Retry-After`` header, capped; dates and junk are ignored (backoff is used)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or not seconds >= 0:  # also rejects NaN
        return None
    return min(seconds, _MAX_RETRY_AFTER)


def _content_length(value: str | None) -> int | None:
    try:
        n = int(value) if value is not None else None
    except ValueError:
        return None
    return n if n is not None and n >= 0 else None


class _Retryable(Exception):
    """One attempt failed in a way a new attempt may fix (transport error, 5xx, short body)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _scrub(text: str, url: str) -> str:
    """Remove the URL (and its query string, wherever it appears) from a lower-level message."""
    text = text.replace(url, redact_url(url))
    query = urlsplit(url).query
    return text.replace(query, "…") if query else text


# --------------------------------------------------------------------------- probe


def _video_label(path: Path) -> str:
    return f"video {str(path)!r}"


def _probe(path: Path, label: str) -> VideoInfo:
    """Open ``path`` with PyAV and describe it; ``label`` names it in errors."""
    import av

    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DownloadError(f"{label} is not a readable video ({exc.__class__.__name__})") from exc
    with container:
        fmt = container.format.name
        if "mp4" not in fmt.split(","):
            raise DownloadError(f"{label} is not an MP4 (container {fmt!r})")
        if not container.streams.video:
            raise DownloadError(f"{label} has no video stream")
        vs = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        duration = stream_seconds(container, vs)
        declared = int(vs.frames or 0)  # the samples the header lists (0: not said)
        decoded = 0
        try:
            # Decode every frame: a file cut short (a Content-Length that lied, or an honestly
            # short body) keeps a valid header and first frames, and only fails further on.
            for _ in container.decode(video=0):
                decoded += 1
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DownloadError(
                f"{label} does not decode past frame {decoded}"
                f"{f' of {declared}' if declared else ''} ({exc.__class__.__name__}): it is cut "
                "short or damaged"
            ) from exc
        if decoded == 0:
            raise DownloadError(f"{label} has a video stream without a decodable frame")
        if declared and decoded < declared:
            raise DownloadError(
                f"{label} decodes {decoded} of the {declared} frames its header lists: it is "
                "cut short"
            )
        frames = declared or decoded
        return VideoInfo(
            width=int(vs.codec_context.width),
            height=int(vs.codec_context.height),
            fps=float(rate) if rate else 0.0,
            duration=duration,
            has_audio=audio is not None,
            video_codec=vs.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            frames=int(frames),
        )


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe a local video file: sides, fps, duration, frames, codecs, whether it has sound.

    Raises :class:`DownloadError` if it is not an MP4 with a decodable video stream (that is what
    "did not verify" means for a download, and the same test serves files already on disk).
    """
    path = Path(path)
    if not path.is_file():
        raise DownloadError(f"{_video_label(path)}: no such file")
    return _probe(path, _video_label(path))


# --------------------------------------------------------------------------- download


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable. Not every platform can open a directory (Windows): then skip."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _verify_and_place(tmp: Path, dest: Path, shown: str) -> VideoInfo:
    """Probe the temporary file and rename it into place (runs in a worker thread)."""
    info = _probe(tmp, f"download of {shown}: the file")
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)
    return info


#: Bytes per second of video a tier's file can plausibly need (generous: the service's files are
#: far smaller); × seconds × :data:`CAP_MARGIN`, at least :data:`CAP_FLOOR` — the download cap.
TIER_BYTES_PER_SECOND = {"480P": 1_500_000, "720P": 3_000_000, "1080P": 6_000_000}
CAP_MARGIN = 3.0
CAP_FLOOR = 16 << 20
#: No download takes longer than this, whatever the session's deadline.
DOWNLOAD_TIMEOUT = 600.0
MAX_REDIRECTS = 5


def make_folder_for(dest: Path) -> None:
    """Make the folder a downloaded or fetched video goes to; :class:`DownloadError` if it
    cannot be made."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the folder {str(dest.parent)!r}: {exc.strerror or exc}"
        ) from exc


def remove_stale_parts(folder: Path, *, older_than: float = 2 * DOWNLOAD_TIMEOUT) -> int:
    """Delete the ``*.part-*`` files of downloads killed mid-way (older than any download can
    last, so a live download of another kernel is never touched); return how many."""
    import time

    removed = 0
    cutoff = time.time() - older_than
    for part in folder.glob("*.part-*") if folder.is_dir() else ():
        with contextlib.suppress(OSError):
            if part.is_file() and part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
    return removed


def size_cap(tier: str | None, seconds: float | None) -> int:
    """The most bytes a video of ``tier`` lasting ``seconds`` may have (unknowns: the largest)."""
    rate = TIER_BYTES_PER_SECOND.get(str(tier or "").upper(), max(TIER_BYTES_PER_SECOND.values()))
    length = float(seconds) if seconds and seconds > 0 else 15.0
    return max(CAP_FLOOR, int(rate * length * CAP_MARGIN))


def is_private_host(host: str | None) -> bool:
    """Whether ``host`` (an address, or a ``localhost`` name) is loopback, private, link-local or
    otherwise not a public address. Other names are not resolved here (no DNS of our own): where
    they lead is checked on the connection itself (see ``_Limits.check_peer``)."""
    import ipaddress

    if not host:
        return True
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        return False
    return not address.is_global or address.is_multicast


class _Limits:
    """What one download may do: its size cap and whether private targets may be fetched."""

    def __init__(self, max_bytes: int | None, allow_private: bool) -> None:
        self.max_bytes, self.allow_private = max_bytes, allow_private

    async def check_target(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise DownloadError(f"refusing to download {redact_url(url)!r}: only http(s) URLs")
        if not self.allow_private and is_private_host(parts.hostname):
            raise DownloadError(self._refusal(url))

    def check_peer(self, url: str, response: httpx.Response) -> None:
        """The address actually connected to (a public name may lead to a private one), before
        any of the body is read. Transports without a socket (tests' mocks) say nothing."""
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if not self.allow_private and peer and is_private_host(str(peer[0])):
            raise DownloadError(self._refusal(url))

    @staticmethod
    def _refusal(url: str) -> str:
        return (
            f"refusing to download {redact_url(url)}: it is a loopback, private or link-local "
            "address, and the API base URL is public (a video URL never is)"
        )


async def _attempt(
    http: httpx.AsyncClient, url: str, dest: Path, chunk_size: int, limits: _Limits
) -> VideoFile:
    """One try: stream to ``<dest>.part-<random>``, check, rename. The temp file never survives.
    Redirects are followed here, each target checked as the first was."""
    import httpx

    shown = redact_url(url)
    tmp = dest.with_name(f"{dest.name}.part-{secrets.token_hex(6)}")
    placed = False
    try:
        target = url
        for _hop in range(MAX_REDIRECTS + 1):
            await limits.check_target(target)
            async with http.stream("GET", target, follow_redirects=False) as resp:
                limits.check_peer(target, resp)
                status = resp.status_code
                if resp.is_redirect and resp.headers.get("location"):
                    target = str(resp.url.join(resp.headers["location"]))
                    continue
                if status >= 500 or status in _RETRY_STATUS:
                    raise _Retryable(
                        f"HTTP {status}", _retry_after(resp.headers.get("retry-after"))
                    )
                if status != 200:
                    hint = " (signed video URLs expire after 24 h)" if status in (403, 404) else ""
                    raise DownloadError(f"download of {shown} failed: HTTP {status}{hint}")
                expected = _content_length(resp.headers.get("content-length"))
                cap = limits.max_bytes
                if cap is not None and expected is not None and expected > cap:
                    raise DownloadError(
                        f"download of {shown} refused: the server announced {expected} bytes, "
                        f"more than the {cap} a video of this request can need"
                    )
                digest = hashlib.sha256()
                size = 0
                # Writes of 64 KiB to the page cache are quick enough for the event loop; the
                # slow parts (fsync, probing) run in a thread.
                with tmp.open("xb") as fh:
                    async for chunk in resp.aiter_bytes(chunk_size):
                        size += len(chunk)
                        if cap is not None and size > cap:
                            raise DownloadError(
                                f"download of {shown} stopped at {size} bytes: more than the "
                                f"{cap} a video of this request can need"
                            )
                        fh.write(chunk)
                        digest.update(chunk)
                    fh.flush()
                    await asyncio.to_thread(os.fsync, fh.fileno())
                # Compare raw bytes on the wire (before any content decoding) with the header.
                if expected is not None and resp.num_bytes_downloaded != expected:
                    raise _Retryable(
                        f"body was {resp.num_bytes_downloaded} bytes, Content-Length said "
                        f"{expected}"
                    )
            break
        else:
            raise DownloadError(f"download of {shown} failed: more than {MAX_REDIRECTS} redirects")
        info = await asyncio.to_thread(_verify_and_place, tmp, dest, shown)
        placed = True
        return VideoFile(path=dest, sha256=digest.hexdigest(), bytes=size, info=info)
    except httpx.TransportError as exc:
        raise _Retryable(f"{type(exc).__name__}: {_scrub(str(exc), url) or 'no detail'}") from exc
    except httpx.HTTPError as exc:
        raise DownloadError(
            f"download of {shown} failed: {type(exc).__name__}: {_scrub(str(exc), url)}"
        ) from None
    except OSError as exc:
        raise DownloadError(
            f"download of {shown} failed: cannot write {str(tmp)!r}: {exc.strerror or exc}"
        ) from exc
    finally:
        if not placed:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


async def download_video(
    http: httpx.AsyncClient,
    url: str,
    dest: str | os.PathLike[str],
    *,
    retries: int = 3,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    chunk_size: int = 1 << 16,
    max_bytes: int | None = None,
    timeout: float | None = DOWNLOAD_TIMEOUT,
    allow_private: bool = True,
) -> VideoFile:
    """Fetch ``url`` into ``dest`` (a name the caller chose, never one from the server), verified.

    Only ``http``/``https`` URLs are fetched, and with ``allow_private=False`` none (nor any
    redirect) to a loopback, private or link-local address. Transport errors, 408/429/5xx and
    short bodies are retried up to ``retries`` times with capped, jittered backoff (a numeric
    ``Retry-After`` wins); other HTTP errors, files that do not verify, a body or Content-Length
    over ``max_bytes`` are not. All attempts together take at most ``timeout`` seconds. On any
    failure no partial file is left and an existing ``dest`` is untouched. Raises
    :class:`DownloadError`, never showing the query.
    """
    shown = redact_url(url) if isinstance(url, str) else repr(url)
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise DownloadError(f"refusing to download {shown!r}: only http(s) URLs are fetched")
    dest = Path(dest)
    make_folder_for(dest)
    limits = _Limits(max_bytes, allow_private)
    try:
        async with asyncio.timeout(timeout):
            return await _download(http, url, dest, retries, sleep, chunk_size, limits)
    except TimeoutError:
        raise DownloadError(
            f"download of {shown} did not finish within {timeout:.0f} s (the overall limit)"
        ) from None


async def _download(
    http: httpx.AsyncClient,
    url: str,
    dest: Path,
    retries: int,
    sleep: Callable[[float], Awaitable[Any]],
    chunk_size: int,
    limits: _Limits,
) -> VideoFile:
    shown = redact_url(url)
    attempt = 0
    while True:
        try:
            return await _attempt(http, url, dest, chunk_size, limits)
        except _Retryable as exc:
            if attempt >= retries:
                tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                cause = exc.__cause__ if _safe_cause(exc.__cause__, url) else None
                raise DownloadError(
                    f"download of {shown} failed after {tries}: {exc.reason}"
                ) from cause
            delay = exc.retry_after if exc.retry_after is not None else backoff_delay(attempt)
            await sleep(delay)
            attempt += 1


def _safe_cause(cause: BaseException | None, url: str) -> bool:
    """Chain a lower-level error only if its text cannot show the signed query string."""
    if cause is None:
        return False
    query = urlsplit(url).query
    return not query or query not in str(cause)


# --------------------------------------------------------------------------- poster


def poster_frame(
    video_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    at_seconds: float = 0.5,
    max_width: int = 480,
    quality: int = 85,
) -> Path:
    """Write a small JPEG of the frame at ``at_seconds`` (or the last one, if the video is shorter).

    Lazy: an existing poster newer than its video is reused as is. Written atomically. Raises
    :class:`DownloadError` if the video cannot be read.
    """
    import av

    video_path, out_path = Path(video_path), Path(out_path)
    label = _video_label(video_path)
    try:
        if out_path.stat().st_mtime_ns >= video_path.stat().st_mtime_ns:
            return out_path
    except FileNotFoundError:
        pass
    try:
        with av.open(str(video_path)) as container:
            if not container.streams.video:
                raise DownloadError(f"{label} has no video stream")
            vs = container.streams.video[0]
            if at_seconds > 0 and vs.time_base:
                container.seek(int(at_seconds / vs.time_base), stream=vs)
            chosen = None
            for frame in container.decode(vs):
                chosen = frame
                if frame.time is not None and frame.time >= at_seconds - 1e-6:
                    break
            if chosen is None:
                raise DownloadError(f"{label} has no decodable frame")
            img = chosen.to_image()
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise DownloadError(f"{label} could not be read for a poster ({exc})") from exc
    if img.width > max_width:
        img = img.resize((max_width, max(1, round(img.height * max_width / img.width))))
    tmp = out_path.with_name(f"{out_path.name}.part-{secrets.token_hex(6)}")
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        img.convert("RGB").save(tmp, format="JPEG", quality=quality)
        os.replace(tmp, out_path)
    except OSError as exc:
        raise DownloadError(f"cannot write the poster {str(out_path)!r}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return out_path
