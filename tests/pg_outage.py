"""A PostgreSQL database of its own that a test can make unreachable mid-run and bring back.

The session's server is shared by every test, so an outage is one database's: ``cut()`` refuses
new connections to it (``ALLOW_CONNECTIONS false``) and ends the ones open
(``pg_terminate_backend``), which is what a client sees when its server stops or the network
goes; ``restore()`` lets connections in again.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

from tests.pg import Server

__all__ = ["Outage"]


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
