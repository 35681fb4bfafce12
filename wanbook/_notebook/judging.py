"""Judging where the videos play: a 1-5 score and a short note under each video, or two videos
side by side and which is better, written to the run log the moment they are given.

``wb.judge(runs)`` (or ``comparison.judge()``) shows one cell per run. A score click is saved at
once (``Session.rate``), and so is a note once it is entered; a cell shows what the rater gave
before, so a study can be judged in several sittings. **Blind** mode hides the labels (model, seed,
parameters, cost) and shuffles the cells (seeded: the same order for the same runs) while judging;
"Reveal" shows them. **Pairwise** mode shows two runs that differ on one axis (``axis``, default
the first that varies) but share the rest, left and right drawn at random when blind, and records
which is better (``Session.prefer``).

Everything the widget does is callable from code (``wb.rate``, ``wb.prefer``), so a study also
runs headless under papermill. Each video sits in an ``Output`` widget, where JupyterLab resolves
its relative file links (it does not inside an HTML widget).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wanbook._errors import ValidationError
from wanbook._notebook.html import esc, key_params
from wanbook._runlog.judgements import SCORES, default_rater

if TYPE_CHECKING:
    from wanbook._engine.session import Session

__all__ = ["Judging", "judge", "pairs_of"]

_LABELS = ("model", "seed", "prompt")


def _label_html(record: Mapping[str, Any]) -> str:
    params = " · ".join(f"{esc(k)} {esc(v)}" for k, v in key_params(record))
    return (
        f'<div style="line-height:1.35;font-size:12px"><b>{esc(record.get("model"))}</b> · '
        f"{params}<br><span style='color:#6b7280'>{esc(record.get('prompt'))}</span></div>"
    )


def _axis_value(record: Mapping[str, Any], axis: str) -> Any:
    if axis in record:
        return record[axis]
    params = record.get("params") if isinstance(record.get("params"), dict) else {}
    name = axis.removeprefix("param_")
    if isinstance(params, dict) and name in params:
        return params[name]
    for tag in record.get("tags") or []:
        if isinstance(tag, str) and tag.startswith(f"{axis}="):  # var:animal=fox
            return tag.split("=", 1)[1]
    return None


def _candidate_axes(records: Sequence[Mapping[str, Any]]) -> list[str]:
    names = ["model", "prompt", "seed"]
    for record in records:
        params = record.get("params") if isinstance(record.get("params"), dict) else {}
        names += [f"param_{k}" for k in params or {} if k != "seed"]
        names += [t.split("=", 1)[0] for t in record.get("tags") or [] if str(t).startswith("var:")]
    return list(dict.fromkeys(names))


def _varies(records: Sequence[Mapping[str, Any]], axis: str) -> bool:
    return len({repr(_axis_value(r, axis)) for r in records}) > 1


def pairs_of(
    records: Sequence[Mapping[str, Any]], axis: str
) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Pairs of runs that differ on ``axis`` and agree on everything else that varies (prompt,
    seed, model, parameters, template variables): one request, made two ways."""
    others = [a for a in _candidate_axes(records) if a != axis and _varies(records, a)]
    pairs = []
    for i, a in enumerate(records):
        for b in records[i + 1 :]:
            if _axis_value(a, axis) == _axis_value(b, axis):
                continue
            if all(_axis_value(a, k) == _axis_value(b, k) for k in others):
                pairs.append((a, b))
    return pairs


def _varying_axis(records: Sequence[Mapping[str, Any]]) -> str:
    for axis in _candidate_axes(records):
        if axis not in ("prompt", "seed") and _varies(records, axis):
            return axis
    raise ValueError("judge: the runs do not differ on any axis; nothing to compare in pairs")


class Judging:
    """The judging panel (display it). ``cells`` are the score cells (or the pairs) in the order
    shown; ``reveal()`` shows the labels of a blind panel."""

    def __init__(
        self,
        session: Session,
        records: Sequence[Mapping[str, Any]],
        *,
        rater: str | None,
        blind: bool,
        pairwise: bool,
        axis: str | None,
        seed: int,
    ) -> None:
        import ipywidgets as w

        self.session = session
        self.rater = rater or default_rater()
        self.blind = blind
        self.records = list(records)
        order = random.Random(seed)
        self.status = w.HTML()
        self.reveal_button = w.Button(description="Reveal labels", disabled=not blind)
        self.reveal_button.on_click(lambda _: self.reveal())
        if pairwise:
            axis = axis or _varying_axis(self.records)
            pairs = pairs_of(self.records, axis)
            if not pairs:
                raise ValueError(f"judge: no two runs differ only on {axis!r}; nothing to pair")
            if blind:
                order.shuffle(pairs)
                pairs = [(b, a) if order.random() < 0.5 else (a, b) for a, b in pairs]
            self.cells: list[Any] = [_PairCell(self, a, b) for a, b in pairs]
        else:
            shown = list(self.records)
            if blind:
                order.shuffle(shown)
            given = session.ratings(rater=self.rater)  # what this rater gave before
            before = {
                str(r.run_id): (int(r.score), r.note or "") for r in given.itertuples(index=False)
            }
            self.cells = [_ScoreCell(self, r, before.get(str(r["run_id"]))) for r in shown]
        self.widget = w.VBox(
            [
                w.HBox([self.reveal_button, self.status]),
                w.GridBox(
                    [c.widget for c in self.cells],
                    layout=w.Layout(
                        grid_template_columns=f"repeat({1 if pairwise else 3}, max-content)",
                        grid_gap="12px",
                    ),
                ),
            ]
        )
        self._say(f"judging as {self.rater}" + (" (blind)" if blind else ""))

    def _say(self, text: str, bad: bool = False) -> None:
        color = "#b91c1c" if bad else "#6b7280"
        self.status.value = f'<span style="color:{color}">{esc(text)}</span>'

    def save(self, action: Callable[[], Any], what: str) -> bool:
        """Write one judgement; say so (or say what was wrong) in the status line."""
        try:
            action()
        except ValidationError as exc:
            self._say(" ".join(str(exc).split()), bad=True)
            return False
        self._say(f"saved: {what}")
        return True

    def reveal(self) -> None:
        """Show the labels of every cell (the judgements already given stay as they were)."""
        for cell in self.cells:
            cell.reveal()
        self.reveal_button.disabled = True

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict) and "text/plain" in bundle:
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        kind = "pairs" if self.cells and isinstance(self.cells[0], _PairCell) else "runs"
        return f"<wanbook judging: {len(self.cells)} {kind}, rater {self.rater!r}>"


def _video(record: Mapping[str, Any], width: int, session: Session | None = None) -> Any:
    import ipywidgets as w

    from wanbook._notebook.display import run_video

    out = w.Output()
    html = run_video(record, width=width, session=session)
    bundle = {"text/html": html, "text/plain": str(record.get("run_id"))}
    out.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
    return out


class _ScoreCell:
    """One run: its video, a hidden-or-shown label, the 1-5 buttons and a note."""

    def __init__(
        self, panel: Judging, record: Mapping[str, Any], before: tuple[int, str] | None
    ) -> None:
        import ipywidgets as w

        self.panel, self.record = panel, record
        self.run_id = str(record["run_id"])
        self.label = w.HTML(_label_html(record), layout=w.Layout(max_width="320px"))
        self.label.layout.display = "none" if panel.blind else ""
        self.score = w.ToggleButtons(
            options=[str(s) for s in SCORES],
            value=None,
            tooltips=["1 bad", "2 poor", "3 fair", "4 good", "5 excellent"],
            style={"button_width": "40px"},
        )
        self.note = w.Text(placeholder="a short note (Enter to save)", continuous_update=False)
        if before is not None:
            self.score.value, self.note.value = str(before[0]), before[1]
        self.score.observe(lambda _: self._save(), "value")
        self.note.observe(lambda _: self._save(), "value")
        self.widget = w.VBox(
            [_video(record, 320, panel.session), self.label, self.score, self.note]
        )

    def _save(self) -> None:
        if self.score.value is None:
            return  # a note waits for a score
        score = int(self.score.value)
        note = self.note.value.strip() or None
        self.panel.save(
            lambda: self.panel.session.rate(
                self.run_id, score, note=note, rater=self.panel.rater, blind=self.panel.blind
            ),
            f"{score} for {self.run_id}",
        )

    def reveal(self) -> None:
        self.label.layout.display = ""


class _PairCell:
    """Two runs side by side and which is better."""

    def __init__(self, panel: Judging, left: Mapping[str, Any], right: Mapping[str, Any]) -> None:
        import ipywidgets as w

        self.panel, self.left, self.right = panel, str(left["run_id"]), str(right["run_id"])
        self.labels = [w.HTML(_label_html(r)) for r in (left, right)]
        for label in self.labels:
            label.layout.display = "none" if panel.blind else ""
        self.choice = w.ToggleButtons(
            options=[
                ("Left is better", self.left),
                ("Tie", "tie"),
                ("Right is better", self.right),
            ],
            value=None,
        )
        self.note = w.Text(placeholder="why (optional; Enter to save)", continuous_update=False)
        self.choice.observe(lambda _: self._save(), "value")
        self.note.observe(lambda _: self._save(), "value")
        sides = [
            w.VBox([_video(r, 360, panel.session), label])
            for r, label in zip((left, right), self.labels, strict=True)
        ]
        self.widget = w.VBox([w.HBox(sides), self.choice, self.note])

    def _save(self) -> None:
        winner = self.choice.value
        if winner is None:
            return
        note = self.note.value.strip() or None
        self.panel.save(
            lambda: self.panel.session.prefer(
                self.left, self.right, winner, note=note, rater=self.panel.rater,
                blind=self.panel.blind,
            ),
            f"{'tie' if winner == 'tie' else winner + ' better'}",
        )  # fmt: skip

    def reveal(self) -> None:
        for label in self.labels:
            label.layout.display = ""


def judge(
    runs: Any,
    *,
    session: Session | None = None,
    rater: str | None = None,
    blind: bool = False,
    pairwise: bool = False,
    axis: str | None = None,
    seed: int = 0,
) -> Judging:
    """A panel to judge ``runs`` where they play (a comparison, ``wb.runs(...)``, run ids).

    Each run gets a 1-5 score and a note, saved to the run log at once (as ``wb.rate``);
    ``pairwise=True`` shows pairs that differ on ``axis`` and records which is better (as
    ``wb.prefer``). ``blind=True`` hides model, seed, parameters and cost and shuffles the order
    (``seed`` fixes it) until "Reveal labels". ``rater`` defaults to the OS user name."""
    if session is None:
        from wanbook._engine.default_session import session as default_session

        session = default_session()
    records = [r for r in session.records(runs) if r.get("status") == "SUCCEEDED"]
    if not records:
        raise ValueError("judge: none of these runs has a video to judge")
    return Judging(
        session, records, rater=rater, blind=blind, pairwise=pairwise, axis=axis, seed=seed
    )
