"""The sync facade: run_sync from a plain thread, from inside a running loop, and when interrupted."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import TEST_API_KEY
from wanbook._api.client import Client
from wanbook._portal import portal_loop, run_sync, stop_portal


async def double(x: int) -> tuple[int, str]:
    await asyncio.sleep(0)
    return 2 * x, threading.current_thread().name


class Boom(Exception):
    pass


async def boom() -> None:
    await asyncio.sleep(0)
    raise Boom("from the portal")


def test_plain_call_runs_on_the_portal() -> None:
    value, thread = run_sync(double(21))
    assert value == 42 and thread == "wanbook-portal"
    assert thread != threading.current_thread().name


def test_from_many_threads() -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: run_sync(double(i))[0], range(20)))
    assert results == [2 * i for i in range(20)]


def test_inside_a_running_loop() -> None:
    """What a Jupyter cell does: the caller's thread already runs an event loop."""

    async def cell() -> int:
        assert asyncio.get_running_loop() is not portal_loop()
        return run_sync(double(5))[0]

    assert asyncio.run(cell()) == 10


def test_exceptions_propagate_unchanged() -> None:
    with pytest.raises(Boom, match="from the portal"):
        run_sync(boom())


def test_not_a_coroutine() -> None:
    with pytest.raises(TypeError, match="coroutine"):
        run_sync(double)  # type: ignore[arg-type]


def test_reentry_from_the_portal_is_refused() -> None:
    async def nested() -> None:
        run_sync(double(1))

    with pytest.raises(RuntimeError, match="portal loop itself"):
        run_sync(nested())


def test_portal_loop_takes_work_without_blocking() -> None:
    loop = portal_loop()
    assert loop.is_running()
    future = asyncio.run_coroutine_threadsafe(double(3), loop)
    assert future.result(5)[0] == 6
    assert portal_loop() is loop


def test_timeout_cancels_the_coroutine() -> None:
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        run_sync(slow(), timeout=0.05)
    assert cancelled.wait(5)


def test_keyboard_interrupt_cancels_the_coroutine() -> None:
    """Ctrl-C (SIGINT to the main thread, as a kernel interrupt sends) stops the work too."""
    assert threading.current_thread() is threading.main_thread()
    started, cancelled = threading.Event(), threading.Event()

    async def long_job() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def press_ctrl_c() -> None:
        started.wait(5)
        time.sleep(0.05)  # let run_sync block in its wait
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_sync(long_job())
    assert cancelled.wait(5)


def test_stop_and_restart() -> None:
    first = portal_loop()
    stop_portal()
    assert first.is_closed()
    assert run_sync(double(2))[0] == 4
    assert portal_loop() is not first


def test_a_client_lives_on_the_portal() -> None:
    """The session's pattern: one client, many run_sync calls, connections kept on one loop."""
    answer = {"request_id": "r", "output": {"task_id": "t", "task_status": "RUNNING"}}
    client = Client(
        "http://emulator.test/api/v1",
        TEST_API_KEY,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=answer)),
    )
    assert [run_sync(client.query("t")).task_id for _ in range(3)] == ["t", "t", "t"]
    run_sync(client.aclose())


def test_import_starts_no_thread() -> None:
    code = (
        "import threading, wanbook._portal, wanbook._api.client\n"
        "assert [t.name for t in threading.enumerate()] == ['MainThread'], threading.enumerate()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_inside_a_notebook_kernel() -> None:
    """Under nbclient (as papermill and nbval run notebooks) a cell's loop is already running."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import asyncio\n"
            "from wanbook._portal import run_sync\n"
            "async def f():\n"
            "    await asyncio.sleep(0.01)\n"
            "    return 42\n"
            "assert asyncio.get_running_loop().is_running()\n"
            "print(run_sync(f()))"
        ),
        nbformat.v4.new_code_cell("await asyncio.sleep(0)\nprint(run_sync(f()) + 1)"),
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert [o["text"] for cell in nb.cells for o in cell.outputs] == ["42\n", "43\n"]
