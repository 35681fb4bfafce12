"""Shared fixtures: a clean environment for every test, and a test key that must never leak."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import pg as _pg
from tests.required import IN_CI, unavailable

# A key-shaped secret used by tests. `pytest_sessionfinish` below greps everything a test run
# writes for it; it must never appear in a file, a log, a repr or an error message.
TEST_API_KEY = "sk-wanbooktest" + "0123456789abcdef0123"


_STATE: list[str] = []
# Read once, before clean_env hides every WANBOOK_* variable from the tests.
_PG_ENV = {
    name: os.environ.get(name)
    for name in ("WANBOOK_TEST_PG", "WANBOOK_TEST_PG_BIN", "WANBOOK_REQUIRE_PG")
}


def pytest_configure(config: pytest.Config) -> None:
    """Sessions made before a test's own environment (module-scoped fixtures) keep their
    account-wide state here too, never in the user's real state folder."""
    _STATE.append(tempfile.mkdtemp(prefix="wanbook-test-state-"))
    os.environ["WANBOOK_STATE_DIR"] = _STATE[-1]


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.pop("WANBOOK_STATE_DIR", None)
    while _STATE:
        shutil.rmtree(_STATE.pop(), ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's real settings; every test gets its own WANBOOK_HOME and its
    own account-wide state (WANBOOK_STATE_DIR: never the user's real one)."""
    for name in list(os.environ):
        if (
            name == "DASHSCOPE_API_KEY"
            or name.startswith("WANBOOK_")
            or name.startswith("DASHSCOPE_")
            or name.startswith("AWS_")  # never the developer's own object store or keys
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path_factory.mktemp("wanbook-home")))
    monkeypatch.setenv("WANBOOK_STATE_DIR", str(tmp_path_factory.mktemp("wanbook-state")))


@pytest.fixture
def api_key() -> str:
    return TEST_API_KEY


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the whole run: grep everything the tests wrote for the test key. It must be absent."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = factory.getbasetemp()
    except (OSError, ValueError):
        return
    needle = TEST_API_KEY.encode()
    leaks = [
        str(path)
        for path in base.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]
    if leaks:
        session.config.get_terminal_writer().line(
            f"THE TEST API KEY LEAKED into {len(leaks)} file(s): {leaks[:5]}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ------------------------------------------------------------------------------ PostgreSQL
@pytest.fixture(scope="session")
def pg_server() -> object:
    """A throwaway PostgreSQL for the session (tests/pg.py), or WANBOOK_TEST_PG. Missing, it
    skips with the reason; with WANBOOK_REQUIRE_PG=1 (.ci/run) or CI set it fails instead."""
    saved = {name: os.environ.get(name) for name in ("WANBOOK_TEST_PG", "WANBOOK_TEST_PG_BIN")}
    for name in saved:
        if _PG_ENV[name]:
            os.environ[name] = str(_PG_ENV[name])
    try:
        server = _pg.start()
    except _pg.NoServer as exc:
        required = IN_CI or _PG_ENV["WANBOOK_REQUIRE_PG"] == "1"
        unavailable(f"no PostgreSQL for the PostgreSQL tests: {exc}", required=required)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: _pg.Server) -> object:
    """A URL of a fresh, empty schema of the session's PostgreSQL (dropped after the test)."""
    name, url = pg_server.new_schema()
    yield url
    pg_server.drop_schema(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The run log's database on each engine: a SQLite file, then a fresh PostgreSQL schema.
    Also set as WANBOOK_DB, so that sessions and subprocesses of the test use it."""
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("db") / "runs.sqlite")
    else:
        url = request.getfixturevalue("pg_url")
    request.getfixturevalue("monkeypatch").setenv("WANBOOK_DB", url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_of(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Makes several processes' views of one account state, each with its own connection and
    owner: ``store_of(clock=None, owner=None)``. One SQLite file, then one fresh PostgreSQL
    schema."""
    from wanbook._api.account_state import AccountStore, Owner

    where: dict[str, Any]
    if request.param == "sqlite":
        where = {"path": tmp_path / "account.sqlite"}
    else:
        where = {"database": request.getfixturevalue("pg_url")}
    made: list[AccountStore] = []

    def make(clock: Callable[[], float] | None = None, owner: Owner | None = None) -> AccountStore:
        made.append(AccountStore(**where, clock=clock, owner=owner))
        return made[-1]

    yield make
    for store in made:
        store.close()
