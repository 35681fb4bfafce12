"""Judging as a person does it in JupyterLab: a blind panel of a comparison, a score clicked
under a video, found in ``wb.ratings()``; the labels hidden until Reveal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import lab as L

pytestmark = pytest.mark.slow

CELLS = [
    'import wanbook as wb\npick = wb.cheapest_models("t2v", "intl", count=2)',
    "grid = wb.compare('a heron over a frozen lake', models=pick.models, seeds=[1],\n"
    "                  size=pick.size, prompt_extend=False, experiment='lab-judging',\n"
    "                  progress=False)\n"
    "panel = grid.judge(blind=True, rater='lab')\n"
    "panel",
    "print(wb.ratings(experiment='lab-judging')[['rater', 'score', 'blind']].values.tolist())",
]


@pytest.fixture(scope="module")
def judged(lab: L.Lab, context: tuple[Any, L.Offline], lab_dirs: dict[str, Path]) -> Iterator[Any]:
    ctx, _ = context
    page = ctx.new_page()
    try:
        L.open_notebook(page, lab.write_notebook("judging.ipynb", CELLS))
        L.wait_done(L.run_cell(page, 0))
        cell = L.run_cell(page, 1)
        L.wait_done(cell)
        yield page, cell
    finally:
        page.screenshot(path=lab_dirs["state"] / "judging-page.png", full_page=True)
        page.close()
        lab.shutdown_kernels()


def test_a_clicked_score_is_in_the_run_log(judged: Any) -> None:
    page, cell = judged
    videos = cell.locator("video")
    videos.first.wait_for()
    assert videos.count() == 2
    shown, _ = L.frame_shown(videos.first)
    assert shown
    blind_text = cell.inner_text()
    assert "wan2." not in blind_text and "USD" not in blind_text  # labels hidden while judging
    cell.locator(".widget-toggle-buttons button", has_text="4").first.click()
    cell.locator("text=saved: 4 for").wait_for()
    out = L.run_cell(page, 2)
    L.wait_done(out)
    assert "[['lab', 4, True]]" in out.locator(".jp-OutputArea-output").inner_text()


def test_reveal_shows_the_labels(judged: Any) -> None:
    _, cell = judged
    cell.locator("button", has_text="Reveal labels").click()
    cell.locator("text=wan2.").first.wait_for()
