"""A PostgreSQL database of its own that a test can make unreachable mid-run.

:class:`Outage`: the session's server is shared by every test, so an outage is one database's:
``cut()`` refuses new connections to it (``ALLOW_CONNECTIONS false``) and ends the ones open
(``pg_terminate_backend``), which is what a client sees when its server stops or the network
goes; ``restore()`` lets connections in again.

:class:`StoppedServer`: a throwaway server of its own (``tests/pg.py``), which ``cut()`` stops
(``pg_ctl stop -m immediate``: a crash, as far as clients can tell) and removes. When the
session's server is not one of ours (``WANBOOK_TEST_PG``), there are no binaries to start a second
one: it falls back to an :class:`Outage`.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

from tests import pg
from tests.pg import Server

__all__ = ["Outage", "StoppedServer"]


class Outage:
    def __init__(self, server: Server) -> None:
        import psycopg

        self.admin = server.url
        self.name = f"outage_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        parts = urlsplit(server.url)
        self.url = urlunsplit(parts._replace(path=f"/{self.name}"))

    def cut(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self.name,),
            )

    def restore(self) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        import psycopg

        self.cut()
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')


class StoppedServer:
    def __init__(self, server: Server) -> None:
        self._fallback: Outage | None = None
        self._own: Server | None = None
        if server.folder is None:  # WANBOOK_TEST_PG: no binaries of ours
            self._fallback = Outage(server)
            self.url = self._fallback.url
        else:
            self._own = pg.start()
            self.url = self._own.url

    def cut(self) -> None:
        if self._own is not None:
            self._own.stop()
        elif self._fallback is not None:
            self._fallback.cut()

    def drop(self) -> None:
        if self._own is not None:
            self._own.stop()
        elif self._fallback is not None:
            self._fallback.drop()
