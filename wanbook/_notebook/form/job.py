"""One generation started by the form: its panel, the task on the portal loop, and Cancel.

The panel is a status line (state, elapsed time, and when it is over the seed actually used and
the cost), a Cancel button while the task is PENDING, and the run's card when it is ready — or
the error in plain words. Everything it does happens on wanbook's portal loop; the kernel only
sees widget values change.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wanbook._errors import APIError
from wanbook._notebook.html import api_detail, error_words, esc
from wanbook._notebook.progress import status_line
from wanbook._portal import portal_loop
from wanbook._runlog.run import Run
from wanbook._spec.request import Request

if TYPE_CHECKING:
    from wanbook._engine.session import Session

__all__ = ["Job"]


def cancel_refused_words(exc: BaseException) -> str:
    """Why a Cancel did not work, in plain words. The task goes on: only a queued task can be
    canceled, and one that has started rendering is billed if it succeeds."""
    if isinstance(exc, APIError) and exc.code == "UnsupportedOperation":
        return (
            f"could not cancel: the task had already left the queue ({api_detail(exc)}); "
            "it goes on and is billed if it succeeds"
        )
    return f"could not cancel: {error_words(exc)}"


class Job:
    """One generation started by the form: its panel, its future and its run.

    It runs on ``session`` and knows nothing of the form: ``on_change()`` is called when its
    state changes (the form keeps its own buttons in step), ``use_seed(seed)`` when "Use this
    seed" is pressed; ``layout`` and ``html()`` make its widgets look like the form's.
    """

    def __init__(
        self,
        session: Session,
        request: Request,
        *,
        experiment: str | None,
        tags: Sequence[str],
        on_change: Callable[[], None],
        use_seed: Callable[[int], None],
        layout: Any,
        html: Callable[[], Any],
    ) -> None:
        import ipywidgets as w

        self.session = session
        self.request = request
        self.experiment = experiment
        self.tags = list(tags)
        self._changed = on_change
        self._seed_to_form = use_seed
        self.run: Run | None = None
        self.error: BaseException | None = None
        self.future: concurrent.futures.Future[Run | None] | None = None
        self._generating: asyncio.Task[Run] | None = None  # session.agenerate, on the portal
        self._stopped = False  # its task was canceled at the service: stop following it
        self.started = time.monotonic()
        self.ended: float | None = None
        one = layout
        self.status = html()
        self.cancel_button = w.Button(layout=one, description="Cancel", icon="stop", disabled=True)
        self.reuse_seed = w.Button(  # the seed itself is in the status line: a button is short
            layout=one,
            description="Use this seed",
            tooltip=f"Put seed {request.seed} in the Seed field, to repeat or vary this run",
            disabled=True,
        )
        # An Output widget, not an HTML one: JupyterLab resolves the card's relative video and
        # file links (to /files/...) only in rendered outputs, never inside an HTML widget.
        self.output = w.Output(layout=one)
        self._shown = ""  # the card or the error; notes (a refused Cancel) are shown below it
        self._notes: list[str] = []
        self._seen_at: float | None = None  # when the task's state was last heard from
        self.cancel_button.on_click(lambda _: self.cancel())
        self.reuse_seed.on_click(lambda _: self._use_seed())
        self.widget = w.VBox(
            [w.HBox([self.status, self.cancel_button, self.reuse_seed], layout=one), self.output],
            layout=one,
        )
        self._render()

    @property
    def state(self) -> str:
        if self.error is not None and (self.run is None or not self.run.finished):
            return "ERROR"
        return str(self.run.status) if self.run is not None else "STARTING"

    @property
    def over(self) -> bool:
        return self.ended is not None

    def start(self) -> None:
        self.future = asyncio.run_coroutine_threadsafe(self._work(), portal_loop())

    def result(self, timeout: float | None = None) -> Run | None:
        """Wait for the generation (for code and tests; the form itself never waits)."""
        assert self.future is not None
        return self.future.result(timeout)

    async def _work(self) -> Run | None:
        loop = asyncio.get_running_loop()
        ticker = loop.create_task(self._tick())
        self._generating = loop.create_task(
            self.session.agenerate(
                request=self.request,
                experiment=self.experiment,
                tags=self.tags,
                on_update=self._on_update,
                raise_on_failure=False,
                warn=False,  # the form already shows each warning beside its field
            )
        )
        try:
            try:
                run = await self._generating
            except asyncio.CancelledError:
                if not self._stopped or self.run is None:
                    raise
                run = self.session.run(self.run.run_id)  # canceled and priced by acancel
            self.run = run
            from wanbook._notebook.display import run_card

            self._show(await asyncio.to_thread(run_card, run.record, session=self.session))
            return run
        except Exception as exc:  # shown in place, in plain words
            self.error = exc
            self._show(f'<div style="color:#b91c1c">{esc(error_words(exc))}</div>')
            return None
        finally:
            ticker.cancel()
            self.ended = time.monotonic()
            self._render()
            self._changed()

    def _show(self, markup: str) -> None:
        """Show the run's card or its error (replacing what was shown; the notes stay)."""
        self._shown = markup
        self._refresh_output()

    def _note(self, markup: str) -> None:
        """Add a note below the card area (kept when the card arrives)."""
        self._notes.append(markup)
        self._refresh_output()

    def _refresh_output(self) -> None:
        text = self.run.run_id if self.run is not None else "error"
        bundle = {"text/html": self._shown + "".join(self._notes), "text/plain": text}
        self.output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._render()

    def _on_update(self, run: Run) -> None:
        before = self.state
        self.run = run
        self._seen_at = time.monotonic()
        self._render()
        if self.state != before:
            self._changed()

    def _render(self) -> None:
        now = time.monotonic()
        end = self.ended if self.ended is not None else now
        record = self.run.record if self.run is not None else {"seed": self.request.seed}
        error = error_words(self.error) if self.error is not None else None
        seen = self._seen_at
        seen_ago = None if self.over or seen is None else now - seen
        line = status_line(self.state, end - self.started, record, error, seen_ago=seen_ago)
        self.status.value = f"<span>{html.escape(line)}</span>"
        self.cancel_button.disabled = self.state != "PENDING"
        self.reuse_seed.disabled = not (self.over and self.request.seed is not None)

    def cancel(self) -> concurrent.futures.Future[Any] | None:
        """Ask the service to cancel this task if it is PENDING; returns at once."""
        if self.state != "PENDING" or self.run is None:
            return None
        self.cancel_button.disabled = True
        future = asyncio.run_coroutine_threadsafe(self._cancel(self.run.run_id), portal_loop())
        future.add_done_callback(self._cancel_done)
        return future

    async def _cancel(self, run_id: str) -> Run:
        """Cancel at the service; once it says the task is over, stop following it (the run is
        already logged as canceled and priced) instead of waiting for the next poll.

        If the service refuses (the task has left the queue since the last poll), the task is
        queried once so the status line shows its real state, not the stale PENDING.
        """
        try:
            run = await self.session.acancel(run_id)
        except Exception:
            await self._look_again()
            raise
        generating = self._generating
        if run.finished and generating is not None and not generating.done():
            self._stopped = True
            generating.cancel()
        return run

    async def _look_again(self) -> None:
        """One query of the task after a refused cancel; its state is shown (the tracker logs it
        at its next poll). A failed query changes nothing: the poll will tell."""
        run = self.run
        if run is None or not run.task_id:
            return
        try:
            task = await self.session.client().query(run.task_id)
        except Exception:  # the next poll will tell
            return
        status, now = str(task.status.value), self.run
        # Only a state still in progress is shown from here: an ended task is priced and its
        # video fetched by the tracker, whose update shows it complete.
        in_progress = status in ("PENDING", "RUNNING")
        if in_progress and not self.over and now is not None and not now.finished:
            self._on_update(Run({**now.record, "status": status}))

    def _cancel_done(self, future: concurrent.futures.Future[Any]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._note(f'<div style="color:#b45309">{esc(cancel_refused_words(exc))}</div>')
            self._render()
        elif not self.over:
            self._on_update(future.result())  # CANCELED shows now, not at the next poll

    def _use_seed(self) -> None:
        if self.request.seed is not None:
            self._seed_to_form(self.request.seed)
