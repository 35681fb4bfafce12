"""The study report: per value of each axis, score with its interval, win rate, measures, cost
per good video; one ledger at a time; unknown costs unknown; one self-contained HTML page."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import wanbook as wb
from wanbook._reports.study import study_axes, study_table, t_interval, wilson


def test_t_interval() -> None:
    mean, low, high = t_interval([3.0, 4.0, 5.0])
    assert mean == 4.0
    assert high - mean == pytest.approx(4.303 * 1.0 / math.sqrt(3), rel=1e-4)
    assert t_interval([4.0])[0] == 4.0 and math.isnan(t_interval([4.0])[1])
    assert all(math.isnan(v) for v in t_interval([]))


def test_wilson() -> None:
    rate, low, high = wilson(8, 10)
    assert (
        rate == 0.8
        and low == pytest.approx(0.490, abs=1e-3)
        and high == pytest.approx(0.943, abs=1e-3)
    )
    assert wilson(0, 5)[1] == 0.0 and wilson(5, 5)[2] == 1.0
    assert math.isnan(wilson(0, 0)[0])


def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    runs = pd.DataFrame(
        {
            "backend": ["intl"] * 4,
            "model": ["a", "a", "b", "b"],
            "status": ["SUCCEEDED"] * 4,
            "cost": [0.1, 0.1, 0.5, math.nan],
            "currency": ["USD"] * 4,
            "created_at": pd.Timestamp("2026-12-01", tz="UTC"),
            "prompt": ["p"] * 4,
            "seed": [1, 2, 1, 2],
            "param_prompt_extend": [False, True, False, True],
            "queue_seconds": [10.0, 20.0, 10.0, 20.0],
            "run_seconds": [50.0, 50.0, 70.0, 70.0],
            "tags": [
                ["var:animal=fox"],
                ["var:animal=owl"],
                ["var:animal=fox"],
                ["var:animal=owl"],
            ],
        },
        index=pd.Index(["r1", "r2", "r3", "r4"], name="run_id"),
    )
    ratings = pd.DataFrame(
        {
            "run_id": ["r1", "r1", "r2", "r3", "r4"],
            "rater": ["ann", "bob", "ann", "ann", "ann"],
            "score": [5, 3, 4, 2, 5],
        }
    )
    preferences = pd.DataFrame(
        {
            "run_a": ["r1", "r2"],
            "run_b": ["r3", "r4"],
            "winner": ["r1", "tie"],
            "rater": ["ann"] * 2,
        }
    )
    return runs, ratings, preferences


def test_axes_are_the_treatments_that_vary() -> None:
    runs, _, _ = frames()
    runs["param_audio"] = [False, False, True, True]  # follows the model: not an axis of its own
    assert study_axes(runs) == ["model", "param_prompt_extend", "var:animal"]
    one_model = runs[runs["model"] == "a"]
    assert study_axes(one_model) == ["param_prompt_extend", "var:animal"]


def test_the_table() -> None:
    runs, ratings, preferences = frames()
    table = study_table(runs, ratings, preferences).set_index(["axis", "value"])
    a, b = table.loc[("model", "a")], table.loc[("model", "b")]
    assert a["runs"] == 2 and a["rated"] == 2
    assert a["mean_score"] == pytest.approx((4.0 + 4.0) / 2)  # r1: (5+3)/2, r2: 4
    assert b["mean_score"] == pytest.approx(3.5)
    assert (b["score_low"], b["score_high"]) == (1.0, 5.0)  # two runs: the interval is the scale
    assert a["good"] == 2 and b["good"] == 1
    assert a["comparisons"] == 2 and a["win_rate"] == pytest.approx(0.75)  # a win and a tie
    assert b["win_rate"] == pytest.approx(0.25)
    assert a["cost_per_video"] == pytest.approx(0.1) and a["cost_per_good_video"] == pytest.approx(
        0.1
    )
    assert math.isnan(b["cost_per_video"]) and math.isnan(b["cost_per_good_video"])  # r4 unknown
    assert a["seconds_per_video"] == pytest.approx(65.0)
    fox = table.loc[("var:animal", "fox")]
    assert fox["runs"] == 2 and fox["mean_score"] == pytest.approx(3.0)
    assert set(table.loc["param_prompt_extend"].index) == {"False", "True"}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wb.Session]:
    with wb.Session(home=tmp_path_factory.mktemp("study"), quiet=True, emulator=True) as s:
        yield s


def test_a_study_end_to_end(session: wb.Session, tmp_path: Path) -> None:
    grid = wb.compare(
        "a {animal} at dusk",
        vars={"animal": ["fox", "owl"]},
        models=["wan2.2-t2v-plus", "wan2.1-t2v-turbo"],
        seeds=[3],
        size="832*480",
        experiment="dusk",
        session=session,
        progress=False,
    )
    ids = dict(zip(zip(grid["model"], grid["animal"], strict=True), grid["run_id"], strict=True))
    for (model, _), run_id in ids.items():
        session.rate(run_id, 5 if model == "wan2.2-t2v-plus" else 2, rater="ann", blind=True)
    session.prefer(ids[("wan2.2-t2v-plus", "fox")], ids[("wan2.1-t2v-turbo", "fox")],
                   ids[("wan2.2-t2v-plus", "fox")], rater="ann")  # fmt: skip
    report = wb.study_report("dusk", session=session)
    assert report.ledger == "emulator" and report.raters == ["ann"]
    assert report.best("model") == "wan2.2-t2v-plus"
    by_model = report.axis("model")
    assert by_model.loc["wan2.2-t2v-plus", "good"] == 2
    assert by_model.loc["wan2.2-t2v-plus", "cost_per_good_video"] == pytest.approx(0.1)
    assert math.isnan(by_model.loc["wan2.1-t2v-turbo", "cost_per_good_video"])  # none good
    assert by_model["motion"].notna().all() and by_model["sharpness"].gt(0).all()
    page = report._repr_html_()
    assert "emulator rehearsal" in page and "data:image/png;base64," in page
    out = report.to_html(tmp_path / "study.html")
    text = out.read_text("utf-8")
    assert "<script" not in text and "http" not in text.replace("http-equiv", "")
    assert "By model" in text and "By var:animal" in text


def test_an_unknown_threshold_is_refused(session: wb.Session) -> None:
    with pytest.raises(ValueError, match="threshold=7 is not a score"):
        wb.study_report("dusk", session=session, threshold=7)
