"""``wb.form()``: an ipywidgets form bound to a session. A thin shell over ``_notebook.form.logic``.

Every change of a control re-reads the form into a ``values`` dict and asks the pure functions
what to show: which controls the model has, the character counts, the problems next to their
fields, the estimate and the budget left. Generate is disabled while the request has an error.
The request's controls themselves, and how they follow the chosen model, are ``_notebook.form.fields``.

Generate never blocks the kernel: it schedules ``Session.agenerate`` on wanbook's portal loop
(a thread of its own, see ``wanbook._portal``) and returns at once, so several generations can run while the
person keeps executing cells. Each generation gets a panel (:class:`Job`) whose status line
follows the task (the session's ``on_update`` callback and a one-second ticker), with a Cancel
button while the task is PENDING and the video card when it is ready.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wanbook._errors import Problem
from wanbook._notebook.form.fields import Fields
from wanbook._notebook.form.job import Job
from wanbook._notebook.form.logic import (
    FIELDS,
    MEDIA_SLOTS,
    budget_problem,
    count_text,
    draw_seed,
    estimate_for,
    estimate_text,
    form_to_request,
    has_errors,
    kinds_of,
    problems_by_field,
    tier_prices,
)
from wanbook._notebook.html import esc
from wanbook._spec.catalogue import catalogue
from wanbook._spec.model_choice import cheapest_models
from wanbook._spec.request import Request, resolve

if TYPE_CHECKING:
    from wanbook._engine.session import Session

__all__ = ["Form", "form"]


def _messages_html(problems: Sequence[Problem], note: str | None = None) -> str:
    lines = [
        f'<div style="color:{"#b91c1c" if p.severity == "error" else "#b45309"}">'
        f"{'✖' if p.severity == 'error' else '⚠'} {esc(p.message)}</div>"
        for p in problems
    ]
    if note:
        lines.append(f'<div style="color:#6b7280">{esc(note)}</div>')
    return "".join(lines)


class Form(Fields):
    """The generation form. Display it (last expression of a cell); read ``form.jobs``.

    Child widgets are attributes (``kind``, ``model``, ``prompt``, ``size``, ``duration``,
    ``seed_mode``, ``generate``, ``cancel`` ...), so code and tests can set ``.value`` and
    ``click()`` them without a browser.
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        model: str | None = None,
        prompt: str | None = None,
        experiment: str | None = None,
        tags: Iterable[str] = (),
        **initial: Any,
    ) -> None:
        import ipywidgets as w

        if session is None:
            from wanbook._engine.default_session import session as default_session

            session = default_session()
        self.session = session
        self._emulator = session.backend == "emulator"  # asks a base URL's server once
        self.experiment = experiment
        self.tags = list(tags)
        self.jobs: list[Job] = []
        self.problems: dict[str, list[Problem]] = {}
        self.request: Request | None = None
        super().__init__(session.region)  # the request's controls, in `rows`

        one = self._shared[0]
        self.estimate = self._html()
        self.generate = w.Button(
            layout=one, description="Generate", button_style="primary", icon="play"
        )
        self.cancel = w.Button(layout=one, description="Cancel", icon="stop", disabled=True)
        self.status = self._html()
        # Newest on top, by layout: the children are only ever appended to, because the front end
        # redraws every child from the first one that moved (a new first child would restart the
        # video the person is watching).
        self.results = w.VBox(layout=w.Layout(flex_flow="column-reverse"))
        self._messages["request"] = self._html()
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
        self.generate.on_click(lambda _: self.submit())
        self.cancel.on_click(lambda _: self.cancel_pending())
        self._wanted: str | None = None
        if model is not None:
            self._start_with_model(model)
        self._on_kind()  # the first model's options, then the first check
        self.set_values(prompt=prompt, **initial)

    # ------------------------------------------------------------------ starting values
    def _first_model(self, names: Sequence[str]) -> str:
        """The model asked for, else the cheapest model of the region in this group."""
        if self._wanted is not None and self._wanted in names:
            return self._wanted
        kind = self.kind.value
        pick = cheapest_models(kind if kind in ("t2v", "i2v") else "i2v", self.region, 1)
        return pick.models[0] if pick.models and pick.models[0] in names else names[0]

    def _tier_prices(self, model: str) -> Mapping[str, float]:
        return tier_prices(model, self.region, self.session.prices)

    def _start_with_model(self, model: str) -> None:
        spec = catalogue().get(model)
        kinds = [k for k, names in self.groups.items() if spec is not None and spec.name in names]
        if spec is not None and kinds:
            own = kinds_of(spec)[0]  # its own group first (wan2.7-i2v: image to video)
            kinds.sort(key=lambda k: k != own)
        if spec is None or not kinds:
            served = ", ".join(n for names in self.groups.values() for n in names)
            raise ValueError(
                f"model={model!r} is not allowed in {self.region!r}: that region serves {served}"
            )
        self._wanted = spec.name
        self.kind.value = kinds[0]

    def set_values(self, **values: Any) -> None:
        """Fill fields from code (``prompt=``, ``size=``, ``seed=`` ...); None leaves a field
        as it is. A seed fixes the seed. Raises ValueError naming a field it cannot take."""
        for name, value in values.items():
            if value is None:
                continue
            if name in MEDIA_SLOTS:  # a URL or path (a list for the references)
                text = "\n".join(value) if isinstance(value, list | tuple) else str(value)
                self.media[name].url.value = text
                continue
            if name == "duration":
                widget: Any = self.duration
            elif name in _SETTABLE:
                widget = getattr(self, name)
            else:
                raise TypeError(
                    f"{name}= is not a field of the form; allowed: model, {', '.join(_SETTABLE)}"
                )
            if name == "seed":
                self.seed_mode.value = "fixed"
            options = getattr(widget, "options", None)
            if options is not None:
                allowed = [o[1] if isinstance(o, tuple) else o for o in options]
                if value not in allowed:
                    raise ValueError(
                        f"{name}={value!r} is not allowed for {self.model.value}; "
                        f"allowed: {', '.join(map(str, allowed))}"
                    )
            try:
                widget.value = value
            except Exception as exc:  # a traitlets TraitError: say which field
                raise ValueError(f"{name}={value!r} is not allowed: {exc}") from None

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
        extra.update(self.media_problems())
        est = estimate_for(req, self.region, self.session.prices, self.media_lengths())
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
        if self._emulator:  # said before anything is sent, as plain words, not an error
            line += " · on the emulator: a synthetic video, nothing is billed"
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
        job = Job(
            self.session,
            req,
            experiment=self.experiment,
            tags=self.tags,
            on_change=self.job_changed,
            use_seed=self.use_seed,
            layout=self._shared[0],
            html=self._html,
        )
        self.jobs.append(job)
        self.results.children = (*self.results.children, job.widget)  # shown first: see results
        job.start()
        self.job_changed()
        return job

    def cancel_pending(self) -> list[concurrent.futures.Future[Any]]:
        """What Cancel does: ask the service to cancel every PENDING generation of this form."""
        return [f for job in self.jobs if (f := job.cancel()) is not None]

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
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)  # not the repr of every child widget
            # what a page without a widget manager shows (an exported notebook, GitHub, a saved
            # notebook opened without the kernel): the form as it was when it was displayed
            bundle["text/html"] = self.static_html()
        return bundle

    def static_html(self) -> str:
        """A picture of the form's state in plain HTML: its fields, the estimate, the status and
        the results so far. No script, so it shows anywhere."""
        v = self.values()
        c = self.controls
        rows = [("model", v["model"]), ("prompt", v["prompt"])]
        if v["negative_prompt"]:
            rows.append(("negative prompt", v["negative_prompt"]))
        rows.append(("size", v["size"]) if c.sizes else ("resolution", v["resolution"]))
        rows.append(("duration", f"{v['duration']} s"))
        rows.append(("seed", v["seed"] if v["seed_mode"] == "fixed" else "random"))
        cells = "".join(
            f'<tr><th style="text-align:right;padding:2px 8px;font-weight:normal;color:#6b7280">'
            f'{esc(k)}</th><td style="padding:2px 8px;text-align:left">{esc(val)}</td></tr>'
            for k, val in rows
            if val not in (None, "")
        )
        results = "".join(
            o.get("data", {}).get("text/html", "")
            for job in reversed(self.jobs)
            for o in job.output.outputs
        )
        return (
            '<div class="wanbook-form-static" style="font-family:system-ui,sans-serif;'
            'font-size:13px;max-width:720px">'
            '<div style="color:#6b7280">wanbook form (a live form when the notebook runs; '
            "this is how it was when shown)</div>"
            f"<table>{cells}</table><div>{self.estimate.value}</div>"
            f"<div>{self.status.value}</div>{results}</div>"
        )

    def __repr__(self) -> str:
        return f"<wanbook form: {self.model.value}, {len(self.jobs)} generation(s)>"


def _count_html(text: str, over: bool) -> str:
    color = "#b45309" if over else "#6b7280"
    return f'<span style="color:{color}">{esc(text)}</span>'


def form(
    session: Session | None = None,
    *,
    model: str | None = None,
    prompt: str | None = None,
    experiment: str | None = None,
    tags: Iterable[str] = (),
    **initial: Any,
) -> Form:
    """A generation form bound to ``session`` (default: the module's session). Display it.

    It starts with ``model`` (default: the cheapest text-to-video model of the session's
    region, at its cheapest tier), ``prompt``, and any other field as ``initial`` (``size=``,
    ``resolution=``, ``duration=``, ``seed=``, ``audio=`` ...): a notebook's parameters.
    """
    return Form(session, model=model, prompt=prompt, experiment=experiment, tags=tags, **initial)


# Fields ``set_values`` (and so ``wb.form(**initial)``) fills, by widget attribute name.
_SETTABLE = tuple(f for f in FIELDS if f not in ("model", "image", *MEDIA_SLOTS))
