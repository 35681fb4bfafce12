"""``wb.form()`` in a real JupyterLab, driven as a person would: type, choose, Generate, watch.

One notebook for the module (a kernel and the form take a while to start): the tests run in file
order and each goes one step further with the same form.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import lab as L

pytestmark = pytest.mark.slow

PROMPT = "a kitten running in the moonlight, soft blue light"
OTHER_MODEL = "wan2.2-t2v-plus"

# Every state the status lines of the form's results have shown, in order (a MutationObserver:
# the emulator's states may last a short time, and polling the page could miss one).
RECORD_STATES = """cell => {
  window.__states = [];
  const seen = () => {
    for (const m of cell.innerText.matchAll(/\\b(STARTING|PENDING|RUNNING|SUCCEEDED|FAILED)\\b/g))
      if (window.__states[window.__states.length - 1] !== m[1]) window.__states.push(m[1]);
  };
  new MutationObserver(seen).observe(cell, {subtree: true, childList: true, characterData: true});
}"""


class FormPage:
    def __init__(self, page: Any, cell: Any, shots: Path) -> None:
        self.page, self.cell, self.shots = page, cell, shots

    def shot(self, name: str, element: Any = None) -> Path:
        path = self.shots / f"{name}.png"
        (element or self.cell).screenshot(path=path, animations="disabled")
        return path

    @property
    def prompt(self) -> Any:
        return L.widget(self.cell, "textarea", "Prompt")

    @property
    def model(self) -> Any:
        return L.widget(self.cell, "dropdown", "Model")

    @property
    def size(self) -> Any:
        return L.widget(self.cell, "dropdown", "Size")

    @property
    def generate(self) -> Any:
        return self.cell.locator("button", has_text="Generate")

    def estimate_line(self) -> Any:
        return self.cell.locator(".widget-html b", has_text="estimate").first

    def estimate(self) -> str:
        return self.estimate_line().inner_text()

    def type_prompt(self, text: str) -> None:
        self.prompt.fill(text)
        self.prompt.press("Tab")  # a Textarea syncs on blur as well as on input

    def results(self) -> Any:
        return self.cell.locator(".jp-OutputArea-output video")


@pytest.fixture(scope="module")
def form(
    lab: L.Lab, context: tuple[Any, L.Offline], lab_dirs: dict[str, Path]
) -> Iterator[FormPage]:
    ctx, _ = context
    url = lab.write_notebook("form.ipynb", ["import wanbook as wb", "wb.form()"])
    page = ctx.new_page()
    shots = lab_dirs["state"] / "shots"
    shots.mkdir(exist_ok=True)
    try:
        L.open_notebook(page, url)
        L.wait_done(L.run_cell(page, 0))
        cell = L.run_cell(page, 1)
        L.widget(cell, "textarea", "Prompt").wait_for(timeout=120_000)
        yield FormPage(page, cell, shots)
    finally:
        page.screenshot(path=shots / "form-page.png", full_page=True)
        page.close()
        lab.shutdown_kernels()


def test_the_estimate_follows_model_and_size(form: FormPage) -> None:
    form.type_prompt(PROMPT)
    first = form.estimate()
    assert "USD" in first, first
    form.model.select_option(label=OTHER_MODEL)
    # the sizes follow the model; each option carries its price ("1280*720 · 720P ...")
    option = form.size.locator("option", has_text="1920*1080")
    option.wait_for(state="attached", timeout=30_000)
    form.size.select_option(label=option.inner_text())
    expect(form.estimate_line()).not_to_have_text(first, timeout=30_000)
    dearer = form.estimate()
    assert "USD" in dearer and dearer != first, (first, dearer)
    # back to the cheapest size of this model, for a quick generation below
    cheap = form.size.locator("option").first
    form.size.select_option(label=cheap.inner_text())
    form.shot("form-estimate")


def test_a_problem_shows_beside_its_field(form: FormPage) -> None:
    row = form.cell.locator(
        ".widget-vbox:has(> .widget-hbox > .widget-textarea:has(label:text-is('Prompt')))"
    )
    form.type_prompt("a fox " * 200)  # over the model's 800 characters: a warning
    warning = row.locator("text=⚠").first
    warning.wait_for(timeout=30_000)
    assert "800" in warning.inner_text(), warning.inner_text()
    assert form.generate.is_enabled()
    form.shot("form-warning")
    form.type_prompt("")  # a text-to-video model needs a prompt: an error, nothing to send
    error = row.locator("text=✖").first
    error.wait_for(timeout=30_000)
    assert "prompt is required" in error.inner_text(), error.inner_text()
    expect(form.generate).to_be_disabled(timeout=30_000)
    form.type_prompt(PROMPT)
    error.wait_for(state="detached", timeout=30_000)
    expect(form.generate).to_be_enabled(timeout=30_000)


def test_the_form_says_emulator_before_sending(form: FormPage) -> None:
    text = form.cell.locator(".jp-OutputArea-output").first.inner_text()
    assert "emulator" in text.lower(), text


def test_generate_shows_the_video(form: FormPage) -> None:
    form.cell.evaluate(RECORD_STATES)
    form.generate.click()
    form.cell.locator("text=SUCCEEDED").first.wait_for(timeout=180_000)
    form.results().first.wait_for(timeout=60_000)
    states = form.page.evaluate("window.__states")
    assert states[-1] == "SUCCEEDED", states
    form.shot("form-succeeded")


def test_the_status_line_showed_each_state(form: FormPage) -> None:
    states = form.page.evaluate("window.__states")
    assert [s for s in states if s in ("PENDING", "RUNNING", "SUCCEEDED")] == [
        "PENDING",
        "RUNNING",
        "SUCCEEDED",
    ], states


def test_the_video_shows_its_first_frame_without_play(form: FormPage) -> None:
    video = form.results().first
    shown, shot = L.frame_shown(video)
    (form.shots / "form-video.png").write_bytes(shot)
    assert shown, f"the video is black until played ({L.dark_share(shot):.0%} dark pixels)"


def test_the_video_plays(form: FormPage) -> None:
    state = L.plays(form.results().first)
    assert state["error"] is None and state["play_error"] is None, state
    assert state["readyState"] >= 2, state
    assert 1 < state["duration"] < 30, state
    assert state["currentTime"] > 0.2, state
    shown, shot = L.frame_shown(form.results().first)
    (form.shots / "form-video-played.png").write_bytes(shot)
    assert shown, f"{L.dark_share(shot):.0%} dark pixels after play"


def test_generate_again_does_not_interrupt_the_video_being_watched(form: FormPage) -> None:
    first = form.results().first
    first.evaluate("v => { v.loop = true; v.__watched = true; }")
    first.evaluate(L.PLAY)  # and let it play on
    form.page.wait_for_function("v => v.currentTime > 0.2", arg=first.element_handle())
    form.generate.click()
    # the new result arrives; the one being watched must be the same element, still playing
    form.page.wait_for_function(
        "cell => cell.querySelectorAll('.jp-OutputArea-output video').length >= 2",
        arg=form.cell.element_handle(),
        timeout=180_000,
    )
    form.cell.locator("text=SUCCEEDED").nth(1).wait_for(timeout=180_000)
    watched = form.cell.evaluate(
        """cell => [...cell.querySelectorAll('video')].filter(v => v.__watched)
                   .map(v => ({paused: v.paused, t: v.currentTime}))"""
    )
    form.shot("form-two-results")
    assert watched and not watched[0]["paused"] and watched[0]["t"] > 0, watched
