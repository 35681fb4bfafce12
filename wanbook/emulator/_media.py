"""Input images: whether an ``img_url``'s image is acceptable, and its pixels.

``_fetch.read_input`` finds the bytes (a data URI, an SDK upload at ``oss://``, a loopback
URL); they are checked (format, sides, size, alpha) like the service checks them. Any other
``http(s)://`` URL is **never fetched** (tests never touch the internet): a deterministic
synthetic 16:9 picture derived from the URL stands in for it.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wanbook._spec.catalogue import ModelSpec, catalogue
from wanbook.emulator._fetch import Rejected, read_input

__all__ = ["ImageSource", "decode_rgb", "resolve_image"]

STAND_IN_SIZE = (1280, 720)  # the synthetic picture for a URL that is not fetched (16:9)


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


def _check_bytes(data: bytes, spec: ModelSpec) -> ImageSource:
    from PIL import Image, UnidentifiedImageError

    rules = catalogue().image
    limit_mb = spec.image_max_mb or 20
    if len(data) > limit_mb * 1024 * 1024:
        raise Rejected(
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
        raise Rejected(
            400, "InvalidParameter", "img_url: the image is far larger than 8000x8000 px"
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise Rejected(
            415,
            "BadRequest.UnsupportedFileFormat",
            "img_url: the data is not a readable image (JPEG, PNG, BMP, WEBP)",
        ) from exc
    fmt = "JPEG" if fmt == "MPO" else fmt  # phone cameras' multi-picture JPEG
    if fmt not in rules["formats"]:
        raise Rejected(
            400,
            "InvalidParameter",
            f"img_url: image format {fmt} is not supported; use one of {', '.join(rules['formats'])}",
        )
    lo, hi = rules["min_side"], rules["max_side"]
    if not (lo <= w <= hi and lo <= h <= hi):
        raise Rejected(
            400,
            "InvalidParameter",
            f"img_url: the image is {w}x{h}; width and height must each be from {lo} to {hi} px",
        )
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in info)
    if fmt == "PNG" and has_alpha and not rules.get("png_alpha", False):
        raise Rejected(
            400, "InvalidParameter", "img_url: PNG images with an alpha channel are not supported"
        )
    return ImageSource(data=data, ref=hashlib.sha256(data).hexdigest(), width=w, height=h)


def resolve_image(
    img_url: Any, spec: ModelSpec, uploads: Mapping[str, bytes], oss_resolve: bool
) -> ImageSource:
    """Check ``img_url`` as the service would at create time; raise :class:`Rejected`."""
    if not isinstance(img_url, str) or not img_url.strip():
        raise Rejected(400, "InvalidParameter", "img_url: an image URL or data URI is required")
    url = img_url.strip()
    limit = (spec.image_max_mb or 20) * 1024 * 1024
    data = read_input(
        url, field="img_url", what="image", limit=limit, uploads=uploads, oss_resolve=oss_resolve
    )
    if data is not None:
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
