"""Judgements in the run log: scores and pairwise preferences, checked, append-only, latest counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_API_KEY
from tests.runlog.conftest import db_for
from wanbook._errors import RunLogError, ValidationError
from wanbook._runlog.judgements import (
    add_preference,
    add_rating,
    preferences_frame,
    ratings_frame,
)
from wanbook._runlog.store import RunLog


@pytest.fixture
def log(tmp_path: Path) -> RunLog:
    log = RunLog.open(tmp_path, secrets=[TEST_API_KEY])
    yield log
    log.close()


def runs(log: RunLog, n: int, experiment: str = "study") -> list[str]:
    return [log.insert(model="wan2.2-t2v-plus", experiment=experiment) for _ in range(n)]


def test_a_raters_latest_score_counts_and_the_history_stays(log: RunLog) -> None:
    a, b = runs(log, 2)
    add_rating(log, a, 2, rater="ann")
    add_rating(log, a, 4, note="sharper on a second look", rater="ann")
    add_rating(log, a, 5, rater="bob", blind=True)
    add_rating(log, b, 1, rater="ann")
    latest = ratings_frame(log)
    assert list(zip(latest.run_id, latest.rater, latest.score, strict=True)) == [
        (a, "ann", 4),
        (a, "bob", 5),
        (b, "ann", 1),
    ]
    assert latest.loc[latest.rater == "bob", "blind"].tolist() == [True]
    assert str(latest["rated_at"].dtype) == "datetime64[ns, UTC]" or "UTC" in str(
        latest["rated_at"].dtype
    )
    assert len(ratings_frame(log, latest=False)) == 4
    assert ratings_frame(log, rater="bob").score.tolist() == [5]


def test_the_experiment_filter(log: RunLog) -> None:
    (a,) = runs(log, 1, "one")
    (b,) = runs(log, 1, "two")
    add_rating(log, a, 3, rater="ann")
    add_rating(log, b, 4, rater="ann")
    assert ratings_frame(log, experiment="two").run_id.tolist() == [b]


@pytest.mark.parametrize(
    ("score", "field"),
    [(0, "score"), (6, "score"), (3.0, "score"), (True, "score"), ("4", "score"), (None, "score")],
)
def test_a_bad_score_is_refused_and_nothing_is_written(
    log: RunLog, score: object, field: str
) -> None:
    (a,) = runs(log, 1)
    with pytest.raises(ValidationError) as info:
        add_rating(log, a, score, rater="ann")
    assert [p.field for p in info.value.problems] == [field]
    assert "an integer from 1 (bad) to 5 (excellent)" in str(info.value)
    assert ratings_frame(log, latest=False).empty


def test_every_problem_is_named_at_once(log: RunLog) -> None:
    with pytest.raises(ValidationError) as info:
        add_rating(log, "run-that-is-not-there", 9, note="x" * 501, rater="")
    assert [p.field for p in info.value.problems] == ["run_id", "rater", "note", "score"]
    assert "no run with this id" in str(info.value)
    assert "501 characters" in str(info.value) and "at most 500" in str(info.value)


def test_a_note_with_the_key_is_refused(log: RunLog) -> None:
    (a,) = runs(log, 1)
    with pytest.raises(RunLogError) as info:
        add_rating(log, a, 3, note=f"pasted {TEST_API_KEY}", rater="ann")
    assert TEST_API_KEY not in str(info.value)
    assert ratings_frame(log, latest=False).empty


def test_a_preference_is_one_pair_whichever_side_it_was_shown_on(log: RunLog) -> None:
    a, b = sorted(runs(log, 2))
    add_preference(log, b, a, b, rater="ann")  # shown as (b, a): stored as (a, b)
    add_preference(log, a, b, "tie", rater="ann")  # ann changed her mind
    add_preference(log, a, b, a, rater="bob", blind=True)
    frame = preferences_frame(log)
    assert list(zip(frame.run_a, frame.run_b, frame.winner, frame.rater, strict=True)) == [
        (a, b, "tie", "ann"),
        (a, b, a, "bob"),
    ]
    assert len(preferences_frame(log, latest=False)) == 3


def test_a_bad_preference_is_refused(log: RunLog) -> None:
    a, b = runs(log, 2)
    with pytest.raises(ValidationError) as info:
        add_preference(log, a, a, "left", rater="ann")
    assert [p.field for p in info.value.problems] == ["run_b", "winner"]
    assert preferences_frame(log, latest=False).empty


def test_the_default_rater_is_the_user(log: RunLog) -> None:
    (a,) = runs(log, 1)
    row = add_rating(log, a, 3)
    assert row["rater"] and row["rater"] == ratings_frame(log).rater.iloc[0]


def test_a_rating_survives_a_new_process(tmp_path: Path) -> None:
    """As a kernel restart: a score given in one process is read back by another."""
    with RunLog.open(tmp_path) as log:
        (a,) = runs(log, 1)
    code = (
        "import sys; import wanbook as wb; s = wb.Session(home=sys.argv[1], quiet=True);"
        " s.rate(sys.argv[2], 4, note='good motion', rater='ann')"
    )
    db = db_for(tmp_path)  # the PostgreSQL log, as WANBOOK_DB would name it
    env = {**os.environ, **({"WANBOOK_DB": db} if db else {})}
    subprocess.run([sys.executable, "-c", code, str(tmp_path), a], check=True, env=env)
    with RunLog.open(tmp_path) as log:
        frame = ratings_frame(log)
    assert (frame.run_id.tolist(), frame.score.tolist(), frame.note.tolist()) == (
        [a],
        [4],
        ["good motion"],
    )
