"""The form's slots for the newer models' media (docs/dashscope-wan27.md §5-§8): a last frame, a clip to
continue, a driving audio, a video to edit, reference images and videos.

Each slot is an upload (with a thumbnail for pictures) or URL(s), checked the moment it is given
with the functions the session uses before sending: ``_media.images.prepare_image`` for images,
``_media.inputs.prepare_local`` (PyAV probe: container, length, sides) for audio and video. A URL
is passed through unfetched. A local clip's length is kept (``lengths``) so the estimate can
include billed input (an edit's input, a reference video's capped seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wanbook._engine.media_inputs import media_limits
from wanbook._errors import MediaError
from wanbook._notebook.form.image_input import thumbnail
from wanbook._notebook.html import esc
from wanbook._spec.catalogue import catalogue
from wanbook._spec.images import ImageRules, image_rules
from wanbook._spec.media import MEDIA_FIELDS, file_kind

__all__ = ["SLOT_LABELS", "MediaInput"]

SLOT_LABELS = {
    "last_frame": "Last frame",
    "first_clip": "Clip to continue",
    "driving_audio": "Driving audio",
    "video": "Video to edit",
    "reference_images": "Reference images",
    "reference_videos": "Reference videos",
}
_ACCEPT = {"image": "image/*", "audio": ".wav,.mp3,audio/*", "video": ".mp4,.mov,video/*"}


class MediaInput:
    """One media slot. ``value`` is what to send (bytes or a URL; a list for the reference
    slots), ``problem`` what breaks a limit, ``lengths`` the seconds of each local clip."""

    def __init__(
        self,
        name: str,
        *,
        layout: Any,
        wide: Any,
        html: Callable[[], Any],
        style: dict[str, str],
        on_change: Callable[[], None],
    ) -> None:
        import ipywidgets as w

        self.name = name
        self.media_type = MEDIA_FIELDS[name]
        self.kind = file_kind(catalogue(), self.media_type)
        self.many = name.startswith("reference_")
        label = SLOT_LABELS[name]
        self.upload = w.FileUpload(
            layout=layout,
            accept=_ACCEPT[self.kind],
            multiple=self.many,
            description=f"Upload {label.lower()}",
        )
        if self.many:
            self.url = w.Textarea(
                description="or URLs", placeholder="one URL per line", style=style, layout=wide
            )
        else:
            self.url = w.Text(description="or URL", style=style, layout=wide)
        self.thumbnails = w.HBox(layout=layout)
        self.info = html()
        self.title = html()
        self.title.value = f"<b>{esc(label)}</b>"
        self.value: Any = None
        self.problem: str | None = None
        self.lengths: dict[str, float] = {}
        self._files: list[tuple[str, bytes]] = []
        self._rules: ImageRules | None = None
        self._on_change = on_change
        self.upload.observe(lambda _: self._changed(), "value")
        self.url.observe(lambda _: self._changed(), "value")

    @property
    def widgets(self) -> list[Any]:
        return [self.title, self.upload, self.url, self.thumbnails, self.info]

    def _changed(self) -> None:
        self._files = [(f.get("name", "file"), bytes(f["content"])) for f in self.upload.value]
        urls = [u.strip() for u in str(self.url.value or "").splitlines() if u.strip()]
        items: list[Any] = [data for _, data in self._files] + urls
        if self.many:
            self.value = items or None
        else:
            self.value = items[-1] if items else None  # an upload or the URL given last
        self.check(self._rules)
        self._on_change()

    def check(self, rules: ImageRules | None) -> None:
        """Check every local item against its limits now (images: the model's ``rules``)."""
        import ipywidgets as w

        from wanbook._media.images import prepare_image
        from wanbook._media.inputs import prepare_local

        self._rules = rules
        self.problem, self.lengths = None, {}
        pictures, notes = [], []
        for i, (name, data) in enumerate(self._files):
            field = f"{self.name}[{i}]" if self.many else self.name
            try:
                if self.kind == "image":
                    prepare_image(data, rules or image_rules(), field=field)
                    pictures.append(thumbnail(data, 96))
                    notes.append(f"{name} · {len(data) / 1024:.0f} KB")
                else:
                    local = prepare_local(data, field, media_limits(catalogue(), self.media_type))
                    self.lengths[field] = local.duration
                    notes.append(f"{name} · {local.duration:.1f} s · {len(data) / 1048576:.1f} MB")
                    if self.kind == "video":
                        pictures.append(_first_frame(data))
            except MediaError as exc:
                self.problem = str(exc)
        self.thumbnails.children = [
            w.Image(value=p, format="png", layout={"max_width": "96px"}) for p in pictures if p
        ]
        self.info.value = esc(" | ".join(notes))


def _first_frame(data: bytes) -> bytes:
    """A small PNG of a video's first frame, or b"" if it cannot be decoded."""
    import io

    import av

    try:
        with av.open(io.BytesIO(data), "r") as container:
            frame = next(container.decode(video=0))
            out = io.BytesIO()
            img = frame.to_image()
            img.thumbnail((96, 96))
            img.save(out, format="PNG")
            return out.getvalue()
    except (av.FFmpegError, OSError, ValueError, StopIteration):
        return b""
