"""Input images: where an ``img_url`` points, whether it is acceptable, and its pixels.

What the emulator does with each kind of ``img_url``:

- ``data:{mime};base64,...``: decoded and checked (format, sides, size, alpha) like the service.
- ``http(s)://`` on a loopback host (127.0.0.0/8, ::1, localhost): fetched and checked.
- ``oss://...``: a file uploaded to the emulator's own upload host (the vendor SDK's local-file
  path); needs ``X-DashScope-OssResourceResolve: enable`` like the service.
- any other ``http(s)://`` URL is **never fetched** (tests never touch the internet): a
  deterministic synthetic 16:9 picture derived from the URL stands in for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from wanbook._catalogue import ModelSpec, catalogue

__all__ = ["ImageSource", "MediaRejected", "decode_rgb", "resolve_image"]

STAND_IN_SIZE = (1280, 720)  # the synthetic picture for a URL that is not fetched (16:9)
FETCH_TIMEOUT = 10.0


class MediaRejected(Exception):
    """The image cannot be used; carries the HTTP status, error code and message to answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class ImageSource:
    """An accepted input image: its bytes (None for a synthetic stand-in) and its size."""

    data: bytes | None
    ref: str  # the URL for a stand-in; the sha256 of the bytes otherwise
    width: int
    height: int

    @property
    def digest(self) -> str:
        return self.ref if self.data is not None else "url:" + self.ref


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fetch(url: str, limit: int) -> bytes:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as resp:  # noqa: S310 (loopback only)
            data = resp.read(limit + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise MediaRejected(
            415,
            "BadRequest.InputDownloadFailed",
            f"img_url: download of the image failed ({exc.__class__.__name__}): {url}",
        ) from exc
    return data


def _check_bytes(data: bytes, spec: ModelSpec) -> ImageSource:
    from PIL import Image, UnidentifiedImageError

    rules = catalogue().image
    limit_mb = spec.image_max_mb or 20
    if len(data) > limit_mb * 1024 * 1024:
        raise MediaRejected(
            400,
            "InvalidParameter",
            f"img_url: the image is {len(data) / 1048576:.1f} MB; {spec.name} accepts at most "
            f"{limit_mb} MB",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # sides checked below
            with Image.open(io.BytesIO(data)) as img:
                fmt, (w, h), mode, info = img.format, img.size, img.mode, img.info
    except Image.DecompressionBombError:
        raise MediaRejected(
            400, "InvalidParameter", "img_url: the image is far larger than 8000x8000 px"
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaRejected(
            415,
            "BadRequest.UnsupportedFileFormat",
            "img_url: the data is not a readable image (JPEG, PNG, BMP, WEBP)",
        ) from exc
    fmt = "JPEG" if fmt == "MPO" else fmt  # phone cameras' multi-picture JPEG
    if fmt not in rules["formats"]:
        raise MediaRejected(
            400,
            "InvalidParameter",
            f"img_url: image format {fmt} is not supported; use one of {', '.join(rules['formats'])}",
        )
    lo, hi = rules["min_side"], rules["max_side"]
    if not (lo <= w <= hi and lo <= h <= hi):
        raise MediaRejected(
            400,
            "InvalidParameter",
            f"img_url: the image is {w}x{h}; width and height must each be from {lo} to {hi} px",
        )
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in info)
    if fmt == "PNG" and has_alpha and not rules.get("png_alpha", False):
        raise MediaRejected(
            400, "InvalidParameter", "img_url: PNG images with an alpha channel are not supported"
        )
    return ImageSource(data=data, ref=hashlib.sha256(data).hexdigest(), width=w, height=h)


def resolve_image(
    img_url: Any, spec: ModelSpec, uploads: Mapping[str, bytes], oss_resolve: bool
) -> ImageSource:
    """Check ``img_url`` as the service would at create time; raise :class:`MediaRejected`."""
    if not isinstance(img_url, str) or not img_url.strip():
        raise MediaRejected(
            400, "InvalidParameter", "img_url: an image URL or data URI is required"
        )
    url = img_url.strip()
    limit = (spec.image_max_mb or 20) * 1024 * 1024
    if url.startswith("data:"):
        head, sep, payload = url.partition(",")
        if not sep or not head.endswith(";base64"):
            raise MediaRejected(
                400,
                "InvalidParameter",
                "img_url: a data URI must look like data:{mime};base64,{data}",
            )
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise MediaRejected(
                400, "InvalidParameter", "img_url: the base64 data is malformed"
            ) from exc
        return _check_bytes(data, spec)
    parts = urlsplit(url)
    if parts.scheme == "oss":
        if not oss_resolve:
            raise MediaRejected(
                400,
                "InvalidURL",
                "img_url: oss:// URLs need the header X-DashScope-OssResourceResolve: enable",
            )
        key = url[len("oss://") :]
        if key not in uploads:
            raise MediaRejected(400, "InvalidURL", f"img_url: no uploaded file at {url}")
        return _check_bytes(uploads[key], spec)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaRejected(
            400, "InvalidURL", "img_url: must be a public http(s) URL or a data:{mime};base64 URI"
        )
    if _is_loopback(parts.hostname):
        data = _fetch(url, limit)
        return _check_bytes(data, spec)
    w, h = STAND_IN_SIZE
    return ImageSource(data=None, ref=url, width=w, height=h)


def decode_rgb(source: ImageSource, width: int, height: int) -> Any:
    """The image as an RGB array of exactly ``width`` × ``height`` (aspect kept, edges trimmed)."""
    import numpy as np
    from PIL import Image, ImageOps

    from wanbook.emulator._scene import synthetic_image

    if source.data is None:
        img = Image.fromarray(synthetic_image(source.ref, *STAND_IN_SIZE))
    else:
        img = ImageOps.exif_transpose(Image.open(io.BytesIO(source.data)))
    img = img.convert("RGB")
    fitted = ImageOps.fit(img, (width, height), method=Image.Resampling.BICUBIC)
    return np.ascontiguousarray(np.asarray(fitted, dtype=np.uint8))
