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


class FadeScene:
    """``base`` (a scene starting from the first frame), dissolving into ``last_rgb``.

    The blend is one pass over the whole yuv420p buffer in preallocated 16-bit scratch (the
    target is kept premultiplied-ready as 16 bits), so a frame of the fade costs a few
    vectorised operations and no allocation."""

    def __init__(self, base: Any, last_rgb: Any, n_frames: int, start: int = 0) -> None:
        import numpy as np

        self.base, self.n, self.start = base, max(1, n_frames), start
        y, u, v = rgb_to_yuv(last_rgb)
        self.target = np.concatenate([y.ravel(), u.ravel(), v.ravel()])
        self.target16 = self.target.astype(np.uint16)
        self.mix = np.empty_like(self.target16)
        self.part = np.empty_like(self.target16)

    def weight(self, i: int) -> float:
        span = self.n - self.start
        s = (i - self.start) / (span - 1) if span > 1 else 1.0
        w = (s - FADE_FROM) / (FADE_TO - FADE_FROM)
        w = min(1.0, max(0.0, w))
        return w * w * (3 - 2 * w)  # ease in and out

    def frame(self, i: int, planes: Planes) -> Any:
        import numpy as np

        k = int(round(self.weight(i) * 256))
        if k >= 256:  # the end: exactly the last frame
            planes.buf[:] = self.target
            return planes.array()
        self.base.frame(i, planes)
        if k > 0:
            np.multiply(planes.buf, 256 - k, out=self.mix, dtype=np.uint16)
            np.multiply(self.target16, k, out=self.part)
            self.mix += self.part
            self.mix >>= 8
            planes.buf[:] = self.mix
        return planes.array()


class ClipScene:
    """The clip's own frames for its length, then ``then(last_rgb)``'s frames (a continuation).

    ``frames`` yields the clip's yuv420p arrays at the output size and rate
    (``_clips.clip_planes``); ``then`` builds the scene that continues from the clip's final
    frame (as RGB), indexed from the clip's end.
    """

    def __init__(self, frames: Iterator[Any], clip_frames: int, then: Any) -> None:
        self.frames, self.n_clip, self.then = frames, clip_frames, then
        self.rest: Any = None
        self.last: Any = None
        self.offset = 0

    def frame(self, i: int, planes: Planes) -> Any:
        if i < self.n_clip:
            yuv = next(self.frames, None)
            if yuv is not None:
                self.last = yuv
                planes.array()[:] = yuv
                return planes.array()
        if self.rest is None:
            import av

            rgb = av.VideoFrame.from_ndarray(self.last, format="yuv420p").to_ndarray(format="rgb24")
            self.rest, self.offset = self.then(rgb), i
        return self.rest.frame(i - self.offset, planes)


class EditScene:
    """The input video frame by frame with a seeded colour grade: the stand-in for an edit.

    ``frames`` yields yuv420p arrays of the output's size (``_clips.clip_planes``); the grade is
    a lookup on the chroma planes, so a frame costs a copy and two table lookups."""

    def __init__(
        self, frames: Iterator[Any], prompt: str, seed: int, extras: Sequence[Any]
    ) -> None:
        import numpy as np

        rng = random.Random(hashlib.sha256(f"edit:{seed}:{prompt}".encode()).digest())
        self.frames = frames
        levels = np.arange(256, dtype=np.int16)
        self.grade = [
            np.clip(levels + rng.randrange(-40, 41), 16, 240).astype(np.uint8) for _ in range(2)
        ]
        self.extras = extras  # drawn on top (thumbnails, watermark), each with .draw(planes)
        self.last: Any = None

    def frame(self, i: int, planes: Planes) -> Any:
        import numpy as np

        yuv = next(self.frames, None)
        if yuv is None:
            yuv = self.last
        self.last = yuv
        planes.array()[:] = yuv
        for plane, table in zip((planes.u, planes.v), self.grade, strict=True):
            np.take(table, plane, out=plane)
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
