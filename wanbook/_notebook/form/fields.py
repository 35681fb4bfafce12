"""The form's request fields: one control per request field, following the chosen model.

A thin shell over ``_notebook.form.logic`` like the form itself: when the kind or the model changes, the
fields take the model's options (sizes, resolutions, effects, durations as a fixed value, a list or
a range) and show only the rows the model has (:func:`~wanbook._notebook.form.logic.controls_for`); every
field reads back into the plain ``values`` dict that ``form_to_request`` takes. Each row carries a
message box, filled by the form's checks.

Why apart from ``_notebook.form.widget``: these widgets describe *what* to generate and know nothing of the
session; :class:`~wanbook._notebook.form.widget.Form` adds what is done with them (checks, estimate, budget,
Generate, Cancel, the generations' panels) by overriding :meth:`Fields.refresh`, which every change
of a field calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wanbook._notebook.form.image_input import ImageInput
from wanbook._notebook.form.logic import (
    FIELDS,
    KINDS,
    MEDIA_SLOTS,
    MULTI_SHOT_NOTE,
    Controls,
    controls_for,
    default_choice,
    model_groups,
    model_summary,
)
from wanbook._notebook.form.media_input import MediaInput
from wanbook._notebook.html import esc
from wanbook._spec.catalogue import tier_of_size

__all__ = ["Fields"]

_LABEL = {"description_width": "120px"}
_SEED_MAX = 2147483647


class Fields:
    """The request's controls for ``region``'s models, each in a row with its message box
    (``rows``, ``_messages``). Child widgets are attributes, so code and tests can set
    ``.value`` without a browser."""

    def __init__(self, region: str) -> None:
        import ipywidgets as w

        self.region = region
        self.groups = model_groups(region)
        self._busy = False
        self._notes: dict[str, str] = {}

        # Widgets share their layout and style objects where they can: a saved notebook stores
        # every widget model, and ~100 identical layouts would be most of its size.
        one, wide = w.Layout(), w.Layout(width="560px")
        self._shared: tuple[Any, Any] = (one, None)  # (layout, HTML style once made)
        kinds = [(label, k) for k, label in KINDS.items() if self.groups[k]]
        self.kind = w.ToggleButtons(layout=one, options=kinds, description="Kind", style=_LABEL)
        self.model = w.Dropdown(description="Model", style=_LABEL, layout=wide)
        self.summary = self._html()
        self.image = ImageInput(
            layout=one, wide=wide, html=self._html, style=_LABEL, on_change=self.refresh
        )
        # the image's widgets, by name, for code and tests
        self.upload, self.image_url = self.image.upload, self.image.url
        self.thumbnail, self.image_info = self.image.thumbnail, self.image.info
        self.template = w.Dropdown(layout=one, description="Effect", style=_LABEL)
        self.prompt = w.Textarea(description="Prompt", style=_LABEL, layout=wide, rows=3)
        self.prompt_count = self._html()
        self.negative_prompt = w.Textarea(
            description="Negative prompt", style=_LABEL, layout=wide, rows=2
        )
        self.negative_count = self._html()
        self.size = w.Dropdown(description="Size", style=_LABEL, layout=wide)
        self.resolution = w.Dropdown(layout=one, description="Resolution", style=_LABEL)
        self.ratio = w.Dropdown(layout=one, description="Ratio", style=_LABEL)
        self.audio_setting = w.ToggleButtons(
            layout=one, options=["auto", "origin"], description="Sound of edit", style=_LABEL
        )
        # the newer models' media slots (last frame, clip, audio, video, references)
        self.media = {
            slot: MediaInput(
                slot, layout=one, wide=wide, html=self._html, style=_LABEL, on_change=self.refresh
            )
            for slot in MEDIA_SLOTS
        }
        self.duration_fixed = w.IntText(
            layout=one, description="Duration (s)", style=_LABEL, disabled=True
        )
        self.duration_choice = w.Dropdown(layout=one, description="Duration (s)", style=_LABEL)
        self.duration_range = w.IntSlider(layout=one, description="Duration (s)", style=_LABEL)
        self.audio = w.Checkbox(layout=one, value=True, description="Sound", style=_LABEL)
        self.audio_url = w.Text(description="Audio URL", style=_LABEL, layout=wide)
        self.shot_type = w.ToggleButtons(
            layout=one, options=["single", "multi"], description="Shots", style=_LABEL
        )
        self.prompt_extend = w.Checkbox(
            layout=one, value=True, description="Prompt rewriting", style=_LABEL
        )
        self.watermark = w.Checkbox(layout=one, value=False, description="Watermark", style=_LABEL)
        self.seed_mode = w.ToggleButtons(
            layout=one, options=["random", "fixed"], description="Seed", style=_LABEL
        )
        self.seed = w.BoundedIntText(value=0, min=0, max=_SEED_MAX, layout={"width": "140px"})

        self._messages: dict[str, w.HTML] = {name: self._html() for name in FIELDS}
        self.duration_box = w.HBox([self.duration_choice], layout=one)
        rows = {
            "image": self.image.widgets,
            "template": [self.template],
            "prompt": [w.HBox([self.prompt, self.prompt_count], layout=one)],
            "negative_prompt": [w.HBox([self.negative_prompt, self.negative_count], layout=one)],
            **{slot: self.media[slot].widgets for slot in MEDIA_SLOTS},
            "size": [self.size],
            "resolution": [self.resolution],
            "ratio": [self.ratio],
            "audio_setting": [self.audio_setting],
            "duration": [self.duration_box],
            "audio": [self.audio],
            "audio_url": [self.audio_url],
            "shot_type": [self.shot_type],
            "prompt_extend": [self.prompt_extend],
            "watermark": [self.watermark],
            "seed": [w.HBox([self.seed_mode, self.seed], layout=one)],
        }
        self.rows = {name: w.VBox([*ws, self._messages[name]]) for name, ws in rows.items()}

        self.kind.observe(lambda _: self._on_kind(), "value")
        self.model.observe(lambda _: self._on_model(), "value")
        self.shot_type.observe(lambda _: self._on_shot_type(), "value")
        for widget in (
            self.template,
            self.prompt,
            self.negative_prompt,
            self.size,
            self.resolution,
            self.ratio,
            self.audio_setting,
            self.duration_choice,
            self.duration_range,
            self.audio,
            self.audio_url,
            self.prompt_extend,
            self.watermark,
            self.seed_mode,
            self.seed,
        ):
            widget.observe(lambda _: self.refresh(), "value")

    def _html(self) -> Any:
        """An HTML widget with the shared layout and style."""
        import ipywidgets as w

        layout, style = self._shared
        if style is None:  # ipywidgets does not export HTMLStyle: share the first one made
            widget = w.HTML(layout=layout)
            self._shared = (layout, widget.style)
            return widget
        return w.HTML(layout=layout, style=style)

    def refresh(self) -> None:
        """Called after every change of a field; the form checks and prices the request here."""

    # ------------------------------------------------------------------ reading the fields
    @property
    def duration(self) -> Any:
        """The duration control the current model uses (fixed, a list, or a range)."""
        return self.duration_box.children[0]

    @property
    def controls(self) -> Controls:
        return controls_for(self.model.value, self.kind.value)

    def shown(self) -> frozenset[str]:
        """Names of the controls shown for the current model."""
        return frozenset(n for n, row in self.rows.items() if row.layout.display != "none")

    def values(self) -> dict[str, Any]:
        """The form as plain data: what ``form_to_request`` reads."""
        return {
            "kind": self.kind.value,
            "model": self.model.value,
            "prompt": self.prompt.value,
            "negative_prompt": self.negative_prompt.value,
            "image": self.image.value,
            "template": self.template.value,
            "size": self.size.value,
            "resolution": self.resolution.value,
            "ratio": self.ratio.value,
            "audio_setting": self.audio_setting.value,
            **{slot: self.media[slot].value for slot in MEDIA_SLOTS},
            "duration": self.duration.value,
            "audio": self.audio.value,
            "audio_url": self.audio_url.value,
            "shot_type": self.shot_type.value,
            "prompt_extend": self.prompt_extend.value,
            "watermark": self.watermark.value,
            "seed_mode": self.seed_mode.value,
            "seed": self.seed.value,
        }

    # ------------------------------------------------------------------ following the model
    def _first_model(self, names: Sequence[str]) -> str:
        """The model a kind starts with (the form picks the region's cheapest)."""
        return names[0]

    def _tier_prices(self, model: str) -> Mapping[str, float]:
        """Known prices per tier of ``model`` (the form asks its session's price table)."""
        return {}

    def media_lengths(self) -> dict[str, float]:
        """The seconds of each local clip in the shown media slots (for the estimate)."""
        shown = self.controls.media
        return {k: v for slot in shown for k, v in self.media[slot].lengths.items()}

    def media_problems(self) -> dict[str, str]:
        """What breaks a limit in the shown media slots, by slot."""
        shown = self.controls.media
        return {slot: p for slot in shown if (p := self.media[slot].problem)}

    def _on_kind(self) -> None:
        names = self.groups[self.kind.value]
        keep = self.model.value if self.model.value in names else self._first_model(names)
        self._busy = True
        try:
            self.model.options = names
            self.model.value = keep
        finally:
            self._busy = False
        self._on_model()

    def _on_model(self) -> None:
        if self._busy or not self.model.value:
            return
        c = self.controls
        # A size or resolution carries over to the new model only if the model allows it AND
        # it is priced for it (else the estimate would turn "unknown"): otherwise the form's
        # default for the model, the first of its cheapest priced tier.
        prices = self._tier_prices(c.model)
        start = default_choice(c, prices)

        def ok(tier: str | None) -> bool:
            return tier in prices

        self._busy = True
        try:
            _set_choices(self.size, c.sizes, start, keep=lambda s: ok(tier_of_size(s)))
            _set_choices(self.resolution, c.resolutions, start, keep=ok)
            _set_choices(self.template, c.templates, c.templates[0] if c.templates else None)
            ratios = [("follow the input" if r == "" else r, r) for r in c.ratios]
            _set_choices(self.ratio, ratios, c.ratio_default)
            self._set_duration(c)
            for name, row in self.rows.items():
                row.layout.display = "" if name in c.shown else "none"
            self.summary.value = f'<span style="color:#6b7280">{esc(model_summary(c))}</span>'
        finally:
            self._busy = False
        self.image.check(c.image_rules)
        for slot in c.media:
            self.media[slot].check(c.image_rules)
        self.refresh()

    def _set_duration(self, c: Controls) -> None:
        if c.duration_mode == "fixed":
            widget: Any = self.duration_fixed
            widget.value = c.duration_default
        elif c.duration_mode == "choices":
            widget = self.duration_choice
            _set_choices(widget, [(str(d), d) for d in c.durations], c.duration_default)
        else:
            widget = self.duration_range
            old, lo, hi = widget.value, min(c.durations), max(c.durations)
            widget.min = 0  # widen first: min may never pass max
            widget.max = hi
            widget.min = lo
            widget.value = old if lo <= old <= hi else c.duration_default
        self.duration_box.children = (widget,)

    def _on_shot_type(self) -> None:
        self._notes.pop("shot_type", None)
        if self.shot_type.value == "multi" and not self.prompt_extend.value:
            self._notes["shot_type"] = MULTI_SHOT_NOTE
            self.prompt_extend.value = True  # refreshes
        self.refresh()

    def use_seed(self, seed: int) -> None:
        """Fix the seed to ``seed`` (the seed of an earlier run, to repeat it)."""
        self.seed_mode.value = "fixed"
        self.seed.value = seed


def _set_choices(
    widget: Any, options: Sequence[Any], value: Any, keep: Callable[[Any], bool] | None = None
) -> None:
    """New options for a dropdown, keeping its value when the new model allows it (and
    ``keep`` says it still fits), else ``value``."""
    old = widget.value
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    widget.options = list(options)
    kept = old in values and (keep is None or keep(old))
    widget.value = old if kept else (value if value in values else None)
