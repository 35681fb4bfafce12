"""Run wanbook's async code from code that is not async: a script, a Jupyter cell, nbclient/papermill.

A Jupyter kernel already runs an event loop in the main thread, so a library may not start (or
re-enter) one there. Instead, one daemon thread owns a private loop — the *portal* — started
lazily on first use (never at import). :func:`run_sync` hands a coroutine to that loop and blocks
the calling thread until it is done, which works the same whether or not the caller's thread has a
running loop. Code that must not block (widget callbacks) schedules work on :func:`portal_loop`
with ``asyncio.run_coroutine_threadsafe`` and returns at once.

Everything async that one object owns (e.g. a ``Client`` and its connection pool) should live on
the portal loop: httpx connections belong to the loop that opened them.

Why not anyio's blocking portal (``anyio.from_thread.start_blocking_portal``, installed with
httpx): it is a context manager for a portal scoped to a ``with`` block. A portal that lives as
long as the process and starts on first use would still need everything written here — the
module-level handle, the stop at exit, the restart after a fork — and wanbook needs the loop
itself (widget callbacks use ``asyncio.run_coroutine_threadsafe``; sessions key their httpx
clients by loop), which anyio's portal does not expose. It would replace the dozen lines that
start and join the thread, not the rest. (Nor ``nest_asyncio``: patching asyncio to re-enter the
kernel's loop breaks other libraries and cannot run a coroutine while the cell blocks.)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["portal_loop", "run_sync", "stop_portal"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_pid: int | None = None
_atexit_registered = False


def portal_loop() -> asyncio.AbstractEventLoop:
    """The portal's running event loop, started on first call (again after a fork or a stop)."""
    global _loop, _thread, _pid, _atexit_registered
    with _lock:
        alive = _thread is not None and _thread.is_alive() and _pid == os.getpid()
        if _loop is None or not alive or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=_serve, args=(loop, ready), name="wanbook-portal", daemon=True
            )
            thread.start()
            ready.wait()
            _loop, _thread, _pid = loop, thread, os.getpid()
            if not _atexit_registered:
                atexit.register(stop_portal)
                _atexit_registered = True
        return _loop


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    """The portal thread: run the loop until :func:`stop_portal` stops it, then close it."""
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    try:
        loop.run_forever()
    finally:
        loop.close()


def run_sync(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` on the portal loop and return its result (or raise its exception).

    Safe in a plain script, inside a running loop (a Jupyter cell) and from any thread. If the
    wait is interrupted (KeyboardInterrupt, or ``timeout`` seconds pass: TimeoutError), the
    coroutine is cancelled too, so nothing keeps running behind the caller's back.
    """
    if not asyncio.iscoroutine(coro):
        raise TypeError(f"run_sync needs a coroutine, got {type(coro).__name__}")
    loop = portal_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("run_sync was called on the portal loop itself; await the coroutine")
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result(timeout)
    except BaseException:
        future.cancel()  # no-op if it already finished; else cancels the task on the portal
        raise


def stop_portal(timeout: float = 2.0) -> None:
    """Cancel what still runs on the portal, stop its loop and thread (at exit, and for tests).

    The next :func:`portal_loop` or :func:`run_sync` starts a fresh one.
    """
    global _loop, _thread
    with _lock:
        loop, thread = _loop, _thread
        _loop = _thread = None
    if loop is None or thread is None or not thread.is_alive() or loop.is_closed():
        return

    async def drain() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_asyncgens()

    # A task that refuses to stop must not block interpreter exit.
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(drain(), loop).result(timeout)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout)
