"""The form's image input: an upload (with a thumbnail) or a URL, checked at once.

The image is checked against the chosen model's limits (format, sides, file size) the moment it
is given and again when the model changes — not at Generate — with the same function the session
uses before sending (``_media.images.prepare_image``). A URL is passed through unfetched, as the
session does: only its form is checked here.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from wanbook._errors import MediaError
from wanbook._notebook.html import esc
from wanbook._spec.images import ImageRules

__all__ = ["ImageInput"]


class ImageInput:
    """Upload or URL. ``value`` is the image to send (bytes or a URL string), ``problem`` what
    breaks the model's limits (None if nothing does)."""

    def __init__(
        self,
        *,
        layout: Any,
        wide: Any,
        html: Callable[[], Any],
        style: dict[str, str],
        on_change: Callable[[], None],
    ) -> None:
        import ipywidgets as w

        self.upload = w.FileUpload(
            layout=layout, accept="image/*", multiple=False, description="Upload image"
        )
        self.url = w.Text(description="or image URL", style=style, layout=wide)
        self.thumbnail = w.Image(format="png", layout={"max_width": "160px", "display": "none"})
        self.info = html()
        self.value: bytes | str | None = None
        self.name: str | None = None  # an uploaded file's name, for its errors
        self.problem: str | None = None
        self._rules: ImageRules | None = None
        self._busy = False
        self._on_change = on_change
        self.upload.observe(lambda _: self._on_upload(), "value")
        self.url.observe(lambda _: self._on_url(), "value")

    @property
    def widgets(self) -> list[Any]:
        return [self.upload, self.url, self.thumbnail, self.info]

    def _on_upload(self) -> None:
        files = self.upload.value
        if not files:
            return
        entry = files[0]
        data = bytes(entry["content"])
        self.value = data
        self.name = entry.get("name") or None
        self.thumbnail.value = thumbnail(data)
        self.thumbnail.layout.display = "" if self.thumbnail.value else "none"
        self.info.value = esc(f"{entry.get('name', 'image')} · {len(data) / 1024:.0f} KB")
        if self.url.value:
            self._busy = True
            try:
                self.url.value = ""  # the upload replaces a URL given before
            finally:
                self._busy = False
        self.check(self._rules)
        self._on_change()

    def _on_url(self) -> None:
        if self._busy:
            return
        self.value = self.url.value.strip() or None
        self.name = None
        self.thumbnail.layout.display = "none"
        self.info.value = ""
        self.check(self._rules)
        self._on_change()

    def check(self, rules: ImageRules | None) -> None:
        """Check the image against a model's rules (None: the model takes no image)."""
        self._rules = rules
        self.problem = None
        if self.value is None or rules is None:
            return
        from wanbook._media.images import prepare_image

        try:
            prepare_image(self.value, rules, name=self.name)
        except MediaError as exc:
            self.problem = str(exc)


def thumbnail(data: bytes, side: int = 160) -> bytes:
    """A small PNG of an uploaded image, or b"" if it is not one Pillow can read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((side, side))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="PNG")
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError):
        return b""
