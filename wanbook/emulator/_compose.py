"""Pictures made from input media (docs/dashscope-wan27.md §5-§8), built on the scenes of ``_scene``.

What a person can check in the result:

- :class:`FadeScene` (first+last frame): the first frame's scene, dissolving into the last frame
  over the middle of the video, so it starts like the first image and ends exactly like the last.
- :class:`ClipScene` (continuation): the input clip's own frames first, then the continuation:
  an image-to-video scene starting from the clip's final frame (fading to a last frame if given).
- :class:`EditScene` (video editing): the input video frame by frame, with a seeded colour grade
  (the "edit") and the reference images along the top.
- :class:`Thumbnails` (reference-to-video, edit references): the references drawn small along
  the top of any scene, so a video shows what it was given.

Each ``frame(i, planes)`` draws into a yuv420p :class:`~wanbook.emulator._yuv.Planes` and returns
its array, like the scenes it builds on; frames are asked for in order. numpy is imported inside.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from typing import Any

from wanbook.emulator._yuv import Planes, Sprite, rgb_to_yuv

__all__ = ["ClipScene", "EditScene", "FadeScene", "Thumbnails", "WithExtras"]

FADE_FROM, FADE_TO = 0.25, 0.9  # share of the video over which the last frame fades in


def _blend(planes: Planes, target: tuple[Any, Any, Any], weight: float) -> None:
    """Mix ``target`` (Y, U, V) into ``planes`` with ``weight`` in [0, 1], in place."""
    import numpy as np

    k = int(round(weight * 256))
    if k <= 0:
        return
    for plane, goal in zip((planes.y, planes.u, planes.v), target, strict=True):
        if k >= 256:
            plane[:] = goal
            continue
        mixed = plane.astype(np.uint16) * (256 - k)
        mixed += goal.astype(np.uint16) * k
        mixed >>= 8
        plane[:] = mixed


class FadeScene:
    """``base`` (a scene starting from the first frame), dissolving into ``last_rgb``."""

    def __init__(self, base: Any, last_rgb: Any, n_frames: int, start: int = 0) -> None:
        self.base, self.n, self.start = base, max(1, n_frames), start
        self.target = rgb_to_yuv(last_rgb)

    def weight(self, i: int) -> float:
        span = self.n - self.start
        s = (i - self.start) / (span - 1) if span > 1 else 1.0
        w = (s - FADE_FROM) / (FADE_TO - FADE_FROM)
        w = min(1.0, max(0.0, w))
        return w * w * (3 - 2 * w)  # ease in and out

    def frame(self, i: int, planes: Planes) -> Any:
        self.base.frame(i, planes)
        _blend(planes, self.target, self.weight(i))
        return planes.array()


class ClipScene:
    """The clip's own frames for its length, then ``then(last_rgb)``'s frames (a continuation).

    ``frames`` yields the clip's RGB frames at the output size and rate; ``then`` builds the
    scene that continues from the clip's final frame, indexed from the clip's end.
    """

    def __init__(self, frames: Iterator[Any], clip_frames: int, then: Any) -> None:
        self.frames, self.n_clip, self.then = frames, clip_frames, then
        self.rest: Any = None
        self.last: Any = None

    def frame(self, i: int, planes: Planes) -> Any:
        if i < self.n_clip:
            rgb = next(self.frames, None)
            if rgb is not None:
                self.last = rgb
                y, u, v = rgb_to_yuv(rgb)
                planes.y[:], planes.u[:], planes.v[:] = y, u, v
                return planes.array()
        if self.rest is None:
            self.rest = self.then(self.last)
            self.offset = i
        return self.rest.frame(i - self.offset, planes)


class EditScene:
    """The input video frame by frame with a seeded colour grade: the stand-in for an edit."""

    def __init__(
        self, frames: Iterator[Any], prompt: str, seed: int, extras: Sequence[Any]
    ) -> None:
        rng = random.Random(hashlib.sha256(f"edit:{seed}:{prompt}".encode()).digest())
        self.frames = frames
        self.shift_u, self.shift_v = rng.randrange(-40, 41), rng.randrange(-40, 41)
        self.extras = extras  # drawn on top (thumbnails, watermark), each with .draw(planes)
        self.last: Any = None

    def frame(self, i: int, planes: Planes) -> Any:
        import numpy as np

        rgb = next(self.frames, None)
        if rgb is None:
            rgb = self.last
        self.last = rgb
        y, u, v = rgb_to_yuv(rgb)
        planes.y[:] = y
        for plane, src, shift in ((planes.u, u, self.shift_u), (planes.v, v, self.shift_v)):
            graded = src.astype(np.int16) + shift
            np.clip(graded, 16, 240, out=graded)
            plane[:] = graded
        for extra in self.extras:
            extra.draw(planes)
        return planes.array()


class Thumbnails:
    """The references (RGB arrays) drawn small, side by side along the top edge."""

    def __init__(self, images: Sequence[Any], width: int, height: int) -> None:
        import numpy as np
        from PIL import Image

        self.sprites: list[tuple[Sprite, int, int]] = []
        if not images:
            return
        side = (max(32, min(width // (len(images) + 1), height // 4))) & ~1
        gap = max(4, side // 8) & ~1
        x = gap
        for rgb in images:
            img = Image.fromarray(rgb).convert("RGB").resize((side, side))
            framed = np.asarray(img, dtype=np.uint8).copy()
            framed[:2], framed[-2:], framed[:, :2], framed[:, -2:] = 255, 255, 255, 255
            mask = np.ones((side, side), bool)
            if x + side <= width:
                self.sprites.append((Sprite(framed, mask), x, gap))
            x += side + gap

    def draw(self, planes: Planes) -> None:
        for sprite, x, y in self.sprites:
            sprite.blit(planes, x, y)


class WithExtras:
    """Any scene with overlays drawn on top of each frame."""

    def __init__(self, base: Any, extras: Sequence[Any]) -> None:
        self.base, self.extras = base, extras

    def frame(self, i: int, planes: Planes) -> Any:
        self.base.frame(i, planes)
        for extra in self.extras:
            extra.draw(planes)
        return planes.array()
