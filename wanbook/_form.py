"""``wb.form()``: an ipywidgets form bound to a session. A thin shell over ``_formlogic``.

Every change of a control re-reads the form into a ``values`` dict and asks the pure functions
what to show: which controls the model has, the character counts, the problems next to their
fields, the estimate and the budget left. Generate is disabled while the request has an error.

Generate never blocks the kernel: it schedules ``Session.agenerate`` on wanbook's portal loop
(a thread of its own, see ``_sync``) and returns at once, so several generations can run while the
person keeps executing cells. Each generation gets a panel (:class:`Job`) whose status line
follows the task (the session's ``on_update`` callback and a one-second ticker), with a Cancel
button while the task is PENDING and the video card when it is ready.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from wanbook._catalogue import catalogue
from wanbook._errors import Problem
from wanbook._formimage import ImageInput
from wanbook._formjob import Job
from wanbook._formlogic import (
    FIELDS,
    KINDS,
    MULTI_SHOT_NOTE,
    Controls,
    budget_problem,
    controls_for,
    count_text,
    draw_seed,
    estimate_for,
    estimate_text,
    form_to_request,
    has_errors,
    model_groups,
    model_summary,
    problems_by_field,
)
from wanbook._html import esc
from wanbook._request import Request, resolve

if TYPE_CHECKING:
    from wanbook._session import Session

__all__ = ["Form", "form"]

_LABEL = {"description_width": "120px"}
_SEED_MAX = 2147483647


def _messages_html(problems: Sequence[Problem], note: str | None = None) -> str:
    lines = [
        f'<div style="color:{"#b91c1c" if p.severity == "error" else "#b45309"}">'
        f"{'✖' if p.severity == 'error' else '⚠'} {esc(p.message)}</div>"
        for p in problems
    ]
    if note:
        lines.append(f'<div style="color:#6b7280">{esc(note)}</div>')
    return "".join(lines)


class Form:
    """The generation form. Display it (last expression of a cell); read ``form.jobs``.

    Child widgets are attributes (``kind``, ``model``, ``prompt``, ``size``, ``duration``,
    ``seed_mode``, ``generate``, ``cancel`` ...), so code and tests can set ``.value`` and
    ``click()`` them without a browser.
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        experiment: str | None = None,
        tags: Iterable[str] = (),
    ) -> None:
        import ipywidgets as w

        if session is None:
            from wanbook._default import session as default_session

            session = default_session()
        self.session = session
        self.region = session.region
        self.experiment = experiment
        self.tags = list(tags)
        self.groups = model_groups(self.region)
        self.jobs: list[Job] = []
        self.problems: dict[str, list[Problem]] = {}
        self.request: Request | None = None
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
        self.estimate = self._html()
        self.generate = w.Button(
            layout=one, description="Generate", button_style="primary", icon="play"
        )
        self.cancel = w.Button(layout=one, description="Cancel", icon="stop", disabled=True)
        self.status = self._html()
        self.results = w.VBox(layout=one)

        self._messages: dict[str, w.HTML] = {name: self._html() for name in FIELDS}
        self._messages["request"] = self._html()
        self.duration_box = w.HBox([self.duration_choice], layout=one)
        rows = {
            "image": self.image.widgets,
            "template": [self.template],
            "prompt": [w.HBox([self.prompt, self.prompt_count], layout=one)],
            "negative_prompt": [w.HBox([self.negative_prompt, self.negative_count], layout=one)],
            "size": [self.size],
            "resolution": [self.resolution],
            "duration": [self.duration_box],
            "audio": [self.audio],
            "audio_url": [self.audio_url],
            "shot_type": [self.shot_type],
            "prompt_extend": [self.prompt_extend],
            "watermark": [self.watermark],
            "seed": [w.HBox([self.seed_mode, self.seed], layout=one)],
        }
        self.rows = {name: w.VBox([*ws, self._messages[name]]) for name, ws in rows.items()}
        self.widget = w.VBox(
            layout=one,
            children=[
                self.kind,
                self.model,
                self.summary,
                self._messages["model"],
                *self.rows.values(),
                self.estimate,
                self._messages["request"],
                w.HBox([self.generate, self.cancel], layout=one),
                self.status,
                self.results,
            ],
        )

        self.kind.observe(lambda _: self._on_kind(), "value")
        self.model.observe(lambda _: self._on_model(), "value")
        self.shot_type.observe(lambda _: self._on_shot_type(), "value")
        for widget in (
            self.template,
            self.prompt,
            self.negative_prompt,
            self.size,
            self.resolution,
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
        self.generate.on_click(lambda _: self.submit())
        self.cancel.on_click(lambda _: self.cancel_pending())
        self._on_kind()

    def _html(self) -> Any:
        """An HTML widget with the shared layout and style."""
        import ipywidgets as w

        layout, style = self._shared
        if style is None:  # ipywidgets does not export HTMLStyle: share the first one made
            widget = w.HTML(layout=layout)
            self._shared = (layout, widget.style)
            return widget
        return w.HTML(layout=layout, style=style)

    # ------------------------------------------------------------------ reading the form
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
    def _on_kind(self) -> None:
        names = self.groups[self.kind.value]
        keep = self.model.value if self.model.value in names else names[0]
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
        self._busy = True
        try:
            _set_choices(self.size, c.sizes, c.default if c.sizes else None)
            _set_choices(self.resolution, c.resolutions, c.default if c.resolutions else None)
            _set_choices(self.template, c.templates, c.templates[0] if c.templates else None)
            self._set_duration(c)
            for name, row in self.rows.items():
                row.layout.display = "" if name in c.shown else "none"
            self.summary.value = f'<span style="color:#6b7280">{esc(model_summary(c))}</span>'
        finally:
            self._busy = False
        self.image.check(c.image_max_mb)
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

    # ------------------------------------------------------------------ live checks
    def refresh(self) -> None:
        """Recompute counts, problems, estimate and budget; enable Generate only when valid."""
        if self._busy or not self.model.value:
            return
        c = self.controls
        values = self.values()
        req = form_to_request(values)
        self.request = req
        extra = {"image": self.image.problem} if self.image.problem and c.image else {}
        est = estimate_for(req, self.region, self.session.prices)
        left = self.session.budget_left()
        currency = self.session.budget_currency or catalogue().regions[self.region].currency
        over = budget_problem(est, left, currency)
        if over:
            extra["request"] = over
        self.problems = problems_by_field(req, self.region, kind=c.kind, extra=extra)
        if not (self.shot_type.value == "multi" and self.prompt_extend.value):
            self._notes.pop("shot_type", None)
        for name, box in self._messages.items():
            note = self._notes.get(name) or c.notes.get(name) if name != "audio" else None
            if name == "seed" and self.seed_mode.value == "fixed":
                note = None
            box.value = _messages_html(self.problems.get(name, []), note)
        text, over_limit = count_text(self.prompt.value, c.prompt_limit)
        self.prompt_count.value = _count_html(text, over_limit)
        text, over_limit = count_text(self.negative_prompt.value, c.negative_limit)
        self.negative_count.value = _count_html(text, over_limit)
        tier = resolve(req).tier if est is not None else None
        line = estimate_text(
            est,
            model=c.model,
            tier=tier,
            region=self.region,
            budget_left=left,
            budget_currency=currency,
        )
        self.estimate.value = f"<b>{esc(line)}</b>"
        self.seed.disabled = self.seed_mode.value != "fixed"
        self.generate.disabled = has_errors(self.problems)

    def messages(self, field: str) -> list[str]:
        """The problems shown next to ``field`` (for code and tests)."""
        return [p.message for p in self.problems.get(field, [])]

    # ------------------------------------------------------------------ generating
    def submit(self) -> Job | None:
        """What Generate does: schedule one generation and return at once (None if invalid)."""
        self.refresh()
        if has_errors(self.problems) or self.request is None:
            self.status.value = esc("fix the fields marked in red first; nothing was sent")
            return None
        req = self.request
        if self.seed_mode.value == "random":
            req = req.replace(seed=draw_seed())
        job = Job(self, req)
        self.jobs.append(job)
        self.results.children = (job.widget, *self.results.children)
        job.start()
        self.job_changed()
        return job

    def cancel_pending(self) -> list[concurrent.futures.Future[Any]]:
        """What Cancel does: ask the service to cancel every PENDING generation of this form."""
        return [f for job in self.jobs if (f := job.cancel()) is not None]

    def use_seed(self, seed: int) -> None:
        """Fix the seed to ``seed`` (the seed of an earlier run, to repeat it)."""
        self.seed_mode.value = "fixed"
        self.seed.value = seed

    def job_changed(self) -> None:
        """Keep the form-level Cancel button and status line in step with the jobs."""
        states = [job.state for job in self.jobs]
        self.cancel.disabled = "PENDING" not in states
        running = sum(not job.over for job in self.jobs)
        done = sum(s == "SUCCEEDED" for s in states)
        failed = len(states) - running - done
        parts = [f"{running} running", f"{done} done"] + ([f"{failed} failed"] if failed else [])
        self.status.value = esc(" · ".join(parts))
        if self.session.budget is not None:
            self.refresh()  # the budget left moved

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict) and "text/plain" in bundle:
            bundle["text/plain"] = repr(self)  # not the repr of every child widget
        return bundle

    def __repr__(self) -> str:
        return f"<wanbook form: {self.model.value}, {len(self.jobs)} generation(s)>"


def _set_choices(widget: Any, options: Sequence[Any], value: Any) -> None:
    """New options for a dropdown, keeping its value when the new model allows it."""
    old = widget.value
    values = [o[1] if isinstance(o, tuple) else o for o in options]
    widget.options = list(options)
    widget.value = old if old in values else (value if value in values else None)


def _count_html(text: str, over: bool) -> str:
    color = "#b45309" if over else "#6b7280"
    return f'<span style="color:{color}">{esc(text)}</span>'


def form(
    session: Session | None = None, *, experiment: str | None = None, tags: Iterable[str] = ()
) -> Form:
    """A generation form bound to ``session`` (default: the module's session). Display it."""
    return Form(session, experiment=experiment, tags=tags)
