"""Videos as a person sees them in JupyterLab: a compare grid, ``wb.show``, and a run log kept
outside the folder Jupyter serves. Each video must show a picture before it is played (no
seeking: what the page draws) and play."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import lab as L

pytestmark = pytest.mark.slow

FOX = "a red fox running through snow at dawn"
PICK = 'pick = wb.cheapest_models("t2v", "intl", count=2)'
GRID = f"""grid = wb.compare({FOX!r}, models=pick.models, seeds=[1, 2], size=pick.size,
                  prompt_extend=False)
grid"""


@pytest.fixture(scope="module")
def notebook_page(
    lab: L.Lab, context: tuple[Any, L.Offline], lab_dirs: dict[str, Path]
) -> Iterator[tuple[Any, Path]]:
    ctx, _ = context
    outside = lab_dirs["outside"]
    cells = [
        f"import wanbook as wb\n{PICK}",
        GRID,
        "wb.show(grid.iloc[0]['run_id'])",
        # a second session whose run log is outside the served folder (a shared or /data log)
        f"away = wb.session(home={str(outside)!r})\n"
        f"away.generate({FOX!r}, model=pick.models[0], size=pick.size, seed=3)",
    ]
    url = lab.write_notebook("videos.ipynb", cells)
    page = ctx.new_page()
    shots = lab_dirs["state"] / "shots"
    shots.mkdir(exist_ok=True)
    try:
        L.open_notebook(page, url)
        L.wait_done(L.run_cell(page, 0))
        yield page, shots
    finally:
        page.screenshot(path=shots / "videos-page.png", full_page=True)
        page.close()
        lab.shutdown_kernels()


def _check_frames(videos: list[Any], shots: Path, name: str) -> list[str]:
    black = []
    for i, video in enumerate(videos):
        shown, shot = L.frame_shown(video)
        (shots / f"{name}-{i}.png").write_bytes(shot)
        if not shown:  # one is enough: each black video costs the whole settle time
            return [f"video {i}: {L.dark_share(shot):.0%} dark"]
    return black


@pytest.fixture(scope="module")
def grid_cell(notebook_page: tuple[Any, Path]) -> Any:
    page, _ = notebook_page
    cell = L.run_cell(page, 1)
    L.wait_done(cell, timeout=300_000)
    return cell


def test_every_video_of_a_compare_grid_shows_a_frame(
    grid_cell: Any, notebook_page: tuple[Any, Path]
) -> None:
    _, shots = notebook_page
    videos = grid_cell.locator(".jp-OutputArea-output video").all()
    assert len(videos) == 4
    black = _check_frames(videos, shots, "grid")
    assert not black, black


def test_every_video_of_a_compare_grid_plays(grid_cell: Any) -> None:
    videos = grid_cell.locator(".jp-OutputArea-output video").all()
    assert len(videos) == 4
    for video in videos:
        state = L.plays(video)
        assert state["error"] is None and state["readyState"] >= 2, state
        assert state["currentTime"] > 0.2 and state["duration"] > 1, state


def test_show_shows_a_frame(notebook_page: tuple[Any, Path]) -> None:
    page, shots = notebook_page
    cell = L.run_cell(page, 2)
    L.wait_done(cell)
    videos = cell.locator(".jp-OutputArea-output video").all()
    assert videos
    black = _check_frames(videos, shots, "show")
    assert not black, black


def test_a_log_outside_the_served_folder_plays_or_says_what_to_do(
    notebook_page: tuple[Any, Path],
) -> None:
    page, shots = notebook_page
    cell = L.run_cell(page, 3)
    L.wait_done(cell, timeout=300_000)
    output = cell.locator(".jp-OutputArea-output").last
    output.screenshot(path=shots / "outside.png")
    video = output.locator("video").first
    state = L.plays(video) if video.count() else {"readyState": 0}
    shown = L.frame_shown(video)[0] if video.count() else False
    if state["readyState"] >= 2 and shown:
        return
    text = output.inner_text()
    assert "outside the folder" in text and "embed=True" in text, (state, text)
