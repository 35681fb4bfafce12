"""What an input image must be: the rules (catalogue data) and the pure checks, shared by the
client, which refuses a bad image before anything is sent, and the emulator, which answers it as
the service does. No I/O here: callers open the image (Pillow) and pass what they read.

The rules come from the catalogue's ``[image]`` table (formats, sides, PNG alpha) and each
model's ``image_max_mb``. The vendor writes "10 MB" / "20 MB" without saying which megabyte; we
read it as MiB (the larger, so a file the service takes is never refused here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from wanbook._spec.catalogue import ModelSpec, catalogue

__all__ = [
    "MB",
    "ImageProblem",
    "ImageRules",
    "has_alpha",
    "image_problems",
    "image_rules",
    "norm_format",
]

MB = 1024 * 1024
DEFAULT_MAX_MB = 10  # a model row without image_max_mb: the smaller of the vendor's two limits

# Pillow reports some camera JPEGs (with an embedded preview) as MPO; on the wire they are JPEGs.
_FORMAT_ALIASES = {"JPG": "JPEG", "MPO": "JPEG"}
# Modes with an alpha channel (RGBa/La: premultiplied). A palette or grey PNG with a tRNS entry
# is transparent too: it is refused alike, since the service refuses "PNG with alpha".
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})

ProblemKind = Literal["bytes", "format", "side", "alpha"]


@dataclass(frozen=True)
class ImageRules:
    """The limits an input image must keep."""

    max_mb: float
    min_side: int
    max_side: int
    formats: tuple[str, ...]
    png_alpha: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", tuple(norm_format(f) for f in self.formats))

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * MB)


@dataclass(frozen=True)
class ImageProblem:
    """One broken rule, in words that name the value found and the limit."""

    kind: ProblemKind
    message: str


def image_rules(spec: ModelSpec | None = None) -> ImageRules:
    """The rules for ``spec``'s input images (the catalogue's defaults without a model)."""
    table = catalogue().image
    max_mb = (spec.image_max_mb if spec is not None else None) or DEFAULT_MAX_MB
    return ImageRules(
        max_mb=float(max_mb),
        min_side=int(table["min_side"]),
        max_side=int(table["max_side"]),
        formats=tuple(table["formats"]),
        png_alpha=bool(table["png_alpha"]),
    )


def norm_format(name: str) -> str:
    """A Pillow format name as the rules name it (``MPO`` and ``JPG`` are JPEG)."""
    name = name.upper()
    return _FORMAT_ALIASES.get(name, name)


def has_alpha(mode: str, info: Mapping[Any, Any]) -> bool:
    """Whether an image of Pillow ``mode`` with ``info`` has an alpha channel or transparency."""
    return mode in _ALPHA_MODES or "transparency" in info


def size_text(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB // 10 else f"{n} bytes"


def image_problems(
    rules: ImageRules,
    *,
    nbytes: int,
    fmt: str | None = None,
    width: int | None = None,
    height: int | None = None,
    mode: str | None = None,
    alpha: bool = False,
) -> list[ImageProblem]:
    """Every rule the image breaks (empty if none). ``fmt``, the sides and ``alpha`` are left out
    when the image could not be read; ``mode`` only names the alpha mode in the message."""
    problems: list[ImageProblem] = []
    if nbytes > rules.max_bytes:
        problems.append(
            ImageProblem(
                "bytes",
                f"file size {size_text(nbytes)} ({nbytes} bytes) is over the {rules.max_mb:g} MB "
                "limit",
            )
        )
    if fmt is None:
        return problems
    fmt = norm_format(fmt)
    if fmt not in rules.formats:
        allowed = ", ".join(rules.formats)
        problems.append(ImageProblem("format", f"format {fmt} is not accepted; allowed: {allowed}"))
    for side, value in (("width", width), ("height", height)):
        if value is None:
            continue
        if value < rules.min_side:
            problems.append(
                ImageProblem("side", f"{side} {value} px is below the minimum {rules.min_side} px")
            )
        elif value > rules.max_side:
            problems.append(
                ImageProblem("side", f"{side} {value} px is above the maximum {rules.max_side} px")
            )
    if fmt == "PNG" and alpha and not rules.png_alpha:
        what = (
            f"an alpha channel ({mode})" if mode in _ALPHA_MODES else "a transparency (tRNS) entry"
        )
        if mode is not None and mode not in _ALPHA_MODES:
            what += f" (mode {mode})"
        problems.append(
            ImageProblem(
                "alpha",
                f"PNG has {what}; the Wan models accept PNG without alpha — convert with "
                'img.convert("RGB")',
            )
        )
    return problems
