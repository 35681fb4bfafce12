"""Frame synthesis: cheap, deterministic, watchable pictures, straight into YUV 4:2:0 planes.

Everything expensive is done once per video (layers are drawn and converted to YUV up front);
each frame is then a few slice copies and masked blits, vectorised with numpy. Heavy imports
(numpy, Pillow) happen inside the functions: importing this module costs nothing.

- :class:`TextScene` (text-to-video): a panned landscape whose palette follows the prompt's mood
  words and the seed, a few shapes drifting on slow Lissajous paths, the prompt as a caption.
- :class:`ImageScene` (image-to-video): frame 0 *is* the input image; the camera then zooms in
  slowly (up to 8 %) while drifting in a seeded direction.
Both add the "AI Generated" mark bottom right when asked. With custom audio they get one
loudness level per frame (``_audio.levels``) and follow it: a level meter bottom left, and the
t2v shapes hop / the i2v camera punches in as the sound gets loud. These cost no extra pass over
the frame (positions and the zoom change, and a small bar is filled).
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

from wanbook.emulator._overlay import Caption, LevelBar, watermark_sprite
from wanbook.emulator._yuv import Planes, Sprite, hsv, rgb_to_yuv

__all__ = ["ImageScene", "TextScene", "synthetic_image"]

# Mood words -> (hue, saturation, value) of the sky. First match in the prompt wins.
_MOODS: tuple[tuple[tuple[str, ...], tuple[float, float, float]], ...] = (
    (("night", "moon", "star", "dark", "midnight"), (0.64, 0.55, 0.28)),
    (("snow", "ice", "winter", "frost"), (0.56, 0.12, 0.92)),
    (("sunset", "fire", "lava", "dusk", "autumn"), (0.04, 0.75, 0.9)),
    (("sun", "beach", "desert", "summer"), (0.12, 0.55, 0.97)),
    (("forest", "grass", "jungle", "garden", "spring"), (0.33, 0.5, 0.7)),
    (("sea", "ocean", "water", "river", "rain", "lake"), (0.55, 0.6, 0.75)),
)
_BG_SCALE = 4  # the landscape is drawn at 1/4 size, then scaled up
HOP = 0.08  # t2v shapes rise by this share of the height at full loudness (custom audio)


def _mood(prompt: str, rng: random.Random) -> tuple[float, float, float]:
    low = prompt.lower()
    for words, mood in _MOODS:
        if any(w in low for w in words):
            return mood
    return (rng.random(), 0.35 + 0.3 * rng.random(), 0.6 + 0.35 * rng.random())


def _shape_mask(kind: int, size: int) -> Any:
    import numpy as np

    c = (np.arange(size) + 0.5) / size * 2 - 1
    x, y = np.meshgrid(c, c)
    if kind == 0:  # disc
        return x * x + y * y <= 1
    if kind == 1:  # diamond
        return np.abs(x) + np.abs(y) <= 1
    if kind == 2:  # triangle
        return (y >= -0.9) & (y <= 0.9) & (np.abs(x) <= (y + 0.9) / 1.8)
    return (np.abs(x) <= 0.85) & (np.abs(y) <= 0.85)  # square


def _landscape(bw: int, bh: int, hue: float, sat: float, val: float, rng: random.Random) -> Any:
    """Sky gradient, a glowing sun or moon and two rolling ridges, as full-size Y/U/V planes.

    The picture is smooth, so it is drawn at a quarter of the size and scaled up (the scaling
    also softens the ridge edges): the per-video set-up stays in the milliseconds at 1080P.
    """
    import numpy as np
    from PIL import Image

    lw, lh = max(2, -(-bw // _BG_SCALE)), max(2, -(-bh // _BG_SCALE))
    xs = np.arange(lw, dtype=np.float32)[None, :]
    ys = np.arange(lh, dtype=np.float32)[:, None]
    t = (ys / lh)[..., None]
    top = np.array(hsv(hue, sat, val * 0.75), np.float32)
    horizon = np.array(hsv(hue + 0.05, sat * 0.6, val), np.float32)
    img = top * (1 - t) + horizon * t
    sun_x, sun_y, sun_r = (
        lw * (0.2 + 0.6 * rng.random()),
        lh * (0.15 + 0.2 * rng.random()),
        lh * 0.09,
    )
    glow = np.clip(1.6 - np.sqrt((xs - sun_x) ** 2 + (ys - sun_y) ** 2) / sun_r, 0, 1)[..., None]
    sun = np.array(hsv(hue + 0.5 if val < 0.4 else 0.13, 0.25, 1.0), np.float32)
    img = img * (1 - glow) + sun * glow
    ground_hue = hue + 0.25 + 0.2 * rng.random()
    for layer in range(2):
        base = lh * (0.62 + 0.12 * layer)
        amp, period = lh * (0.06 - 0.02 * layer), lw / (1.2 + 1.5 * rng.random())
        ridge = base + amp * np.sin(2 * math.pi * xs / period + rng.random() * 6.28)
        col = np.array(
            hsv(ground_hue, 0.45 + 0.2 * layer, val * (0.55 - 0.15 * layer) + 0.1), np.float32
        )
        cover = np.clip(ys - ridge + 0.5, 0, 1)[..., None]  # anti-aliased edge
        img = img * (1 - cover) + col * cover
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    planes = (
        (16 + 0.257 * r + 0.504 * g + 0.098 * b, (bw, bh)),
        (128 - 0.148 * r - 0.291 * g + 0.439 * b, (bw // 2, bh // 2)),
        (128 + 0.439 * r - 0.368 * g - 0.071 * b, (bw // 2, bh // 2)),
    )
    out = []
    for plane, size in planes:
        small = Image.fromarray(np.clip(np.rint(plane), 0, 255).astype(np.uint8))
        out.append(np.asarray(small.resize(size, Image.Resampling.BILINEAR)))
    return tuple(out)


class TextScene:
    """The text-to-video picture for one (prompt, seed, variation)."""

    def __init__(
        self,
        width: int,
        height: int,
        prompt: str,
        seed: int,
        variation: int,
        watermark: bool,
        fps: int = 30,
        loudness: Any = None,
    ) -> None:
        import numpy as np

        self.w, self.h, self.fps = width, height, fps
        self.loudness = loudness
        self.meter = LevelBar(width, height) if loudness is not None else None
        self.hop = height * HOP
        rng = random.Random(hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest())
        hue, sat, val = _mood(prompt, rng)
        if variation:
            hue += (variation % 1000) / 1000 * 0.24 - 0.12  # the "rewrite" shifts the look
        self.margin = m = (max(16, width // 16)) & ~1
        self.bg = _landscape(width + 2 * m, height + 2 * m, hue, sat, val, rng)
        self.sprites: list[tuple[Sprite, tuple[float, ...]]] = []
        for k in range(3 + rng.randrange(3)):
            size = (int(min(width, height) * (0.08 + 0.1 * rng.random())) + 1) & ~1
            mask = _shape_mask(rng.randrange(4), size)
            col = hsv(hue + 0.35 + 0.3 * rng.random(), 0.7, 0.95)
            rgb = np.empty((size, size, 3), np.uint8)
            rgb[:] = col
            path = (
                (width - size) * (0.2 + 0.6 * rng.random()),  # centre x
                (height - size) * (0.35 + 0.4 * rng.random()),  # centre y
                (width - size) * 0.3 * rng.random(),  # amplitude x
                (height - size) * 0.2 * rng.random(),  # amplitude y
                0.04 + 0.12 * rng.random(),  # frequency x (Hz)
                0.05 + 0.15 * rng.random(),  # frequency y
                rng.random() * 6.28,
                rng.random() * 6.28 + k,
            )
            self.sprites.append((Sprite(rgb, mask), path))
        self.pan = (0.05 + 0.05 * rng.random(), rng.random() * 6.28, 0.07, rng.random() * 6.28)
        self.caption = Caption(prompt, width, height) if prompt.strip() else None
        self.mark = watermark_sprite(width, height) if watermark else None
        self.planes = Planes(width, height)

    def frame(self, i: int, planes: Planes | None = None) -> Any:
        """Frame ``i`` as a ``(H*3/2, W)`` yuv420p array, drawn into ``planes`` (default: one
        buffer reused on every call, so encode it before the next call)."""
        t = i / self.fps
        p, m = self.planes if planes is None else planes, self.margin
        fx, px, fy, py = self.pan
        ox = int(m * (1 + math.sin(2 * math.pi * fx * t + px))) & ~1
        oy = int(m * 0.5 * (1 + math.sin(2 * math.pi * fy * t + py))) & ~1
        by, bu, bv = self.bg
        p.y[:] = by[oy : oy + self.h, ox : ox + self.w]
        p.u[:] = bu[oy // 2 : oy // 2 + self.h // 2, ox // 2 : ox // 2 + self.w // 2]
        p.v[:] = bv[oy // 2 : oy // 2 + self.h // 2, ox // 2 : ox // 2 + self.w // 2]
        lift = self.hop * float(self.loudness[i]) if self.loudness is not None else 0.0
        for sprite, (cx, cy, ax, ay, fx2, fy2, phx, phy) in self.sprites:
            x = cx + ax * math.sin(2 * math.pi * fx2 * t + phx)
            y = cy + ay * math.sin(2 * math.pi * fy2 * t + phy) - lift
            sprite.blit(
                p, int(min(max(x, 0), self.w - sprite.w)), int(min(max(y, 0), self.h - sprite.h))
            )
        if self.caption is not None:
            self.caption.blend(p)
        if self.meter is not None:
            self.meter.draw(p, float(self.loudness[i]))
        if self.mark is not None:
            mark, mx, my = self.mark
            mark.blit(p, mx, my)
        return p.array()


class ImageScene:
    """The image-to-video picture: the input image, then a slow seeded zoom and drift."""

    ZOOM = 0.08
    PUNCH = 0.05  # extra zoom at full loudness (custom audio)

    def __init__(
        self,
        rgb: Any,
        seed: int,
        variation: int,
        watermark: bool,
        n_frames: int,
        fps: int = 30,
        loudness: Any = None,
    ) -> None:
        import numpy as np

        self.h, self.w = rgb.shape[:2]
        self.fps, self.n = fps, max(1, n_frames)
        self.loudness = loudness
        self.meter = LevelBar(self.w, self.h) if loudness is not None else None
        self.src = rgb_to_yuv(rgb)
        rng = random.Random(f"image:{seed}:{variation}")
        angle = rng.random() * 2 * math.pi
        self.drift = (math.cos(angle), math.sin(angle))
        self.mark = watermark_sprite(self.w, self.h) if watermark else None
        self.planes = Planes(self.w, self.h)
        self._ax = [
            np.arange(n, dtype=np.float32) for n in (self.w, self.h, self.w // 2, self.h // 2)
        ]
        # Scratch for the column step (luma size, chroma size): one thread draws the frames.
        self._rows = [np.empty_like(self.src[0]), np.empty_like(self.src[1])]

    def _indices(self, size: int, axis: Any, zoom: float, shift: float) -> Any:
        import numpy as np

        centre = size / 2 + shift
        idx = np.rint(centre + (axis + 0.5 - size / 2) / zoom - 0.5).astype(np.intp)
        return np.clip(idx, 0, size - 1, out=idx)

    def frame(self, i: int, planes: Planes | None = None) -> Any:
        """Frame ``i`` as a ``(H*3/2, W)`` yuv420p array, drawn into ``planes`` (default: one
        buffer reused on every call, so encode it before the next call).

        The zoom is a nearest-neighbour resample. The row indices only ever go up, so the
        per-pixel column gather runs over just the source rows the frame shows (fewer than its
        height when zoomed in), into preallocated scratch; picking the rows is then whole-row
        copies.
        """
        import numpy as np

        s = i / (self.n - 1) if self.n > 1 else 0.0
        s = s * s * (3 - 2 * s)  # ease in and out
        zoom = 1 + self.ZOOM * s
        if self.loudness is not None:
            zoom += self.PUNCH * float(self.loudness[i])
        room_x = self.w * (1 - 1 / zoom) / 2
        room_y = self.h * (1 - 1 / zoom) / 2
        sx, sy = self.drift[0] * room_x, self.drift[1] * room_y
        p = self.planes if planes is None else planes
        ax_w, ax_h, ax_cw, ax_ch = self._ax
        for plane, src, scratch, axw, axh, div in (
            (p.y, self.src[0], self._rows[0], ax_w, ax_h, 1),
            (p.u, self.src[1], self._rows[1], ax_cw, ax_ch, 2),
            (p.v, self.src[2], self._rows[1], ax_cw, ax_ch, 2),
        ):
            rows = self._indices(src.shape[0], axh, zoom, sy / div)
            cols = self._indices(src.shape[1], axw, zoom, sx / div)
            first, last = int(rows.min()), int(rows.max())
            part = scratch[: last - first + 1]
            np.take(src[first : last + 1], cols, axis=1, out=part)
            rows -= first
            np.take(part, rows, axis=0, out=plane)
        if self.meter is not None:
            self.meter.draw(p, float(self.loudness[i]))
        if self.mark is not None:
            mark, mx, my = self.mark
            mark.blit(p, mx, my)
        return p.array()


def synthetic_image(ref: str, width: int = 1280, height: int = 720) -> Any:
    """A deterministic 16:9 stand-in for an image URL the emulator will not fetch.

    A two-colour gradient with a soft wave and four discs. Built one channel at a time in
    place, and each disc only inside its bounding box: the same float64 arithmetic (so the same
    pixels) as the straightforward whole-image expression, in a third of the time.
    """
    import numpy as np

    rng = random.Random(hashlib.sha256(ref.encode()).digest())
    hue = rng.random()
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    a, b = hsv(hue, 0.5, 0.9), hsv(hue + 0.3, 0.6, 0.5)
    down, across = (1 - ys).astype(np.float64), (1 - 0.3 * xs).astype(np.float64)
    wave = (20 * np.sin(xs * 12 + ys * 7 + hue * 6)).astype(np.float64)
    img = np.empty((3, height, width))
    for k, channel in enumerate(img):
        np.multiply(a[k] * down, across, out=channel)
        channel += b[k] * ys.astype(np.float64)
        channel += wave
    for _ in range(4):
        cx, cy, r = (
            rng.random() * width,
            rng.random() * height,
            height * (0.1 + 0.15 * rng.random()),
        )
        y0, y1 = max(0, int(cy - r) - 1), min(height, int(cy + r) + 2)
        x0, x1 = max(0, int(cx - r) - 1), min(width, int(cx + r) + 2)
        yy, xx = np.ogrid[y0:y1, x0:x1]
        disc = ((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r
        colour = hsv(hue + rng.random() * 0.5, 0.7, 0.95)
        for k in range(3):
            img[k, y0:y1, x0:x1][disc] = colour[k]
    np.clip(img, 0, 255, out=img)
    out = np.empty((height, width, 3), np.uint8)
    for k in range(3):
        out[..., k] = img[k]  # float64 -> uint8 truncates, as astype does
    return out
