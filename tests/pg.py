"""A throwaway PostgreSQL server for tests and benchmarks (no pytest needed to import this).

``WANBOOK_TEST_PG`` (a URL) names a server to use instead (a teammate's, a CI service). Else the
binaries are looked for (``WANBOOK_TEST_PG_BIN``, ``PATH``, ``/usr/lib/postgresql/*/bin``), and a
cluster is made with ``initdb`` in a fresh folder of the system's temporary folder (outside
pytest's root-only tree), listening on a Unix socket only (``listen_addresses=''``), ``trust``
authentication, fsync off, and started with ``pg_ctl``. PostgreSQL refuses to run as root: as
root the folder is given to the ``postgres`` user and the commands run through ``runuser -u
postgres --``. :meth:`Server.stop` stops it and removes the folder.

Each test gets a fresh **schema** of one database (measured here: ``CREATE SCHEMA`` 8 ms,
``CREATE DATABASE`` 28 ms with fsync off; both cheap, a schema cheaper), named in its URL through
libpq's ``options=-csearch_path=...``, so other processes started by the test see the same one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

__all__ = ["NoServer", "Server", "find_bin", "start"]


class NoServer(RuntimeError):
    """No PostgreSQL to test with (the message says why and what to do)."""


def find_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``, or None. ``WANBOOK_TEST_PG_BIN``, when set, is
    the only place looked at."""
    candidates = []
    if os.environ.get("WANBOOK_TEST_PG_BIN"):
        candidates.append(os.environ["WANBOOK_TEST_PG_BIN"])
    else:
        on_path = shutil.which("pg_ctl")
        if on_path:
            candidates.append(str(Path(on_path).resolve().parent))
        candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)  # newest first
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


@dataclass
class Server:
    """A running server: ``url`` reaches its ``postgres`` database as a superuser."""

    url: str
    folder: Path | None = None  # ours to stop and remove; None: WANBOOK_TEST_PG
    bin: Path | None = None
    as_user: list[str] | None = None
    options: str = ""

    def schema_url(self, schema: str) -> str:
        """``url`` with ``schema`` as the search path (``options=-csearch_path=...``)."""
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}options={quote(f'-csearch_path={schema}')}"

    def new_schema(self, prefix: str = "t") -> tuple[str, str]:
        """A new empty schema: (its name, a URL using it)."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return name, self.schema_url(name)

    def drop_schema(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def pg_ctl(self, action: str, *args: str) -> None:
        """Run ``pg_ctl ACTION`` on this server's data folder (ours only)."""
        assert self.folder is not None and self.bin is not None, "not a server of ours"
        data = str(self.folder / "data")
        _run([*(self.as_user or []), str(self.bin / "pg_ctl"), action, "-D", data, *args])

    def down(self) -> None:
        """Stop the server (fast: clients are disconnected), keeping its data."""
        self.pg_ctl("stop", "-m", "fast", "-w")

    def up(self) -> None:
        """Start it again after :meth:`down`, at the same socket."""
        assert self.folder is not None
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.folder / "log"), "-o", self.options)

    def stop(self) -> None:
        if self.folder is None or self.bin is None:
            return
        data = self.folder / "data"
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                [
                    *(self.as_user or []),
                    str(self.bin / "pg_ctl"),
                    "stop",
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                ],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None


def start() -> Server:
    """Use ``WANBOOK_TEST_PG`` or start a throwaway server; raises :class:`NoServer`."""
    if os.environ.get("WANBOOK_TEST_PG"):
        return Server(os.environ["WANBOOK_TEST_PG"])
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise NoServer("psycopg is not installed: pip install 'wanbook[team]'") from None
    folder_bin = find_bin()
    if folder_bin is None:
        raise NoServer(
            "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: "
            "install postgresql (Debian: apt-get install postgresql) or set WANBOOK_TEST_PG "
            "to a server's URL"
        )
    folder = Path(tempfile.mkdtemp(prefix="wanbook-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # pg_ctl: "cannot be run as root"
        runuser = shutil.which("runuser")
        if runuser is None:
            raise NoServer("running as root without runuser: cannot start PostgreSQL")
        as_user = [runuser, "-u", "postgres", "--"]
        shutil.chown(folder, "postgres", "postgres")
    os.chmod(folder, 0o700)
    data = folder / "data"
    options = (
        f"-c listen_addresses='' -c unix_socket_directories='{folder}' -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    server = Server("", folder, folder_bin, as_user, options)
    try:
        _run(
            [
                *as_user,
                str(folder_bin / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )
        _run(
            [
                *as_user,
                str(folder_bin / "pg_ctl"),
                "start",
                "-D",
                str(data),
                "-w",
                "-t",
                "60",
                "-l",
                str(folder / "log"),
                "-o",
                options,
            ],
        )
    except NoServer:
        server.stop()
        raise
    server.url = f"postgresql://postgres@/postgres?host={quote(str(folder), safe='')}"
    return server


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise NoServer(f"{Path(command[-1]).name}: {exc}") from None
    if done.returncode != 0:
        tool = next((Path(c).name for c in command if c.endswith(("initdb", "pg_ctl"))), "?")
        raise NoServer(f"{tool} failed ({done.returncode}): {(done.stderr or done.stdout)[-800:]}")
