"""What a session holds: its settings, and what it opens on first use and closes at the end.

The run log, the price table, the endpoint (a region's, or the embedded emulator, started the first
time a request needs it), one HTTP client and one :class:`~wanbook._api.pacing.Limiter` per event
loop (the account's limits, shared by every batch and single run of the session on that loop),
and the budget :class:`~wanbook._engine.budget.Ledger` (this session's runs and reservations). Nothing is opened when a session is
made: a session that only estimates never starts the emulator nor touches the run log. Closing is
safe to repeat, and happens at interpreter exit if nobody did it (a notebook rarely does).

Why apart from ``_engine.session``: the session's own job is the orchestration path of a generation
(validate → estimate → budget → log → create → poll → download → log); :class:`Resources` is the
base it runs on, so that path reads ``self.log``, ``self.prices`` and ``self.client()`` without
caring when and how each was opened.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wanbook._api.account_state import AccountStore, account_id, open_store
from wanbook._api.client import Client
from wanbook._api.pacing import Limiter, SharedAccount
from wanbook._api.protocol import PLACEHOLDER_KEY
from wanbook._engine.budget import Ledger
from wanbook._engine.settings import Settings
from wanbook._engine.submit import throttle_pace
from wanbook._engine.tracker import OnUpdate, Tracker
from wanbook._media.store import VideoStore
from wanbook._portal import run_sync
from wanbook._runlog.store import RunLog
from wanbook._secret import Secret
from wanbook._spec.prices import PriceTable
from wanbook._sql import parse_url
from wanbook._version import __version__
from wanbook._warn import notice

if TYPE_CHECKING:
    from wanbook._engine.prepare import Prepared

__all__ = ["Resources", "server_is_emulator"]

EMULATOR_SERVER = "wanbook-emulator"  # the Server header of every answer of wanbook's emulator


def server_is_emulator(base_url: str, transport: Any = None, timeout: float = 5.0) -> bool:
    """Whether the server at ``base_url`` says it is wanbook's emulator. One GET without any key;
    a server that does not answer is not taken for one (its requests will say what is wrong)."""
    import httpx

    if transport is not None:  # a test's own transport: its answers are what the test says
        return False
    try:
        with httpx.Client(timeout=timeout) as client:
            answer = client.get(base_url.rstrip("/") + "/")
    except (httpx.HTTPError, OSError, ValueError):
        return False
    return answer.headers.get("server", "").split("/")[0].strip() == EMULATOR_SERVER


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
        self._base_url_emulator: bool | None = None  # asked once, see backend
        self._log: RunLog | None = None
        self._media: VideoStore | None = None
        # Per event loop, keyed by the loop itself (an id can be reused by a later loop); a
        # closed loop's entries are dropped on the next use (see _per_loop).
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Client] = (
            weakref.WeakKeyDictionary()
        )
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Limiter] = (
            weakref.WeakKeyDictionary()
        )
        self.ledger = Ledger()
        self._state: AccountStore | None = None
        self._shared: SharedAccount | None = None
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
        """``"emulator"`` or the region id: what runs are logged and priced under.

        The embedded emulator, or a base URL without a key whose server says it is wanbook's
        emulator (``Server: wanbook-emulator`` on every answer; asked once, before anything is
        sent): its runs are rehearsals, never spend. With a key, a base URL is taken as the
        region's stand-in (a proxy; the tests' loopback service) and priced as the region.
        """
        s = self.settings
        if s.uses_emulator:
            return "emulator"
        if s.base_url is not None and s.api_key is None and self._base_url_is_emulator():
            return "emulator"
        return self.settings.region

    def _base_url_is_emulator(self) -> bool:
        with self._lock:
            if self._base_url_emulator is None:
                url = str(self.settings.base_url)
                self._base_url_emulator = server_is_emulator(url, self._transport)
                if self._base_url_emulator and not self.quiet:
                    notice(
                        f"wanbook: {url} is wanbook's emulator: runs are logged as emulator runs "
                        f"(synthetic videos, priced as region {self.region!r}, nothing billed)"
                    )
            return self._base_url_emulator

    def log_exists(self) -> bool:
        """Whether the run log is there already (a SQLite file; a database is taken as there:
        opening it makes nothing but its tables)."""
        db = self.settings.db
        if db is None:
            return (self.home / "runs.sqlite").exists()
        target = parse_url(db)
        return target.path is None or target.path.exists()

    @property
    def log(self) -> RunLog:
        with self._lock:
            if self._log is None:
                key = self.settings.api_key
                self._log = RunLog.open(
                    self.home, db=self.settings.db, secrets=[key] if key else []
                )
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
                if not self.quiet:  # a plain notice, not an error (stdout in a notebook)
                    notice(
                        f"wanbook: no DASHSCOPE_API_KEY set: using the embedded emulator at "
                        f"{emu.base_url} (synthetic videos, priced as region {self.region!r}, "
                        "logged as emulator runs)"
                    )
            return str(self._emulator.base_url)

    @property
    def time_scale(self) -> float | None:
        """The embedded emulator's time scale once it runs (its tasks' pace), else None."""
        return None if self._emulator is None else float(self._emulator.time_scale)

    def tracker(self, on_update: OnUpdate | None = None) -> Tracker:
        """A tracker writing this session's runs to its log (``on_update`` sees each change)."""
        return Tracker(
            log=self.log,
            prices=self.prices,
            region=self.region,
            backend=self.backend,
            endpoint=self.endpoint(),
            version=__version__,
            videos=self.home / "videos",
            on_update=on_update,
            media=self.media,
        )

    @property
    def media(self) -> VideoStore | None:
        """The team's video store (``WANBOOK_MEDIA``), or None: videos only under ``home``."""
        with self._lock:
            if self._media is None and self.settings.media is not None:
                self._media = VideoStore(self.settings.media)
            return self._media

    def _key(self) -> Secret:
        return self.settings.api_key or Secret(PLACEHOLDER_KEY)  # emulators accept any bearer key

    def client(self) -> Client:
        """The HTTP client of the running event loop (httpx clients belong to one loop)."""
        loop = _running_loop(self._clients, self._limiters)
        client = self._clients.get(loop)
        if client is None:
            client = Client(self.endpoint(), self._key(), transport=self._transport)
            self._clients[loop] = client
            self._close_at_exit()
        return client

    def limiter(self) -> Limiter:
        """The account's limits on the running event loop, shared by every batch and single run
        of this session (two batches at once together keep within them)."""
        loop = _running_loop(self._clients, self._limiters)
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = Limiter(
                region=self.region, shared=self.shared_account()
            )
        return limiter

    @property
    def state(self) -> AccountStore:
        """The account-wide state (pacing, slots in flight, named budgets): in the run log's
        PostgreSQL database when ``settings.db`` (``WANBOOK_DB``) names one (shared by teammates
        on any machine), else in ``account.sqlite`` of ``settings.state_dir`` (this user's
        processes). Connected on first use."""
        with self._lock:
            if self._state is None:
                self._state = open_store(self.settings.state_dir, self.settings.db, environ={})
            return self._state

    def shared_account(self) -> SharedAccount:
        """This session's account in the shared state: every process with the same key and
        endpoint shares its limits (named by a keyed hash, never by the key)."""
        if self._shared is None:
            account = account_id(self._key().reveal(), self.endpoint())
            self._shared = SharedAccount(self.state, account)
        return self._shared

    @contextlib.asynccontextmanager
    async def submission(
        self, prep: Prepared, tracker: Tracker, run_id: str, *, deadline: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The single path's share of the account's limits, around ``submit_one``.

        Counts the logged run ``run_id`` in this session's budget, waits for an in-flight slot of
        the model's group, and yields ``submit_one``'s hooks: ``before_send`` takes a submission
        token just before the create is sent, ``on_task`` frees the slot once the task is seen
        ended, ``pace`` absorbs 429s as a hold on the group until ``deadline`` seconds from now.
        Cancelled while waiting for the slot, the run is NOT_CREATED (nothing was sent).
        """
        started = time.monotonic()
        self.ledger.own(run_id)
        entered = False
        try:
            async with self.limiter().submission(prep.resolved.spec) as slot:
                entered = True
                left = deadline - (time.monotonic() - started)
                pace = throttle_pace(
                    slot.limit.rate.hold, self.client().retry_policy, deadline=left
                )
                yield {
                    "before_send": slot.before_send,
                    "on_task": slot.on_task,
                    "on_answer": slot.on_answer,
                    "pace": pace,
                }
        except asyncio.CancelledError:
            if not entered:
                tracker.not_sent(run_id)
            raise

    def _close_at_exit(self) -> None:
        """Close this session when Python exits, if nobody did (a notebook rarely does).

        Registered after the emulator starts, so it runs before the emulator's own temporary
        directory is cleaned up (atexit runs last-in, first-out). Holds only a weak reference.
        """
        if not self._exit_hook:
            ref = weakref.ref(self)
            atexit.register(_close_if_alive, ref)
            self._exit_hook = True

    def close(self) -> None:
        """Close connections, the run log and the embedded emulator. Safe to call twice."""
        clients = list(self._clients.values())
        self._clients.clear()
        self._limiters.clear()
        for client in clients:
            with contextlib.suppress(RuntimeError):  # its loop is gone; its sockets went with it
                run_sync(client.aclose())
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._state is not None:
            self._state.close()
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None


def _close_if_alive(ref: weakref.ref[Resources]) -> None:
    """At interpreter exit: close the session if it is still alive."""
    resources = ref()
    if resources is not None:
        resources.close()


def _running_loop(*per_loop: weakref.WeakKeyDictionary[Any, Any]) -> asyncio.AbstractEventLoop:
    """The running loop, after dropping what belonged to loops now closed (``asyncio.run`` in a
    loop would otherwise keep one client per call: a client's sockets can keep its loop alive)."""
    loop = asyncio.get_running_loop()
    for table in per_loop:
        for old in [k for k in list(table.keys()) if k.is_closed()]:
            table.pop(old, None)
    return loop
