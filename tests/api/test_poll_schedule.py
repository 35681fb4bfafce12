"""The adaptive poll schedule: pure rules (table-driven), a simulated watch, and the history query."""

from __future__ import annotations

import random

import pytest

from tests.poll_simulator import sdk_queries, simulate_watch
from wanbook._api.poll_schedule import (
    Expectation,
    Look,
    Spread,
    Tuning,
    due,
    expect,
    from_history,
    next_delay,
    prior,
    quantile,
)
from wanbook.emulator._tasks import timing

T = Tuning()
# Like the emulator at time scale 1/15: queue 0.53-1.07 s, run 3.33 s exactly.
HIST = Expectation(
    queue=Spread(0.6, 0.8, 1.0),
    run=Spread(3.33, 3.33, 3.33),
    total=Spread(3.93, 4.13, 4.33),
    trusted=True,
    source="test",
)
REAL = prior("480P", 5)  # the real service, no history: about a minute, wide
GUESS = prior("480P", 5, trusted=False)  # a base URL of unknown pace


@pytest.mark.parametrize(
    ("xs", "q", "want"),
    [
        ([1.0], 0.5, 1.0),
        ([1.0, 3.0], 0.5, 2.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 1.0, 5.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0.85, 4.4),
        ([0.0, 10.0], 0.1, 1.0),
    ],
)
def test_quantile(xs: list[float], q: float, want: float) -> None:
    assert quantile(xs, q) == pytest.approx(want)


@pytest.mark.parametrize(
    ("look", "want"),
    [
        (Look(elapsed=0.0), 4.33),  # no news: when most similar tasks were done
        (Look(elapsed=1.0, status="RUNNING", started=0.9), 0.9 + 3.33 + T.lag),  # aim at start+run
        (Look(elapsed=1.0, status="RUNNING", started=0.5), 0.5 + 3.33 + T.lag),
        (Look(elapsed=0.0, status="PENDING", seen_at=0.0), 4.33),  # create's answer
        (Look(elapsed=4.4, status="PENDING", seen_at=4.4), 4.4 + 3.33),  # queued late: a run left
        (Look(elapsed=2.0, status="RUNNING"), 4.33),  # RUNNING without a start time
    ],
)
def test_due(look: Look, want: float) -> None:
    assert due(look, HIST) == pytest.approx(want)


WATCHED = Tuning(look_when_running=True)


@pytest.mark.parametrize(
    ("look", "want"),
    [
        (Look(elapsed=0.0), 1.0 + T.lag),  # when the queue has probably ended
        (Look(elapsed=0.0, status="PENDING", seen_at=0.0), 1.0 + T.lag),  # create's answer
        (Look(elapsed=1.1, status="PENDING", seen_at=1.1), 1.1 + 3.33),  # one such look only
        (Look(elapsed=1.1, status="RUNNING", started=0.9), 0.9 + 3.33 + T.lag),  # then as before
    ],
)
def test_a_watched_task_gets_one_look_while_it_renders(look: Look, want: float) -> None:
    """A form's status line shows RUNNING: without this look the schedule aims at the end."""
    assert due(look, HIST, WATCHED) == pytest.approx(want)


@pytest.mark.parametrize(
    ("look", "exp", "u", "want"),
    [
        # trusted, not due yet: one wait straight to the aimed time (u = 0.5: no jitter)
        (Look(elapsed=0.0, status="PENDING", seen_at=0.0), HIST, 0.5, 4.33),
        (Look(elapsed=3.0, status="PENDING", seen_at=0.0), HIST, 0.5, 1.33),
        # jitter stays inside the uncertainty window: at most ±10% of its width
        (Look(elapsed=0.0), HIST, 0.0, 4.33 - 0.1 * 0.4),
        (Look(elapsed=0.0), HIST, 0.999, 4.33 + 0.0998 * 0.4),
        # a one-minute task: never blind longer than the cap
        (Look(elapsed=0.0), REAL, 0.0, 15.0),
        (Look(elapsed=0.0), REAL, 0.5, 15.0 * 0.95),
        # untrusted: ramp up from 1 s by 1.5x per poll, still capped
        (Look(elapsed=0.0, polls=0), GUESS, 0.5, 1.0),
        (Look(elapsed=5.0, polls=3), GUESS, 0.5, 3.375),
        (Look(elapsed=20.0, polls=9), GUESS, 0.0, 15.0),
        # overdue: soon (half the window, 0.2 s), then backing off 1.5x, up to the cap
        (Look(elapsed=4.5, status="PENDING", seen_at=0.0), HIST, 0.5, 0.2),
        (Look(elapsed=5.0, status="PENDING", seen_at=0.0, overdue=2), HIST, 0.5, 0.45),
        (Look(elapsed=99.0, status="RUNNING", overdue=40), HIST, 0.5, 15.0),
        # started known and the run time exact: overdue looks are 2% of the task apart
        (Look(elapsed=5.0, status="RUNNING", started=0.8, overdue=0), HIST, 0.5, 0.02 * 4.13),
        # a Look just short of the aim does not wait less than the floor
        (Look(elapsed=4.3, status="PENDING", seen_at=0.0), HIST, 0.5, 0.2),
    ],
)
def test_next_delay(look: Look, exp: Expectation, u: float, want: float) -> None:
    assert next_delay(look, exp, T, u) == pytest.approx(want, abs=1e-9)


def test_every_delay_is_between_floor_and_cap() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        a, b, c = sorted(rng.uniform(0, 400) for _ in range(3))
        exp = Expectation(
            Spread(a / 4, b / 4, c / 4), Spread(a, b, c), Spread(a, b, c), rng.random() < 0.5, "x"
        )
        look = Look(
            elapsed=rng.uniform(0, 800),
            status=rng.choice([None, "PENDING", "RUNNING"]),
            seen_at=rng.uniform(0, 800),
            started=rng.choice([None, rng.uniform(0, 100)]),
            polls=rng.randrange(50),
            overdue=rng.randrange(500),
        )
        assert T.floor <= next_delay(look, exp, T, rng.random()) <= T.cap


def test_prior_brackets_the_emulator_and_history_wins() -> None:
    for tier, seconds in [("480P", 5), ("720P", 10), ("1080P", 15)]:
        exp = prior(tier, seconds, time_scale=1 / 60)
        for task_id in ("a", "b", "c", "d"):
            queue, run = timing(tier, seconds, task_id, 1 / 60)
            assert run == pytest.approx(exp.run.likely)
            assert exp.queue.early * 0.85 <= queue <= exp.queue.late * 1.1
    assert from_history([(1.0, 3.0)] * 2) is None  # too few
    assert expect("480P", 5, [(1.0, 3.0)] * 2).source == "catalogue"
    hist = expect("480P", 5, [(1.0, 3.0), (2.0, 3.0), (None, 3.0), (3.0, 3.0)])
    assert hist.trusted and hist.source == "history of 3 similar runs"
    assert (hist.queue.likely, hist.run.late, hist.total.early) == (2.0, 3.0, pytest.approx(4.2))
    assert not prior("480P", 5, trusted=False).trusted


# ------------------------------------------------------------------ a simulated watch


@pytest.mark.parametrize(
    ("case", "exp", "queue", "run", "max_queries", "max_late"),
    [
        # history like the emulator's: one query for most tasks, noticed well within 10%
        ("history, typical", HIST, 0.8, 3.33, 1, 0.45),
        ("history, short queue", HIST, 0.55, 3.33, 1, 0.6),
        ("history, long queue", HIST, 1.05, 3.33, 2, 0.3),
        # a much slower task than history says: backs off, still never blind for long
        ("history, 3x slower", HIST, 3.0, 10.0, 12, 15.0),
        # the real service without history: within the cap, a handful of queries
        ("real prior", REAL, 12.0, 50.0, 6, 15.0),
        # an emulator at 1/60 behind a base URL: the ramp notices a 1 s task within ~1 s
        ("untrusted, fast", GUESS, 0.2, 0.83, 2, 1.0),
    ],
)
def test_simulated_watch(
    case: str, exp: Expectation, queue: float, run: float, max_queries: int, max_late: float
) -> None:
    queries, late = simulate_watch(exp, queue, run)
    assert queries <= max_queries, case
    assert 0 <= late <= max_late, case


def test_a_third_of_the_sdk_queries_at_real_pace() -> None:
    """With history, a one-minute task costs at most a third of the SDK's queries and is noticed
    within a few seconds."""
    rng = random.Random(5)
    samples = [(rng.uniform(8, 16), rng.uniform(47, 53)) for _ in range(20)]
    exp = expect("480P", 5, samples)
    ours, theirs, lates = 0, 0, []
    for i in range(50):
        q, r = rng.uniform(8, 16), rng.uniform(47, 53)
        n, late = simulate_watch(exp, q, r, rng_seed=i)
        ours, theirs = ours + n, theirs + sdk_queries(q + r)[0]
        lates.append(late)
    assert ours <= theirs / 3
    assert sorted(lates)[len(lates) // 2] <= 0.1 * 62
