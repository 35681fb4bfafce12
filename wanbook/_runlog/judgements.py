"""Judgements of runs: a 1-5 score with a short note, and which of two runs is better.

Both live in the run log beside the runs (tables ``ratings`` and ``preferences``, migration
m005), append-only: judging again adds a row, and a rater's latest row is the one that counts, so
a study can be judged by several people, re-judged, and its history read back. A judgement is
checked before it is written (the run exists, the score is 1-5, the note is short), so a typo
never lands in a study's data.
"""

from __future__ import annotations

import getpass
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wanbook._errors import Problem, ValidationError
from wanbook._runlog.schema import utc_now

if TYPE_CHECKING:
    import pandas as pd

    from wanbook._runlog.store import RunLog

__all__ = [
    "NOTE_LIMIT",
    "SCORES",
    "add_preference",
    "add_rating",
    "default_rater",
    "preferences_frame",
    "ratings_frame",
]

SCORES = (1, 2, 3, 4, 5)
NOTE_LIMIT = 500  # characters: a short note, not an essay
RATING_COLUMNS = ("run_id", "rater", "score", "note", "blind", "rated_at")
PREFERENCE_COLUMNS = ("run_a", "run_b", "winner", "rater", "note", "blind", "rated_at")


def default_rater() -> str:
    """Who judges when nobody says: the operating system's user name."""
    try:
        return getpass.getuser() or "anonymous"
    except (OSError, KeyError):  # no user name in this environment (a container without one)
        return "anonymous"


def _check_common(
    log: RunLog, run_ids: Sequence[tuple[str, Any]], rater: Any, note: Any
) -> list[Problem]:
    problems: list[Problem] = []
    for field, run_id in run_ids:
        if not isinstance(run_id, str) or not run_id:
            problems.append(
                Problem(field, run_id, f"{run_id!r} is not a run_id; give the text id of a run")
            )
        elif log.get(run_id) is None:
            problems.append(
                Problem(field, run_id, f"{run_id!r}: no run with this id in {log.name!r}")
            )
    if not isinstance(rater, str) or not rater.strip() or len(rater) > 100:
        problems.append(
            Problem("rater", rater, f"{rater!r} is not allowed; give a name of 1-100 characters")
        )
    if note is not None and (not isinstance(note, str) or len(note) > NOTE_LIMIT):
        shown = f"{len(note)} characters" if isinstance(note, str) else repr(note)
        problems.append(
            Problem(
                "note", shown, f"{shown}: give text of at most {NOTE_LIMIT} characters, or None"
            )
        )
    return problems


def add_rating(
    log: RunLog,
    run_id: str,
    score: Any,
    *,
    note: str | None = None,
    rater: str | None = None,
    blind: bool = False,
) -> dict[str, Any]:
    """Record ``rater``'s score (1-5) of ``run_id``; return the row written.

    Raises :class:`ValidationError` naming every bad field before anything is written."""
    rater = default_rater() if rater is None else rater
    problems = _check_common(log, [("run_id", run_id)], rater, note)
    is_int = isinstance(score, numbers.Integral) and not isinstance(score, bool)
    if not (is_int and int(score) in SCORES):
        problems.append(
            Problem(
                "score",
                score,
                f"{score!r} is not allowed; give an integer from 1 (bad) to 5 (excellent)",
            )
        )
    if problems:
        raise ValidationError(problems, model=f"the rating of run {run_id!r}")
    row = {
        "run_id": run_id,
        "rater": rater.strip(),
        "score": int(score),
        "note": note or None,
        "blind": int(bool(blind)),
        "rated_at": utc_now(),
    }
    log.append("ratings", **row)
    return row


def add_preference(
    log: RunLog,
    run_a: str,
    run_b: str,
    winner: str,
    *,
    note: str | None = None,
    rater: str | None = None,
    blind: bool = False,
) -> dict[str, Any]:
    """Record that ``winner`` (``run_a``, ``run_b`` or ``"tie"``) is the better of two runs."""
    rater = default_rater() if rater is None else rater
    problems = _check_common(log, [("run_a", run_a), ("run_b", run_b)], rater, note)
    if run_a == run_b:
        problems.append(
            Problem("run_b", run_b, f"{run_b!r} is run_a too; compare two different runs")
        )
    if winner not in (run_a, run_b, "tie"):
        problems.append(
            Problem(
                "winner", winner, f"{winner!r} is not allowed; give {run_a!r}, {run_b!r} or 'tie'"
            )
        )
    if problems:
        raise ValidationError(problems, model=f"the preference between {run_a!r} and {run_b!r}")
    a, b = sorted((run_a, run_b))  # one pair, whichever side it was shown on
    row = {
        "run_a": a,
        "run_b": b,
        "winner": winner,
        "rater": rater.strip(),
        "note": note or None,
        "blind": int(bool(blind)),
        "rated_at": utc_now(),
    }
    log.append("preferences", **row)
    return row


def _frame(log: RunLog, sql: str, params: list[Any], columns: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    names, rows = log.query(sql, params)
    frame = pd.DataFrame(rows, columns=names)
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in names})
    frame["rated_at"] = pd.to_datetime(frame["rated_at"], utc=True, format="ISO8601")
    frame["blind"] = frame["blind"].astype("boolean")
    return frame[[*columns, *[n for n in names if n not in columns]]]


def _experiment_clause(column: str, experiment: str | None) -> tuple[str, list[Any]]:
    if experiment is None:
        return "", []
    return f" AND {column} IN (SELECT run_id FROM runs WHERE experiment = ?)", [experiment]


def ratings_frame(
    log: RunLog, *, experiment: str | None = None, rater: str | None = None, latest: bool = True
) -> pd.DataFrame:
    """The ratings as a DataFrame (run_id, rater, score, note, blind, rated_at), oldest first;
    ``latest``: only each rater's latest rating of each run (the one that counts)."""
    where, params = _experiment_clause("r.run_id", experiment)
    if rater is not None:
        where += " AND r.rater = ?"
        params.append(rater)
    if latest:
        where += (
            " AND r.id = (SELECT MAX(id) FROM ratings l"
            " WHERE l.run_id = r.run_id AND l.rater = r.rater)"
        )
    sql = (
        "SELECT r.run_id, r.rater, r.score, r.note, r.blind, r.rated_at FROM ratings r"
        f" WHERE 1 = 1{where} ORDER BY r.id"
    )
    frame = _frame(log, sql, params, RATING_COLUMNS)
    frame["score"] = frame["score"].astype("Int64")
    return frame


def preferences_frame(
    log: RunLog, *, experiment: str | None = None, rater: str | None = None, latest: bool = True
) -> pd.DataFrame:
    """The pairwise judgements (run_a, run_b, winner, rater, note, blind, rated_at)."""
    where, params = _experiment_clause("p.run_a", experiment)
    if rater is not None:
        where += " AND p.rater = ?"
        params.append(rater)
    if latest:
        where += (
            " AND p.id = (SELECT MAX(id) FROM preferences l WHERE l.run_a = p.run_a"
            " AND l.run_b = p.run_b AND l.rater = p.rater)"
        )
    sql = (
        "SELECT p.run_a, p.run_b, p.winner, p.rater, p.note, p.blind, p.rated_at"
        f" FROM preferences p WHERE 1 = 1{where} ORDER BY p.id"
    )
    return _frame(log, sql, params, PREFERENCE_COLUMNS)
