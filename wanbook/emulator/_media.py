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

from wanbook._spec.catalogue import ModelSpec
from wanbook._spec.images import has_alpha, image_problems, image_rules
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


# The service answers the first rule an image breaks; these are its status and code per rule.
_ANSWER = {
    "bytes": (400, "InvalidParameter"),
    "format": (400, "InvalidParameter"),
    "side": (400, "InvalidParameter"),
    "alpha": (400, "InvalidParameter"),
}


def _check_bytes(data: bytes, spec: ModelSpec, field: str = "img_url") -> ImageSource:
    """The service's check of an input image: the client's rules (``wanbook._spec.images``), but
    answered as the service answers — one error for the first rule broken."""
    from PIL import Image, UnidentifiedImageError

    rules = image_rules(spec)
    too_big = image_problems(rules, nbytes=len(data))
    if too_big:
        raise Rejected(*_ANSWER["bytes"], f"{field}: {spec.name}: {too_big[0].message}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # sides checked below
            with Image.open(io.BytesIO(data)) as img:
                fmt, (w, h), mode, info = img.format, img.size, img.mode, img.info
    except Image.DecompressionBombError:
        raise Rejected(
            400, "InvalidParameter", f"{field}: the image is far larger than 8000x8000 px"
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise Rejected(
            415,
            "BadRequest.UnsupportedFileFormat",
            f"{field}: the data is not a readable image ({', '.join(rules.formats)})",
        ) from exc
    problems = image_problems(
        rules,
        nbytes=len(data),
        fmt=fmt or "unknown",
        width=w,
        height=h,
        mode=mode,
        alpha=has_alpha(mode, info),
    )
    if problems:
        raise Rejected(*_ANSWER[problems[0].kind], f"{field}: {problems[0].message}")
    return ImageSource(data=data, ref=hashlib.sha256(data).hexdigest(), width=w, height=h)


def resolve_image(
    img_url: Any,
    spec: ModelSpec,
    uploads: Mapping[str, bytes],
    oss_resolve: bool,
    field: str = "img_url",
) -> ImageSource:
    """Check the image at ``img_url`` as the service would at create time; raise
    :class:`Rejected` naming ``field`` (``img_url``, ``input.media[0]``, ...)."""
    if not isinstance(img_url, str) or not img_url.strip():
        raise Rejected(400, "InvalidParameter", f"{field}: an image URL or data URI is required")
    url = img_url.strip()
    limit = image_rules(spec).max_bytes
    data = read_input(
        url, field=field, what="image", limit=limit, uploads=uploads, oss_resolve=oss_resolve
    )
    if data is not None:
        return _check_bytes(data, spec, field)
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
