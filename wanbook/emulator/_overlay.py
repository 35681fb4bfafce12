"""What is drawn over the picture: the prompt caption (t2v), the "AI Generated" watermark, and
the level meter of custom audio.

The texts are drawn once per video with Pillow's default font, converted to YUV, and then only
blitted (watermark) or blended (caption) per frame; the meter is two small rectangle fills.
"""

from __future__ import annotations

from typing import Any

from wanbook.emulator._yuv import Planes, Sprite, rgb_to_yuv

__all__ = ["WATERMARK_TEXT", "Caption", "LevelBar", "font", "watermark_sprite", "wrap"]

WATERMARK_TEXT = "AI Generated"


def font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _text_mark(text: str, size: int) -> Sprite:
    """White text with a dark shadow, as a masked sprite (the watermark)."""
    import numpy as np
    from PIL import Image, ImageDraw

    face = font(size)
    left, top, right, bottom = face.getbbox(text)
    off = max(1, size // 12)
    w = (right - left + off + 4 + 1) & ~1
    h = (bottom - top + off + 4 + 1) & ~1
    shadow = Image.new("L", (w, h), 0)
    ImageDraw.Draw(shadow).text((2 - left + off, 2 - top + off), text, font=face, fill=255)
    front = Image.new("L", (w, h), 0)
    ImageDraw.Draw(front).text((2 - left, 2 - top), text, font=face, fill=255)
    s, f = np.asarray(shadow) > 96, np.asarray(front) > 96
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[f] = 240
    rgb[s & ~f] = 20
    return Sprite(rgb, s | f)


def watermark_sprite(width: int, height: int) -> tuple[Sprite, int, int]:
    mark = _text_mark(WATERMARK_TEXT, max(12, height // 26))
    margin = max(8, height // 40)
    return mark, width - mark.w - margin, height - mark.h - margin


class LevelBar:
    """A horizontal level meter bottom left: a dark track, filled from the left by loudness.

    Coordinates and sizes are even, so the chroma planes line up with the luma exactly.
    ``box`` is ``(x, y, width, height)`` of the track in pixels (tests read the meter there).
    """

    TRACK = (24, 24, 28)
    FILL = (255, 200, 64)  # amber: stands out on skies, grass and snow alike

    def __init__(self, width: int, height: int) -> None:
        margin = max(8, height // 40) & ~1
        self.w = max(16, width // 4) & ~1
        self.h = max(4, height // 45) & ~1
        self.x, self.y = margin, (height - margin - self.h) & ~1
        self.track = self._yuv(self.TRACK)
        self.fill = self._yuv(self.FILL)

    @staticmethod
    def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
        import numpy as np

        y, u, v = rgb_to_yuv(np.array([[rgb] * 2] * 2, np.uint8))
        return int(y[0, 0]), int(u[0, 0]), int(v[0, 0])

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h

    def draw(self, p: Planes, level: float) -> None:
        filled = int(round(max(0.0, min(1.0, level)) * self.w)) & ~1
        x, y, h = self.x, self.y, self.h
        for (x0, x1), colour in (((x, x + self.w), self.track), ((x, x + filled), self.fill)):
            if x1 <= x0:
                continue
            p.y[y : y + h, x0:x1] = colour[0]
            p.u[y // 2 : (y + h) // 2, x0 // 2 : x1 // 2] = colour[1]
            p.v[y // 2 : (y + h) // 2, x0 // 2 : x1 // 2] = colour[2]


class Caption:
    """The prompt in a translucent box, blended as ``dst // 4 + 3/4 · caption`` per frame."""

    def __init__(self, text: str, width: int, height: int) -> None:
        import numpy as np
        from PIL import Image, ImageDraw

        size = max(12, height // 26)
        face = font(size)
        pad = size // 2
        lines = wrap(text, face, int(width * 0.9) - 2 * pad, max_lines=3)
        line_h = int(size * 1.3)
        w = min(width - 2 * pad, max(int(face.getlength(line)) for line in lines) + 2 * pad)
        w = (w + 1) & ~1
        h = (len(lines) * line_h + 2 * pad + 1) & ~1
        img = Image.new("RGB", (w, h), (12, 12, 16))
        draw = ImageDraw.Draw(img)
        for k, line in enumerate(lines):
            draw.text((pad, pad + k * line_h), line, font=face, fill=(250, 250, 250))
        y, u, v = rgb_to_yuv(np.asarray(img))
        self.y = (y.astype(np.uint16) * 3 // 4).astype(np.uint8)
        self.u = (96 + (u.astype(np.int16) - 128) * 3 // 4).astype(np.uint8)
        self.v = (96 + (v.astype(np.int16) - 128) * 3 // 4).astype(np.uint8)
        self.h, self.w = h, w
        self.x = ((width - w) // 2) & ~1
        self.top = max(2, height // 30) & ~1

    def blend(self, p: Planes) -> None:
        import numpy as np

        x, y, h, w = self.x, self.top, self.h, self.w
        for plane, patch, (py, px, ph, pw) in (
            (p.y, self.y, (y, x, h, w)),
            (p.u, self.u, (y // 2, x // 2, h // 2, w // 2)),
            (p.v, self.v, (y // 2, x // 2, h // 2, w // 2)),
        ):
            region = plane[py : py + ph, px : px + pw]
            np.right_shift(region, 2, out=region)
            region += patch


def wrap(text: str, face: Any, max_width: int, max_lines: int) -> list[str]:
    """Greedy word wrap by measured width; the last line ends with an ellipsis if text remains."""
    words = text.split() or [""]
    lines: list[str] = []
    current = ""
    for i, word in enumerate(words):
        trial = f"{current} {word}".strip()
        if face.getlength(trial) <= max_width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines:
            current = ""
            rest = " ".join(words[i:])
            if rest:
                last = lines[-1]
                while last and face.getlength(last + " …") > max_width:
                    last = last[:-1]
                lines[-1] = last.rstrip() + " …"
            break
    if current:
        lines.append(current)
    return [_fit(line, face, max_width) for line in lines]


def _fit(line: str, face: Any, max_width: int) -> str:
    if face.getlength(line) <= max_width:
        return line
    while line and face.getlength(line + "…") > max_width:
        line = line[:-1]
    return line + "…"
