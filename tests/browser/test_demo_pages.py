"""The demo's pages (``wanbook demo``) opened from disk in Chromium, as a person opens
``demo-output/index.html``: the videos show a picture and play, and nothing is loaded from the
internet (the pages must work offline, and the tests never touch it)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import lab as L

pytestmark = pytest.mark.slow

# The quickstart alone: it has the form, a generation and wb.show (the others add time, not kinds
# of output).
RUN = "from wanbook._cli.demo import run_demo; raise SystemExit(run_demo({out!r}, only=['01']))"


@pytest.fixture(scope="module")
def demo(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANBOOK_", "DASHSCOPE_"))}
    env["WANBOOK_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))  # never the user's
    done = subprocess.run(
        [sys.executable, "-c", RUN.format(out=str(out))],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def page(demo: Path, context: tuple[Any, L.Offline]) -> Iterator[tuple[Any, L.Offline, list[str]]]:
    ctx, refused = context
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield p, refused, errors
    finally:
        p.close()


def _videos_play_and_show_a_frame(p: Any, shots: Path, name: str) -> None:
    videos = p.locator("video").all()
    assert videos, f"{name}: no video on the page"
    for i, video in enumerate(videos):
        shown, shot = L.frame_shown(video)
        (shots / f"{name}-{i}.png").write_bytes(shot)
        assert shown, f"{name} video {i}: black before play ({L.dark_share(shot):.0%} dark)"
        state = L.plays(video)
        assert state["error"] is None and state["readyState"] >= 2, state
        assert state["currentTime"] > 0.2 and state["duration"] > 1, state


def test_the_index_page_videos_play(demo: Path, page: tuple[Any, L.Offline, list[str]]) -> None:
    p, _, _ = page
    p.goto((demo / "index.html").as_uri())
    p.screenshot(path=demo / "index.png", full_page=True)
    _videos_play_and_show_a_frame(p, demo, "index")


def test_the_notebook_page_videos_play(demo: Path, page: tuple[Any, L.Offline, list[str]]) -> None:
    p, _, _ = page
    p.goto((demo / "index.html").as_uri())
    p.locator("a", has_text="Quickstart").first.click()
    p.wait_for_load_state("load")
    p.screenshot(path=demo / "quickstart.png", full_page=True)
    _videos_play_and_show_a_frame(p, demo, "quickstart")


def test_the_pages_load_nothing_from_the_internet(
    demo: Path, page: tuple[Any, L.Offline, list[str]]
) -> None:
    p, refused, _ = page
    for name in ("index.html", "01_quickstart.html"):
        p.goto((demo / name).as_uri())
        p.wait_for_load_state("load")
    assert not refused.refused, refused.refused


def test_the_form_shows_something_in_the_exported_page(
    demo: Path, page: tuple[Any, L.Offline, list[str]]
) -> None:
    p, _, _ = page
    p.goto((demo / "01_quickstart.html").as_uri())
    p.wait_for_load_state("load")
    form_cell = p.locator(".jp-Cell", has_text="wb.form(").first
    output = form_cell.locator(".jp-OutputArea-output")
    text = output.inner_text() if output.count() else ""
    assert "Generate" in text or "estimate" in text, repr(text)
