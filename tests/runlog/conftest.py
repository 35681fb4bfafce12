"""Every run-log test runs on both engines: SQLite, then PostgreSQL (a fresh schema per log).

The ``engine`` parameter is given to every test of this folder. On ``postgresql``,
``RunLog.open(home)`` without ``db=`` opens a PostgreSQL log instead of ``<home>/runs.sqlite``:
one schema of the session's server per home, named by the test and the home, so two homes are
still two logs and the same home opened again (also by a forked process) is the same log, as
with SQLite files. :func:`db_for` gives a subprocess the URL. Tests of SQLite itself (its
file, WAL, read-only mounts, the sqlite3 shell) carry ``@pytest.mark.sqlite_only`` and say why;
tests of what only PostgreSQL has (sequences committed out of order) ``postgresql_only``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import pg as _pg
from wanbook._runlog.store import RunLog

_SERVER: list[tuple[_pg.Server, str]] = []  # (server, this test's schema prefix) while on PG


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    engines = ["sqlite", "postgresql"]
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        engines = ["sqlite"]
    if metafunc.definition.get_closest_marker("postgresql_only") is not None:
        engines = ["postgresql"]
    metafunc.parametrize("engine", engines, indirect=True)


def db_for(home: str | os.PathLike[str]) -> str | None:
    """The database URL ``RunLog.open(home)`` uses in this test (None: SQLite in ``home``)."""
    if not _SERVER:
        return None
    server, prefix = _SERVER[-1]
    key = hashlib.sha256(os.path.abspath(Path(home).expanduser()).encode()).hexdigest()[:10]
    name = f"{prefix}_{key}"
    try:
        with _pg_connect(server.url) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
    except _unique_violation():  # another process made it at the same moment
        pass
    return server.schema_url(name)


def _pg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def _unique_violation() -> type[Exception]:
    import psycopg

    return psycopg.errors.UniqueViolation


@pytest.fixture(autouse=True)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    server: _pg.Server = request.getfixturevalue("pg_server")
    prefix = "r" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12]
    real_open = RunLog.open.__func__  # type: ignore[attr-defined]

    def open_on_postgres(cls: type[RunLog], home: Any, *, db: Any = None, **kw: Any) -> RunLog:
        return real_open(cls, home, db=db if db is not None else db_for(home), **kw)

    _SERVER.append((server, prefix))
    monkeypatch.setattr(RunLog, "open", classmethod(open_on_postgres))
    try:
        yield "postgresql"
    finally:
        _SERVER.pop()
        with _pg_connect(server.url) as conn:
            rows = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [prefix + "\\_%"]
            ).fetchall()
            for (name,) in rows:
                conn.execute(f'DROP SCHEMA "{name}" CASCADE')
