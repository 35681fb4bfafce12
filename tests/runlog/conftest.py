"""Every run-log test runs on both engines: SQLite, then PostgreSQL (a fresh schema per log).

The ``engine`` parameter is given to every test of this folder. On ``postgresql``,
``RunLog.open(home)`` without ``db=`` opens a PostgreSQL log instead of ``<home>/runs.sqlite``:
one fresh schema of the session's server per home, so two homes are still two logs, and the
same home opened again is the same log (as with SQLite files). Tests of SQLite itself (its file,
WAL, read-only mounts, the sqlite3 shell) carry ``@pytest.mark.sqlite_only`` and say why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import pg as _pg
from wanbook._runlog.store import RunLog


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    engines = ["sqlite"]
    if metafunc.definition.get_closest_marker("sqlite_only") is None:
        engines.append("postgresql")
    metafunc.parametrize("engine", engines, indirect=True)


@pytest.fixture(autouse=True)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    server: _pg.Server = request.getfixturevalue("pg_server")
    schemas: dict[Path, str] = {}
    real_open = RunLog.open.__func__  # type: ignore[attr-defined]

    def open_on_postgres(cls: type[RunLog], home: Any, *, db: Any = None, **kw: Any) -> RunLog:
        if db is None:
            key = Path(os.path.abspath(Path(home).expanduser()))
            if key not in schemas:
                schemas[key] = server.new_schema()[0]
            db = server.schema_url(schemas[key])
        return real_open(cls, home, db=db, **kw)

    monkeypatch.setattr(RunLog, "open", classmethod(open_on_postgres))
    yield "postgresql"
    for name in schemas.values():
        server.drop_schema(name)
