"""What a session holds: its settings, and what it opens on first use and closes at the end.

The run log, the price table, the endpoint (a region's, or the embedded emulator, started the first
time a request needs it) and one HTTP client per event loop. Nothing is opened when a session is
made: a session that only estimates never starts the emulator nor touches the run log. Closing is
safe to repeat, and happens at interpreter exit if nobody did it (a notebook rarely does).

Why apart from ``_session``: the session's own job is the orchestration path of a generation
(validate → estimate → budget → log → create → poll → download → log); :class:`Resources` is the
base it runs on, so that path reads ``self.log``, ``self.prices`` and ``self.client()`` without
caring when and how each was opened.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

from wanbook._client import Client
from wanbook._config import Settings
from wanbook._pricing import PriceTable
from wanbook._runlog import RunLog
from wanbook._secret import Secret
from wanbook._sync import run_sync

__all__ = ["Resources"]

_EMULATOR_KEY = "sk-emulator-local"  # the embedded emulator accepts any bearer key


class Resources:
    """The settings, run log, prices and connections of a session, each opened on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        prices: str | Path | PriceTable | None = None,
        transport: Any = None,
        emulator_options: dict[str, Any] | None = None,
        quiet: bool = False,
    ) -> None:
        self.settings = settings
        self.quiet = quiet
        self._prices_arg = prices
        self._prices: PriceTable | None = prices if isinstance(prices, PriceTable) else None
        self._transport = transport
        self._emulator_options = dict(emulator_options or {})
        self._emulator: Any = None
        self._log: RunLog | None = None
        self._clients: dict[int, Client] = {}
        self._exit_hook = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ resources (lazy)
    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def backend(self) -> str:
        """``"emulator"`` or the region id: what runs are logged under."""
        return "emulator" if self.settings.uses_emulator else self.settings.region

    @property
    def log(self) -> RunLog:
        with self._lock:
            if self._log is None:
                key = self.settings.api_key
                self._log = RunLog.open(self.home, secrets=[key] if key else [])
            return self._log

    @property
    def prices(self) -> PriceTable:
        with self._lock:
            if self._prices is None:
                arg = self._prices_arg
                self._prices = PriceTable.load(arg if not isinstance(arg, PriceTable) else None)
            return self._prices

    def endpoint(self) -> str:
        """The base URL requests go to (starting the embedded emulator if that is the backend)."""
        if not self.settings.uses_emulator:
            return self.settings.endpoint()
        with self._lock:
            if self._emulator is None:
                from wanbook.emulator import Emulator

                emu = Emulator(region=self.region, **self._emulator_options)
                emu.start()
                self._emulator = emu
                self._close_at_exit()
                if not self.quiet:
                    print(
                        f"wanbook: no DASHSCOPE_API_KEY set: using the embedded emulator at "
                        f"{emu.base_url} (synthetic videos, priced as region {self.region!r}, "
                        "logged as emulator runs)",
                        file=sys.stderr,
                    )
            return str(self._emulator.base_url)

    def _key(self) -> Secret:
        return self.settings.api_key or Secret(_EMULATOR_KEY)

    def client(self) -> Client:
        """The HTTP client of the running event loop (httpx clients belong to one loop)."""
        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            client = Client(self.endpoint(), self._key(), transport=self._transport)
            self._clients[loop_id] = client
            self._close_at_exit()
        return client

    def _close_at_exit(self) -> None:
        """Close this session when Python exits, if nobody did (a notebook rarely does).

        Registered after the emulator starts, so it runs before the emulator's own temporary
        directory is cleaned up (atexit runs last-in, first-out). Holds only a weak reference.
        """
        if not self._exit_hook:
            ref = weakref.ref(self)
            atexit.register(lambda: (session := ref()) is not None and session.close())
            self._exit_hook = True

    def close(self) -> None:
        """Close connections, the run log and the embedded emulator. Safe to call twice."""
        clients, self._clients = self._clients, {}
        for client in clients.values():
            with contextlib.suppress(RuntimeError):  # its loop is gone; its sockets went with it
                run_sync(client.aclose())
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
