"""Media in: turn an i2v image into what the wire accepts, checked locally.

A local image (path, ``file://`` URL, ``bytes``, a ``data:`` URI or a PIL image) is opened with
Pillow and checked against the model's limits *before* anything is sent, because a refused image
still costs a round trip and a confusing server message. It then becomes a ``data:`` URI. An
``http(s)`` URL is passed through untouched: we never fetch it (the server does), so its size and
format are unknown here.

The rules and the checks themselves are ``wanbook._spec.images`` (shared with the emulator); this
module reads the image and says what is wrong with it. Pillow is imported inside the functions
that need it, so ``import wanbook`` stays fast.

The run log must never hold image bytes: :func:`describe_for_log` and :func:`redact_body` give what
may be written instead (a hash, a size, the dimensions).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit
from urllib.request import url2pathname

from wanbook._errors import MediaError
from wanbook._spec.images import ImageRules, has_alpha, image_problems, norm_format

__all__ = [
    "PreparedImage",
    "describe_for_log",
    "prepare_image",
    "redact_body",
]

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp", "WEBP": "image/webp"}
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")  # 2+ chars, so "C:\\x.png" is a path


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for ``input.img_url``.

    ``url`` is what is sent: the caller's ``http(s)`` URL, or a ``data:`` URI we built. For URLs the
    other fields are ``None`` (we did not fetch it). ``url`` is left out of the repr: a data URI of a
    photo is megabytes of base64 and must not flood a notebook or a log.
    """

    url: str = field(repr=False)
    source: str
    sha256: str | None = None
    bytes: int | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None


def _label(source: str) -> str:
    """``image 'cat.png'`` for a file; ``image <bytes>`` for anonymous sources.

    A very long string (say, base64 given without its ``data:`` prefix) is shortened.
    """
    if source.startswith("<"):
        return f"image {source}"
    if len(source) > 160:
        source = f"{source[:100]}…{source[-40:]} ({len(source)} chars)"
    return f"image {source!r}"


def _fail(source: str, problems: Sequence[str]) -> MediaError:
    return MediaError(f"{_label(source)}: " + "; ".join(problems), field="image")


# --------------------------------------------------------------------------- the checks (pure-ish)


def _check_bytes(
    data: bytes, source: str, rules: ImageRules, *, size: int | None = None
) -> PreparedImage:
    """Check an image's bytes against ``rules``; return it as a data URI, or raise MediaError.

    Every rule that is broken is said at once (a big alpha PNG gets both complaints), except
    when the bytes are not a readable image at all. ``size`` is the whole file's size when ``data``
    is only its head (a file over the limit); the pixels are then never decoded.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise _fail(source, ["the file is empty"])
    nbytes = len(data) if size is None else size
    unread = [p.message for p in image_problems(rules, nbytes=nbytes)]
    try:
        with warnings.catch_warnings():
            # A big image trips Pillow's decompression-bomb *warning*; the side check below says
            # what is wrong in our terms instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _fail(source, [*unread, f"too many pixels to check safely ({exc})"]) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        allowed = ", ".join(rules.formats)
        raise _fail(
            source, [*unread, f"not an image Pillow can read (allowed formats: {allowed})"]
        ) from exc

    with img:
        fmt = norm_format(img.format or "unknown")
        width, height = img.size
        problems = image_problems(
            rules,
            nbytes=nbytes,
            fmt=fmt,
            width=width,
            height=height,
            mode=img.mode,
            alpha=has_alpha(img.mode, img.info),
        )
        if problems:  # always the case for a head-only read: its size is over the limit
            raise _fail(source, [p.message for p in problems])
        _decode_fully(img, source, fmt)

    mime = _MIME.get(fmt) or Image.MIME.get(fmt, "application/octet-stream")
    return PreparedImage(
        url=f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}",
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        width=width,
        height=height,
        format=fmt,
    )


def _decode_fully(img: Any, source: str, fmt: str) -> None:
    """Decode the pixels, so a truncated or corrupt file is caught here and not by the server.

    A JPEG is decoded in draft mode (1/8 scale): every byte is still read, at a fraction of the
    memory an 8000 px photo would need.
    """
    try:
        if fmt == "JPEG":
            img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _fail(source, [f"the {fmt} data is corrupt or truncated ({exc})"]) from exc


# --------------------------------------------------------------------------- the sources (I/O)


def _read_path(path: Path, source: str, limit: int) -> tuple[bytes, int]:
    """Read a local file; return ``(data, size)``.

    A file over the size limit is not read whole: its head is enough for Pillow to name the format
    and the sides, so the error can list every problem, and its size is the answer anyway. The
    read itself is bounded (``limit`` + 1 bytes): a device or a pipe (``/dev/zero``) reports no
    size and never ends.
    """
    try:
        if path.is_dir():
            raise _fail(source, ["is a directory, not an image file"])
        size = path.stat().st_size
        with path.open("rb") as fh:
            data = fh.read(min(size, 1 << 20) if size > limit else limit + 1)
        if len(data) > limit:  # larger than it said (or it said nothing): at least limit + 1
            return data[: 1 << 20], max(size, len(data))
        return data, max(size, len(data))
    except FileNotFoundError as exc:
        raise _fail(source, ["no such file"]) from exc
    except PermissionError as exc:
        raise _fail(source, ["permission denied"]) from exc
    except OSError as exc:
        raise _fail(source, [f"cannot be read ({exc.strerror or exc})"]) from exc


def _decode_data_uri(uri: str) -> bytes:
    """Decode ``data:[<mime>][;base64],<data>``; the declared mime is ignored (Pillow decides)."""
    header, sep, payload = uri.partition(",")
    if not sep:
        raise _fail("<data URI>", ["malformed data URI: no ',' before the data"])
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _fail("<data URI>", [f"the base64 data does not decode ({exc})"]) from exc
    return unquote_to_bytes(payload)


def _pil_to_png(img: Any, png_alpha: bool) -> bytes:
    """Encode a PIL image losslessly as PNG. Alpha is refused first, as it would be in a file."""
    if not png_alpha and has_alpha(img.mode, img.info):
        raise _fail(
            "<PIL image>",
            [
                f"has an alpha channel or transparency (mode {img.mode}); the Wan models accept "
                'PNG without alpha — convert with img.convert("RGB")'
            ],
        )
    buf = io.BytesIO()
    try:
        img.save(buf, format="PNG")
    except (OSError, ValueError, KeyError) as exc:
        raise _fail(
            "<PIL image>",
            [f'mode {img.mode} cannot be saved as PNG ({exc}); convert with img.convert("RGB")'],
        ) from exc
    return buf.getvalue()


def prepare_image(
    image: Any, rules: ImageRules, *, field: str = "image", name: str | None = None
) -> PreparedImage:
    """Turn an i2v image into a checked ``PreparedImage`` whose ``url`` goes into ``input.img_url``.

    ``image`` is an ``http(s)`` URL (sent as is, never fetched), a ``data:`` URI, a ``file://``
    URL, a local path (``str`` or ``os.PathLike``), ``bytes`` or a PIL image. Everything but an
    ``http(s)`` URL is checked against ``rules`` and returned as a ``data:`` URI. Raises
    :class:`MediaError` naming ``field`` (the request field that gave the image: ``image``,
    ``first_frame``, ``reference_images[2]``), the file, the value found and the limit broken.
    ``name``: what to call ``bytes`` in errors (an uploaded file's name), else ``<bytes>``.
    """
    try:
        return _prepare_image(image, rules, name)
    except MediaError as exc:
        if field == "image":
            raise
        text = str(exc)
        text = text[len("image ") :] if text.startswith("image ") else text
        raise MediaError(f"{field} {text}", field=field) from None


def _prepare_image(image: Any, rules: ImageRules, name: str | None = None) -> PreparedImage:
    if isinstance(image, str):
        text = image.strip()
        match = _SCHEME.match(text)
        scheme = match.group(1).lower() if match else ""
        if scheme in ("http", "https"):
            if not urlsplit(text).netloc:
                raise _fail(text, ["the URL has no host"])
            return PreparedImage(url=text, source=text)
        if scheme == "data":
            return _check_bytes(_decode_data_uri(text), "<data URI>", rules)
        if scheme == "file":
            parts = urlsplit(text)
            if parts.netloc not in ("", "localhost"):
                raise _fail(text, [f"file:// URL on another host ({parts.netloc}) cannot be read"])
            path = Path(url2pathname(unquote(parts.path)))
            return _from_path(path, text, rules)
        if scheme and not os.path.exists(text):
            raise _fail(
                text,
                [
                    f"unsupported URL scheme {scheme!r}; use an http(s) URL, a data: URI or a local path"
                ],
            )
        return _from_path(Path(image), image, rules)  # as given: spaces may be real
    if isinstance(image, os.PathLike):
        return _from_path(Path(image), os.fspath(image), rules)
    if isinstance(image, bytes | bytearray | memoryview):
        return _check_bytes(bytes(image), name or "<bytes>", rules)

    from PIL import Image

    if isinstance(image, Image.Image):
        return _check_bytes(_pil_to_png(image, rules.png_alpha), "<PIL image>", rules)
    raise MediaError(
        f"image: unsupported type {type(image).__name__}; give an http(s) URL, a data: URI, a "
        "local path, bytes or a PIL image",
        field="image",
    )


def _from_path(path: Path, source: str, rules: ImageRules) -> PreparedImage:
    data, size = _read_path(path, source, rules.max_bytes)
    return _check_bytes(data, source, rules, size=size)


# --------------------------------------------------------------------------- logging helpers


def describe_for_log(prepared: PreparedImage) -> dict[str, Any]:
    """What the run log may keep about an input image: never the bytes, only their fingerprint.

    A local path is logged absolute (``frame.png`` as given is read from the working directory
    of the moment; a rerun from elsewhere must still find it); URLs and ``<bytes>`` as given."""
    source = prepared.source
    if source and not source.startswith("<") and not _SCHEME.match(source):
        source = os.path.abspath(source)
    return {
        "sha256": prepared.sha256,
        "bytes": prepared.bytes,
        "width": prepared.width,
        "height": prepared.height,
        "format": prepared.format,
        "source": source,
    }


def _placeholder(uri: str) -> str:
    header, _, payload = uri.partition(",")
    mime = header[5:].split(";", 1)[0] or "text/plain"
    try:
        data = (
            base64.b64decode("".join(payload.split()))
            if header.lower().endswith(";base64")
            else unquote_to_bytes(payload)
        )
    except (binascii.Error, ValueError):
        data = payload.encode("utf-8", "replace")
    return (
        f"sha256:{hashlib.sha256(data).hexdigest()} ({mime}, {len(data)} bytes, data URI redacted)"
    )


def redact_body(body: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a wire body with every ``data:`` URI replaced by its hash and size.

    ``input.img_url`` is the one field that carries data URIs today; any string value starting
    with ``data:`` is redacted, so a future field cannot leak bytes into the run log either.
    """

    def walk(value: Any) -> Any:
        if isinstance(value, str) and value[:5].lower() == "data:":
            return _placeholder(value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return copy.deepcopy(value)

    return walk(body)
