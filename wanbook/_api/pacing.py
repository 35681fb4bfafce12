"""Pacing creates: per-account limits on submissions per second and tasks in flight, and the gate
that keeps an ambiguous create's search from taking a sibling's task.

Limits (docs/dashscope-api.md §4.1) belong to the *root account*: 5 submissions per second and 5
tasks in flight for the wan2.5/2.6/2.7 models, 2 and 2 for wan2.1/2.2. The vendor states them per
model; wanbook counts one limit per *group* of families (``models.toml`` ``[rate_groups]``), a
stricter reading that can only send less than the account allows. This limiter and the emulator
both count per group. ``limits`` overrides (for accounts with other limits) may name
a family or a group; either sets the whole group.

The limits belong to the account, so one :class:`Limiter` serves everything a session sends on one
event loop — every batch, ``agenerate``, ``compare`` and the form (``Resources.limiter()``):
two batches at once share the group's 5 slots instead of taking 5 each. With a
:class:`SharedAccount` (the default for a session), every *process* of the user on that account
shares them too: submission times, holds and slots in flight live in the account's state
(``_api.account_state``: a per-user file, or the team's PostgreSQL database); each process still
queues its own senders first come first served before asking the state.

Everything here is clock- and sleep-injectable so tests can check the pacing without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from wanbook._api.account_state import TOUCH_EVERY, AccountStore, StateUnavailable
from wanbook._spec.catalogue import ModelSpec, catalogue
from wanbook._warn import warn_user

__all__ = [
    "SHARED_MARGIN",
    "AccountStateWarning",
    "CreateGate",
    "GroupLimit",
    "Limiter",
    "RateWindow",
    "SharedAccount",
    "SharedGroupLimit",
    "SharedRateWindow",
    "Slot",
    "create_gate",
    "group_of",
    "limits_for",
]

#: Between processes, a reserved submission time and the request reaching the server are further
#: apart than within one loop (a process wakes late, another commits first): 100 ms, not 20.
SHARED_MARGIN = 0.1

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


def group_of(family: str) -> str:
    """The rate group of a version family (a family in no group is a group of its own)."""
    return catalogue().rate_group(family)


def limits_for(
    specs: Iterable[ModelSpec],
    overrides: Mapping[str, tuple[int, int]] | None = None,
    *,
    region: str | None = None,
) -> dict[str, tuple[int, int]]:
    """``{group: (per_second, in_flight)}`` for the groups of ``specs``: the catalogue's figures
    (the smallest of a group's families, and of a model's stricter figures in ``region``, e.g.
    wan2.1-kf2v-plus in intl), replaced by ``overrides`` keyed by family or group.

    Raises ValueError for a malformed override, or two overrides of one group that disagree.
    """
    out: dict[str, tuple[int, int]] = {}
    for spec in specs:
        group = group_of(spec.family)
        mine = spec.rate_limits(region) if region else (spec.rate_per_second, spec.rate_in_flight)
        have = out.get(group, mine)
        out[group] = (min(have[0], mine[0]), min(have[1], mine[1]))
    chosen: dict[str, tuple[str, tuple[int, int]]] = {}
    for key, value in (overrides or {}).items():
        if (
            not isinstance(value, tuple | list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        ):
            raise ValueError(
                f"limits[{key!r}] = {value!r} must be (per_second, in_flight), two whole numbers >= 1"
            )
        group = key if key in catalogue().rate_groups else group_of(key)
        pair = (int(value[0]), int(value[1]))
        if group in chosen and chosen[group][1] != pair:
            raise ValueError(
                f"limits[{chosen[group][0]!r}] = {chosen[group][1]} and limits[{key!r}] = {pair} "
                f"disagree, but both set the shared limit of {group} (docs/dashscope-api.md §4.1: per account)"
            )
        chosen[group] = (key, pair)
    for group, (_, pair) in chosen.items():
        if group in out:
            out[group] = pair
    return out


class RateWindow:
    """At most ``rate`` acquisitions in any ``period`` seconds (a sliding window), first come first
    served; :meth:`hold` closes it for a while (after a 429 from someone else on the account).

    Acquisitions are spaced ``period + margin`` apart at the window's edge: the margin absorbs the
    few milliseconds between taking a token and the request reaching the server.
    """

    def __init__(
        self,
        rate: int,
        *,
        period: float = 1.0,
        margin: float = 0.02,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate < 1:
            raise ValueError(f"rate {rate!r} must be at least 1")
        self.rate, self.period, self.margin = rate, period, margin
        self._clock, self._sleep = clock, sleep
        self._times: deque[float] = deque()
        self._hold_until = float("-inf")
        self._lock = asyncio.Lock()

    def hold(self, seconds: float) -> None:
        """Let nothing through for ``seconds`` from now (longer holds win)."""
        self._hold_until = max(self._hold_until, self._clock() + max(0.0, seconds))

    def wait_time(self, now: float) -> float:
        """Seconds until an acquisition at ``now`` would be allowed (0: now); forgets expired ones."""
        span = self.period + self.margin
        while self._times and self._times[0] <= now - span:
            self._times.popleft()
        wait = self._hold_until - now
        if len(self._times) >= self.rate:
            wait = max(wait, self._times[len(self._times) - self.rate] + span - now)
        return max(0.0, wait)

    async def acquire(self) -> float:
        """Wait for a token; returns the clock time it was taken."""
        async with self._lock:
            return await self._take()

    async def _take(self) -> float:
        """Wait for room in this window and take a token (the caller holds the lock)."""
        while True:
            now = self._clock()
            wait = self.wait_time(now)
            if wait <= 0:
                self._times.append(now)
                return now
            await self._sleep(wait)


class GroupLimit:
    """One group's limits: a :class:`RateWindow` for submissions and a FIFO count of tasks in flight.

    :meth:`resize` changes both while slots are held (a batch's ``limits`` override): holders keep
    their slots, and waiters get room as soon as fewer than the new ``in_flight`` are held.
    """

    def __init__(
        self,
        per_second: int,
        in_flight: int,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if in_flight < 1:
            raise ValueError(f"in_flight {in_flight!r} must be at least 1")
        self.per_second, self.in_flight = per_second, in_flight
        self.rate = RateWindow(per_second, clock=clock, sleep=sleep)
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.busy = 0  # slots held now
        self.peak = 0  # the most ever held at once

    def resize(self, per_second: int, in_flight: int) -> None:
        """Set new limits (slots already held stay held)."""
        if per_second < 1 or in_flight < 1:
            raise ValueError(f"limits ({per_second}, {in_flight}) must be at least 1 each")
        self.per_second, self.in_flight = per_second, in_flight
        self.rate.rate = per_second
        self._wake()

    async def take(self) -> Slot:
        """Wait for room for one more task in flight; the :class:`Slot` frees it."""
        await self.slot()
        return Slot(self)

    def adopt(self) -> Slot:
        """Count a task that already runs (one being resumed) in flight, without waiting: the
        account holds it whether or not there was room."""
        self.busy += 1
        self.peak = max(self.peak, self.busy)
        return Slot(self)

    def touch(self, shared_id: int | None, task_id: str | None = None) -> None:
        """Note that a slot's task was polled (only a shared slot keeps a note)."""

    def release_shared(self, shared_id: int | None) -> None:
        """Free a slot's row in the account's state (only a shared slot has one)."""

    async def slot(self) -> None:
        """Wait for room for one more task in flight (release it with :meth:`release`)."""
        if self.busy >= self.in_flight or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self.busy -= 1  # granted just as we were cancelled: hand it on
                    self._wake()
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        else:
            self.busy += 1
        self.peak = max(self.peak, self.busy)

    def release(self) -> None:
        self.busy -= 1
        self._wake()

    def _wake(self) -> None:
        """Grant slots to waiters, first come first served, while there is room."""
        while self._waiters and self.busy < self.in_flight:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.busy += 1
                waiter.set_result(None)


class Slot:
    """One task's hold on its group's in-flight limit, from before its create until it is seen
    ended (not until its video is downloaded): :meth:`free` is safe to call more than once.
    ``shared_id`` is its row in the account's state, when the limit is shared."""

    def __init__(self, limit: GroupLimit, shared_id: int | None = None) -> None:
        self.limit = limit
        self.shared_id = shared_id
        self.held = True
        self._touched = float("-inf")

    def free(self) -> None:
        if self.held:
            self.held = False
            self.limit.release()
            self.limit.release_shared(self.shared_id)

    def on_task(self, task: Any) -> None:
        """``submit_one``'s ``on_task``: free the slot once the task is seen ended (note its id
        while it runs)."""
        if task.is_terminal:
            self.free()
        elif self.held:
            self._touched = time.monotonic()
            self.limit.touch(self.shared_id, task.task_id)

    def on_answer(self, task: Any) -> None:
        """``submit_one``'s ``on_answer``: every poll's answer; note it now and then, so other
        processes see the task is still followed (``last_polled_at``)."""
        now = time.monotonic()
        if self.held and now - self._touched >= TOUCH_EVERY:
            self._touched = now
            self.limit.touch(self.shared_id, task.task_id)

    async def before_send(self) -> None:
        """``submit_one``'s ``before_send``: a submission token, taken just before sending."""
        await self.limit.rate.acquire()


class Limiter:
    """The :class:`GroupLimit` of every rate group, made on first use from the catalogue: the
    account's limits as one session sees them on one event loop."""

    def __init__(
        self,
        limits: Mapping[str, tuple[int, int]] | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        region: str | None = None,
        shared: SharedAccount | None = None,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self.region = region  # a model may be stricter in a region than its group
        self.shared = shared
        self.groups: dict[str, GroupLimit] = {}
        self.apply(limits or {})

    def apply(self, limits: Mapping[str, tuple[int, int]]) -> None:
        """Set ``{group: (per_second, in_flight)}`` (as :func:`limits_for` returns them)."""
        for group, (rate, flight) in limits.items():
            if group in self.groups:
                self.groups[group].resize(rate, flight)
            elif self.shared is not None:
                self.groups[group] = SharedGroupLimit(
                    rate, flight, self.shared, group, clock=self._clock, sleep=self._sleep
                )
            else:
                self.groups[group] = GroupLimit(rate, flight, clock=self._clock, sleep=self._sleep)

    def for_spec(self, spec: ModelSpec) -> GroupLimit:
        """The limit of ``spec``'s group (made with the catalogue's figures on first use)."""
        group = group_of(spec.family)
        if group not in self.groups:
            self.apply(limits_for([spec], region=self.region))
        else:
            rate, flight = spec.rate_limits(self.region) if self.region else (0, 0)
            limit = self.groups[group]
            if self.region and (rate < limit.per_second or flight < limit.in_flight):
                limit.resize(min(rate, limit.per_second), min(flight, limit.in_flight))
        return self.groups[group]

    def __getitem__(self, group: str) -> GroupLimit:
        return self.groups[group]

    @asynccontextmanager
    async def submission(self, spec: ModelSpec) -> AsyncIterator[Slot]:
        """Hold an in-flight slot of ``spec``'s group for one task (waiting for room first); the
        slot is freed when the task is seen ended (``Slot.on_task``) or, at the latest, on exit.
        Take the submission token with ``Slot.before_send`` just before sending the create."""
        limit = self.for_spec(spec)
        slot = await limit.take()
        try:
            yield slot
        finally:
            slot.free()

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{g}: {lim.per_second}/s, {lim.in_flight} in flight" for g, lim in self.groups.items()
        )
        where = "" if self.shared is None else f", shared by {self.shared!r}"
        return f"Limiter({inner}{where})"


class AccountStateWarning(UserWarning):
    """The account's shared state cannot be used: limits are kept per process for now."""


class SharedAccount:
    """What the processes of one account share: the state store and the account's id.

    The first time the store fails, this warns once and turns ``down``: from then on every limit
    of this process works on its own (a 429 from the account is still absorbed and held)."""

    def __init__(self, store: AccountStore, account: str) -> None:
        self.store = store
        self.account = account
        self.down = False

    def __repr__(self) -> str:
        return f"SharedAccount({self.store!r})"

    def failed(self, exc: StateUnavailable) -> None:
        if not self.down:
            self.down = True
            warn_user(
                f"wanbook: the account's shared state is unavailable ({exc}); until this session "
                "ends, its pacing counts only its own requests (other processes on the account "
                f"may cause 429s, which are absorbed). {self.store.remedy}",
                AccountStateWarning,
            )


class SharedRateWindow(RateWindow):
    """A :class:`RateWindow` whose reservations and hold are the account's (every process)."""

    def __init__(
        self,
        rate: int,
        shared: SharedAccount,
        group: str,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(rate, margin=SHARED_MARGIN, clock=clock, sleep=sleep)
        self.shared, self.group = shared, group

    def hold(self, seconds: float) -> None:
        super().hold(seconds)
        if not self.shared.down:
            try:
                self.shared.store.hold(self.shared.account, self.group, seconds)
            except StateUnavailable as exc:
                self.shared.failed(exc)

    async def acquire(self) -> float:
        """Reserve the account's next submission time and sleep until it; if a hold began
        meanwhile (a 429 elsewhere), reserve again after it."""
        sh = self.shared
        async with self._lock:
            while not sh.down:
                try:
                    at, wait = sh.store.reserve_send(
                        sh.account, self.group, self.rate, self.period + self.margin
                    )
                    if wait > 0:  # a duration: right whichever clock the store keeps
                        await self._sleep(wait)
                    if sh.store.hold_until(sh.account, self.group) <= at:
                        now = self._clock()
                        self._times.append(now)  # kept for a fall back to local pacing
                        return now
                except StateUnavailable as exc:
                    sh.failed(exc)
            return await self._take()  # the state is down: this process's own window


class SharedGroupLimit(GroupLimit):
    """A :class:`GroupLimit` whose slots in flight are also the account's: a task takes a slot
    of this process (first come first served), then a row in the account's state, waiting until
    fewer than ``in_flight`` live rows of the group exist."""

    def __init__(
        self,
        per_second: int,
        in_flight: int,
        shared: SharedAccount,
        group: str,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(per_second, in_flight, clock=clock, sleep=sleep)
        self.rate = SharedRateWindow(per_second, shared, group, clock=clock, sleep=sleep)
        self.shared, self.group = shared, group
        self._sleep_for, self._rng = sleep, rng

    async def take(self) -> Slot:
        await self.slot()
        try:
            shared_id = await self._shared_slot()
        except BaseException:
            self.release()
            raise
        return Slot(self, shared_id)

    def adopt(self) -> Slot:
        slot = super().adopt()
        if not self.shared.down:
            sh = self.shared
            try:
                slot.shared_id = sh.store.add_slot(sh.account, self.group)
            except StateUnavailable as exc:
                sh.failed(exc)
        return slot

    async def _shared_slot(self) -> int | None:
        """Wait for a row in the account's slots (None: the state is down, local only)."""
        sh = self.shared
        delay = 0.02
        while not sh.down:
            try:
                got = sh.store.try_slot(sh.account, self.group, self.in_flight)
            except StateUnavailable as exc:
                sh.failed(exc)
                return None
            if got is not None:
                return got
            await self._sleep_for(delay * (0.5 + self._rng()))  # no lock-step between processes
            delay = min(0.1, delay * 1.5)
        return None

    def touch(self, shared_id: int | None, task_id: str | None = None) -> None:
        if shared_id is not None and not self.shared.down:
            try:
                self.shared.store.touch_slot(shared_id, task_id)
            except StateUnavailable as exc:
                self.shared.failed(exc)

    def release_shared(self, shared_id: int | None) -> None:
        if shared_id is not None and not self.shared.down:
            try:
                self.shared.store.free_slot(shared_id)
            except StateUnavailable as exc:  # the row expires with this process
                self.shared.failed(exc)


class CreateGate:
    """Creates and ambiguous-task searches of one client never overlap, nor do two searches, nor
    two creates of one model.

    After an ambiguous create, the task is looked for in the account's task list: a task of the
    same model, created between sending and failing, whose id is not in the run log yet. Three
    things could make it claim a sibling's task, and the gate rules each out:

    * a sibling create still in flight has made a task whose id is not logged yet: a search first
      closes the gate to new creates and waits until every create in progress has returned and
      logged its id (leaving ``creating`` never yields to the event loop, so logging the id inside
      it is atomic with leaving);
    * two searches listing at once would both see the other's task unclaimed: searches take turns;
    * two creates of one model in flight at once, both losing their answer, would make two tasks
      inside both windows, indistinguishable by time: creates of one model take turns (``key``).
      Sending them one at a time costs nothing at the vendor's pace (5 per second) unless a
      round trip is slower than 200 ms, and then only while several slots free at once.
    """

    def __init__(self) -> None:
        self._creating = 0
        self._searching = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()
        self._open.set()
        self._one_search = asyncio.Lock()
        self._turns: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def creating(self, key: str = "") -> AsyncIterator[None]:
        """Hold while one create of model ``key`` is sent and its task id logged."""
        turn = self._turns.setdefault(key, asyncio.Lock())
        while True:
            while self._searching:
                await self._open.wait()
            await turn.acquire()
            if not self._searching:
                break
            turn.release()  # a search began while waiting for the turn: it goes first
        self._creating += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._creating -= 1
            if not self._creating:
                self._idle.set()
            turn.release()

    @asynccontextmanager
    async def searching(self) -> AsyncIterator[None]:
        self._searching += 1
        self._open.clear()
        try:
            async with self._one_search:
                while self._creating:
                    await self._idle.wait()
                yield
        finally:
            self._searching -= 1
            if not self._searching:
                self._open.set()


_GATES: weakref.WeakKeyDictionary[Any, CreateGate] = weakref.WeakKeyDictionary()


def create_gate(client: Any) -> CreateGate:
    """The gate of ``client`` (one per client, i.e. per event loop; made on first use)."""
    gate = _GATES.get(client)
    if gate is None:
        gate = _GATES[client] = CreateGate()
    return gate
