"""Named budgets shared by processes, on both engines (the per-user SQLite file; the team's
PostgreSQL database): reserve before sending, settle to the real cost, release on failure, expire
the reservations of processes that are gone; rehearsals counted apart; a database lost mid-run
refuses what is not sent yet and loses nothing sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wanbook as wb
from tests.engine.test_batch import FAST
from tests.fakes import FakeClock
from tests.pg_outage import Outage
from wanbook._api.account_state import AccountStore, Owner
from wanbook._cli.main import main
from wanbook._engine.shared_budget import BudgetStateWarning, NamedBudget, budget_set, budgets
from wanbook._errors import BudgetExceededError, ConfigError
from wanbook.emulator import Emulator, Faults

WAN22 = dict(model="wan2.2-t2v-plus", size="832*480", seed=1, prompt_extend=False)  # 0.10 USD


def prep(**changes: Any) -> Any:
    with wb.Session(quiet=True) as s:
        return s.prepare(wb.Request(prompt="a fox", **{**WAN22, **changes}))


Make = Callable[..., AccountStore]


def test_reserve_settle_release(store_of: Make) -> None:
    clock = FakeClock()
    store = store_of(clock)
    budget_set("team", 0.35, store=store)
    team = NamedBudget(store, "team", rehearsal=False)
    draw = team.reserve([prep(), prep()])  # 0.20 reserved
    assert team.left() == pytest.approx(0.15)
    with pytest.raises(BudgetExceededError, match=r"budget 'team' has 0.0000 spent and 0.2000"):
        team.reserve([prep(), prep()])  # 0.40 more: refused, nothing reserved
    draw.sending(0, "run-a")
    draw.settle(0, {"run_id": "run-a", "status": "SUCCEEDED", "cost": 0.05})  # real cost
    draw.release(1)  # never sent
    (row,) = budgets(store=store).to_dict("records")
    assert row["spent"] == pytest.approx(0.05) and row["reserved"] == 0.0
    assert row["left"] == pytest.approx(0.30) and row["currency"] == "USD"
    failed = team.reserve([prep()])
    failed.sending(0, "run-b")
    failed.settle(0, {"run_id": "run-b", "status": "NOT_CREATED", "cost": 0.0})  # released
    assert team.left() == pytest.approx(0.30)


def test_a_gone_process_frees_what_it_never_sent_but_not_what_it_sent(store_of: Make) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    clock = FakeClock()
    me = Owner.me()
    dead = store_of(clock, Owner(int(done.stdout), me.host, "1"))
    budget_set("team", 1.0, store=dead)
    draw = NamedBudget(dead, "team", rehearsal=False).reserve([prep(), prep(), prep()])
    draw.sending(0, "run-sent")  # its task may run and be billed after the kernel died
    mine = NamedBudget(store_of(clock, me), "team", rehearsal=False)
    assert mine.left() == pytest.approx(0.90)  # only the sent one still holds
    clock.advance(24 * 3600 + 1)  # never settled: after 24 h it counts as spent
    assert budgets(store=mine.store).to_dict("records")[0]["spent"] == pytest.approx(0.10)


def test_another_machines_reservation_holds_until_it_expires(store_of: Make) -> None:
    """A process of another machine cannot be checked: what it reserved holds (never spend
    more than the budget) until it is released, sent and settled, or 24 h pass."""
    clock = FakeClock()
    theirs = store_of(clock, Owner(999_999_999, "another-machine", "1"))  # no such pid here
    budget_set("team", 1.0, store=theirs)
    NamedBudget(theirs, "team", rehearsal=False).reserve([prep(), prep()])
    mine = NamedBudget(store_of(clock, Owner.me()), "team", rehearsal=False)
    assert mine.left() == pytest.approx(0.80)
    clock.advance(24 * 3600 + 1)
    assert mine.left() == pytest.approx(1.0)


def test_resume_settles_a_run_sent_by_another_session(store_of: Make) -> None:
    from wanbook._engine.shared_budget import settle_run

    store = store_of(FakeClock())
    budget_set("team", 1.0, store=store)
    draw = NamedBudget(store, "team", rehearsal=False).reserve([prep()])
    draw.sending(0, "run-x")
    settle_run(store, {"run_id": "run-x", "status": "SUCCEEDED", "cost": 0.07})
    row = budgets(store=store).to_dict("records")[0]
    assert row["spent"] == pytest.approx(0.07) and row["reserved"] == 0.0


def test_refusals_say_why(store_of: Make) -> None:
    store = store_of(FakeClock())
    with pytest.raises(BudgetExceededError, match="no budget named 'nope'.*budget set nope"):
        NamedBudget(store, "nope", rehearsal=False).reserve([prep()])
    budget_set("yuan", 10, "CNY", store=store)
    with pytest.raises(BudgetExceededError, match="in USD but budget 'yuan' is in CNY"):
        NamedBudget(store, "yuan", rehearsal=False).reserve([prep()])
    with pytest.raises(ConfigError, match="must be a number"):
        budget_set("bad", -1, store=store)
    with pytest.raises(ConfigError, match="currency"):
        budget_set("bad", 1, "dollars", store=store)


def test_rehearsals_are_counted_apart_from_real_spend(store_of: Make) -> None:
    store = store_of(FakeClock())
    budget_set("team", 0.10, store=store)
    NamedBudget(store, "team", rehearsal=True).reserve([prep()])
    NamedBudget(store, "team", rehearsal=False).reserve([prep()])  # still room: real money
    row = budgets(store=store).to_dict("records")[0]
    assert row["reserved"] == pytest.approx(0.10) and row["rehearsal_reserved"] == pytest.approx(
        0.10
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_an_unusable_state_refuses_before_sending(engine: str, tmp_path: Path) -> None:
    if engine == "sqlite":
        blocker = tmp_path / "file"
        blocker.write_text("")
        store = AccountStore(blocker / "account.sqlite")
    else:  # a server that is not there
        store = AccountStore(database=f"postgresql://nobody@/nowhere?host={tmp_path}")
    with pytest.raises(BudgetExceededError, match="cannot be checked.*nothing was sent"):
        NamedBudget(store, "team", rehearsal=False).reserve([prep()])
    with pytest.raises(ConfigError, match="state is unusable"):
        budget_set("team", 1, store=store)


@pytest.fixture
def outage(pg_server: Any) -> Iterator[Outage]:
    made = Outage(pg_server)
    yield made
    made.drop()


def test_a_database_lost_mid_run_refuses_what_is_not_sent_and_loses_nothing_sent(
    outage: Outage,
) -> None:
    """Reserved and sent before the outage: the run goes on (a warning), and its reservation
    stays counted at its estimate until a resume settles it once the database is back."""
    from wanbook._engine.shared_budget import settle_run

    store = AccountStore(database=outage.url)
    try:
        budget_set("team", 0.25, store=store)
        team = NamedBudget(store, "team", rehearsal=False)
        draw = team.reserve([prep()])
        draw.sending(0, "run-out")  # its create goes out
        outage.cut()
        with pytest.raises(BudgetExceededError, match="cannot be checked.*nothing was sent"):
            team.reserve([prep()])
        with pytest.warns(BudgetStateWarning, match="run goes on, its cost is in the run log"):
            draw.settle(0, {"run_id": "run-out", "status": "SUCCEEDED", "cost": 0.05})
        outage.restore()
        (row,) = budgets(store=store).to_dict("records")
        assert row["reserved"] == pytest.approx(0.10) and row["spent"] == 0.0  # never less
        settle_run(store, {"run_id": "run-out", "status": "SUCCEEDED", "cost": 0.05})  # resume
        (row,) = budgets(store=store).to_dict("records")
        assert row["spent"] == pytest.approx(0.05) and row["reserved"] == 0.0
        team.reserve([prep()])  # the database is back: reserving works again
    finally:
        store.close()


def test_a_session_draws_on_a_named_budget(db_url: str) -> None:
    wb.budget_set("notebooks", 0.25)
    options = {"time_scale": FAST, "rate_limits": False}
    with wb.Session(quiet=True, budget="notebooks", emulator_options=options) as s:
        run = s.generate("a fox", **WAN22)
        assert run.status == "SUCCEEDED"
        assert s.budget_left() == pytest.approx(0.15)
        with pytest.raises(BudgetExceededError, match="budget 'notebooks'"):
            s.submit_many([wb.Request(prompt="a fox", **WAN22)] * 2)  # 0.20 > 0.15: nothing sent
        outcomes = s.submit_many([wb.Request(prompt="a fox", **WAN22)])
        assert [o.ok for o in outcomes] == [True]
    (row,) = wb.budgets().to_dict("records")
    assert row["rehearsal_spent"] == pytest.approx(0.20) and row["rehearsal_reserved"] == 0.0
    assert row["spent"] == 0.0  # the emulator is a rehearsal: no real money


def test_a_failed_create_gives_its_reservation_back(db_url: str) -> None:
    wb.budget_set("team", 1.0)
    options = {"time_scale": FAST, "faults": Faults(throttle_next=1000)}
    with wb.Session(quiet=True, budget="team", deadline=1.0, emulator_options=options) as s:
        with pytest.raises(wb.RateLimitError):
            s.generate("a fox", **WAN22)
        assert s.budget_left() == pytest.approx(1.0)


def test_cli_budget_set_and_show(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["budget", "set", "team", "20", "--currency", "usd"]) == 0
    assert "budget team: 20 USD" in capsys.readouterr().out
    assert main(["budget", "show", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "team" and row["left"] == 20.0
    assert main(["budget", "show"]) == 0
    assert "team" in capsys.readouterr().out
    if db_url.startswith("postgresql"):  # kept in the team's database, seen from any machine
        store = AccountStore(database=db_url)
        try:
            assert budgets(store=store)["name"].tolist() == ["team"]
        finally:
            store.close()
        assert not list(Path(os.environ["WANBOOK_STATE_DIR"]).glob("*.sqlite"))


CHILD = """
import sys
import wanbook as wb
from wanbook._errors import BudgetExceededError

with wb.Session(quiet=True, budget="shared") as s:
    for i in range(int(sys.argv[1])):
        try:
            s.generate("a fox", model="wan2.2-t2v-plus", size="832*480", seed=i,
                       prompt_extend=False)
        except BudgetExceededError:
            pass
"""


@pytest.mark.slow
def test_two_processes_on_one_named_budget_never_spend_more_than_it(
    db_url: str, tmp_path: Path
) -> None:
    """With WANBOOK_DB on PostgreSQL each process has its own state folder too (as on two
    machines): only the database joins them. Else they share the user's state folder."""
    on_pg = db_url.startswith("postgresql")
    wb.budget_set("shared", 0.55)  # room for 5 runs of 0.10; each process asks for 4
    with Emulator(time_scale=FAST, rate_limits=True) as emu:
        procs = []
        for n in range(2):
            env = {k: v for k, v in os.environ.items() if not k.startswith("DASHSCOPE_")}
            env |= {"WANBOOK_BASE_URL": emu.base_url, "WANBOOK_HOME": str(tmp_path / f"h{n}")}
            if on_pg:
                env["WANBOOK_STATE_DIR"] = str(tmp_path / f"state-{n}")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", CHILD, "4"], env=env, stderr=subprocess.PIPE, text=True
                )
            )
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        created = len(emu.service.store._tasks)
    (row,) = wb.budgets().to_dict("records")
    assert row["spent"] + row["reserved"] <= 0.55 + 1e-9
    assert row["spent"] == pytest.approx(0.50) and row["reserved"] == 0.0
    assert created == 5  # 8 asked, 5 fit: the other 3 were refused before sending
    if on_pg:  # the state was in the database, not in any state folder
        assert not list(tmp_path.glob("state-*/account.sqlite"))


def test_a_state_lost_after_sending_only_warns(store_of: Make, tmp_path: Path) -> None:
    """Once a run is sent it may be paid for: the run goes on, its cost is in its run log."""
    store = store_of(FakeClock())
    budget_set("team", 1.0, store=store)
    draw = NamedBudget(store, "team", rehearsal=False).reserve([prep()])
    blocker = tmp_path / "file"
    blocker.write_text("")
    draw.budget.store = AccountStore(blocker / "account.sqlite")  # unusable from now on
    with pytest.warns(BudgetStateWarning, match="run goes on"):
        draw.settle(0, {"run_id": "r", "status": "SUCCEEDED", "cost": 0.1})


def test_cli_generate_on_an_unknown_budget_sends_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["generate", "--model", "wan2.2-t2v-plus", "--prompt", "p", "--size", "832*480"]
    assert main([*args, "--budget", "nobody"]) == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]  # the error is one line
    assert last.startswith("wanbook: error: refused:") and "no budget named 'nobody'" in last
    assert main([*args, "--budget", "-1"]) == 2  # a number keeps its meaning, and is checked
    assert "must be a number >= 0" in capsys.readouterr().err


def test_a_budget_that_cannot_be_read_shows_no_amount_and_refuses_at_send() -> None:
    """The form asks budget_left() on every change: an unknown name must not break it."""
    with wb.Session(quiet=True, budget="nobody") as s:
        assert s.budget_left() is None
        with pytest.raises(BudgetExceededError, match="no budget named 'nobody'"):
            s.generate("a fox", **WAN22)
        assert s._emulator is None  # refused before anything started


def test_a_rehearsal_refusal_says_it_counts_rehearsals(store_of: Make) -> None:
    store = store_of(FakeClock())
    budget_set("team", 0.15, store=store)
    trial = NamedBudget(store, "team", rehearsal=True)
    trial.reserve([prep()])
    with pytest.raises(BudgetExceededError, match="reserved by running sessions in rehearsals"):
        trial.reserve([prep()])
