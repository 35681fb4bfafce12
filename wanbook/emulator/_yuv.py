"""YUV 4:2:0 building blocks for frame synthesis: colour conversion, a frame buffer, sprites.

numpy is imported on first use, never at import.
"""

from __future__ import annotations

import colorsys
from typing import Any

__all__ = ["Planes", "Sprite", "hsv", "rgb_to_yuv"]


def rgb_to_yuv(rgb: Any) -> tuple[Any, Any, Any]:
    """BT.601 limited-range Y, U, V planes of an even-sized RGB image (chroma 2×2-averaged).

    Written as in-place float32 steps on contiguous channel copies (an i2v render converts a
    full-size frame once per video); the arithmetic, and so every output value, is the same as
    the plain ``16 + 0.257 * r + ...`` and ``mean`` over 2×2 blocks it replaces.
    """
    import numpy as np

    r, g, b = (rgb[..., k].astype(np.float32) for k in range(3))
    t = np.empty_like(r)
    y = r * 0.257
    y += 16
    y += np.multiply(g, 0.504, out=t)
    y += np.multiply(b, 0.098, out=t)
    u = np.subtract(128, np.multiply(r, 0.148), dtype=np.float32)
    u -= np.multiply(g, 0.291, out=t)
    u += np.multiply(b, 0.439, out=t)
    v = r * 0.439
    v += 128
    v -= np.multiply(g, 0.368, out=t)
    v -= np.multiply(b, 0.071, out=t)

    def sub(c: Any) -> Any:  # the 2×2 mean, summed in the order numpy's mean(axis=(1, 3)) uses
        pairs = c[:, 0::2] + c[:, 1::2]
        out = pairs[0::2] + pairs[1::2]
        out /= 4
        return out

    def u8(c: Any) -> Any:
        np.rint(c, out=c)
        np.clip(c, 0, 255, out=c)
        return c.astype(np.uint8)

    return u8(y), u8(sub(u)), u8(sub(v))


def hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return round(r * 255), round(g * 255), round(b * 255)


class Planes:
    """A reusable yuv420p frame buffer laid out as PyAV's ``from_ndarray`` expects."""

    def __init__(self, width: int, height: int) -> None:
        import numpy as np

        self.w, self.h = width, height
        n = width * height
        self.buf = np.empty(n * 3 // 2, dtype=np.uint8)
        self.y = self.buf[:n].reshape(height, width)
        self.u = self.buf[n : n + n // 4].reshape(height // 2, width // 2)
        self.v = self.buf[n + n // 4 :].reshape(height // 2, width // 2)

    def array(self) -> Any:
        return self.buf.reshape(self.h * 3 // 2, self.w)


class Sprite:
    """A patch in Y/U/V with its masks, placed at even coordinates."""

    def __init__(self, rgb: Any, mask: Any) -> None:
        self.y, self.u, self.v = rgb_to_yuv(rgb)
        self.mask = mask
        h, w = mask.shape
        self.cmask = mask.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
        self.h, self.w = h, w

    def blit(self, p: Planes, x: int, y: int) -> None:
        import numpy as np

        x, y = x & ~1, y & ~1
        np.copyto(p.y[y : y + self.h, x : x + self.w], self.y, where=self.mask)
        cy, cx, ch, cw = y // 2, x // 2, self.h // 2, self.w // 2
        np.copyto(p.u[cy : cy + ch, cx : cx + cw], self.u, where=self.cmask)
        np.copyto(p.v[cy : cy + ch, cx : cx + cw], self.v, where=self.cmask)
