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
two batches at once share the group's 5 slots instead of taking 5 each.

Everything here is clock- and sleep-injectable so tests can check the pacing without waiting.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from wanbook._spec.catalogue import ModelSpec, catalogue

__all__ = [
    "CreateGate",
    "GroupLimit",
    "Limiter",
    "RateWindow",
    "Slot",
    "create_gate",
    "group_of",
    "limits_for",
]

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
    ended (not until its video is downloaded): :meth:`free` is safe to call more than once."""

    def __init__(self, limit: GroupLimit) -> None:
        self.limit = limit
        self.held = True

    def free(self) -> None:
        if self.held:
            self.held = False
            self.limit.release()

    def on_task(self, task: Any) -> None:
        """``submit_one``'s ``on_task``: free the slot once the task is seen ended."""
        if task.is_terminal:
            self.free()

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
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self.region = region  # a model may be stricter in a region than its group
        self.groups: dict[str, GroupLimit] = {}
        self.apply(limits or {})

    def apply(self, limits: Mapping[str, tuple[int, int]]) -> None:
        """Set ``{group: (per_second, in_flight)}`` (as :func:`limits_for` returns them)."""
        for group, (rate, flight) in limits.items():
            if group in self.groups:
                self.groups[group].resize(rate, flight)
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
        await limit.slot()
        slot = Slot(limit)
        try:
            yield slot
        finally:
            slot.free()

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{g}: {lim.per_second}/s, {lim.in_flight} in flight" for g, lim in self.groups.items()
        )
        return f"Limiter({inner})"


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
