"""Judging in the notebook: scores and notes saved at once, blind and pairwise, from a widget
driven without a browser (the browser test clicks the same controls in JupyterLab)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import wanbook as wb
from wanbook._notebook.judging import pairs_of


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wb.Session]:
    with wb.Session(home=tmp_path_factory.mktemp("judging"), quiet=True, emulator=True) as s:
        yield s


@pytest.fixture(scope="module")
def grid(session: wb.Session) -> Any:
    return wb.compare(
        "a heron takes off",
        models=["wan2.2-t2v-plus", "wan2.1-t2v-turbo"],
        seeds=[1, 2],
        size="832*480",
        experiment="herons",
        session=session,
        progress=False,
    )


def test_a_score_and_a_note_are_saved_at_once(session: wb.Session, grid: Any) -> None:
    panel = grid.judge(session=session, rater="ann")
    assert len(panel.cells) == 4 and "judging as ann" in panel.status.value
    cell = panel.cells[0]
    assert "<video " in cell.widget.children[0].outputs[0]["data"]["text/html"]
    cell.score.value = "4"
    got = session.ratings(rater="ann")
    assert got[["run_id", "score"]].values.tolist() == [[cell.run_id, 4]]
    cell.note.value = "good wings"
    got = session.ratings(rater="ann")
    assert got["note"].tolist() == ["good wings"] and len(session.ratings(latest=False)) == 2
    assert "saved: 4 for" in panel.status.value
    again = grid.judge(session=session, rater="ann")  # a later sitting shows what was given
    same = next(c for c in again.cells if c.run_id == cell.run_id)
    assert (same.score.value, same.note.value) == ("4", "good wings")


def test_a_bad_note_is_said_and_not_saved(session: wb.Session, grid: Any) -> None:
    panel = grid.judge(session=session, rater="bob")
    cell = panel.cells[1]
    cell.note.value = "x" * 600
    cell.score.value = "3"
    assert "600 characters" in panel.status.value
    assert session.ratings(rater="bob").empty


def test_blind_hides_the_labels_and_shuffles_until_revealed(session: wb.Session, grid: Any) -> None:
    open_panel = grid.judge(session=session, rater="cy")
    blind = grid.judge(session=session, rater="cy", blind=True, seed=3)
    assert [c.run_id for c in blind.cells] != [c.run_id for c in open_panel.cells]
    assert sorted(c.run_id for c in blind.cells) == sorted(c.run_id for c in open_panel.cells)
    for cell in blind.cells:
        assert cell.label.layout.display == "none"
        html = cell.widget.children[0].outputs[0]["data"]["text/html"]
        assert "wan2." not in html and "seed" not in html and "USD" not in html
    blind.cells[0].score.value = "5"
    assert session.ratings(rater="cy")["blind"].tolist() == [True]
    blind.reveal()
    assert all(c.label.layout.display == "" for c in blind.cells)
    assert "wan2." in blind.cells[0].label.value


def test_pairwise_records_which_is_better(session: wb.Session, grid: Any) -> None:
    panel = grid.judge(session=session, rater="dee", pairwise=True, blind=True)
    assert len(panel.cells) == 2  # one pair per seed: the two models
    pair = panel.cells[0]
    pair.choice.value = pair.right
    pair.note.value = "smoother"
    prefs = session.preferences(rater="dee")
    assert len(prefs) == 1
    row = prefs.iloc[0]
    assert row["winner"] == pair.right and row["note"] == "smoother" and bool(row["blind"])
    assert {row["run_a"], row["run_b"]} == {pair.left, pair.right}


def test_pairs_differ_on_the_axis_and_share_the_rest(session: wb.Session, grid: Any) -> None:
    records = session.records(grid)
    pairs = pairs_of(records, "model")
    assert len(pairs) == 2
    for a, b in pairs:
        assert a["model"] != b["model"] and a["seed"] == b["seed"]


def test_nothing_to_judge_is_said(session: wb.Session) -> None:
    with pytest.raises(ValueError, match="none of these runs has a video"):
        wb.judge([], session=session)


@pytest.mark.slow
def test_a_rating_survives_a_kernel_restart(tmp_path: Any) -> None:
    """A score clicked in one kernel (the widget, driven as a click would) is read back after the
    kernel is restarted: it is in the run log, not in the kernel."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    printed: list[str] = []

    def run(code: str) -> None:
        reply = kc.execute_interactive(
            code,
            timeout=120,
            output_hook=lambda m: printed.append(m["content"].get("text", "")),
        )
        assert reply["content"]["status"] == "ok", reply["content"]

    try:
        run(
            "import wanbook as wb\n"
            "s = wb.Session(home='runs', emulator=True, quiet=True)\n"
            "run = s.generate('a heron', model='wan2.2-t2v-plus', size='832*480', seed=1)\n"
            "panel = wb.judge([run], session=s, rater='ann')\n"
            "panel.cells[0].score.value = '5'\n"
            "s.close()"
        )
        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=60)
        printed.clear()
        run(
            "import wanbook as wb\n"
            "print(wb.Session(home='runs', quiet=True).ratings()[['rater', 'score']].values.tolist())"
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "".join(printed).strip() == "[['ann', 5]]"
