"""The client against the embedded emulator over real loopback sockets: the whole task life cycle,
and the failures that decide whether a create may be sent again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY
from wanbook._api.client import Client
from wanbook._api.tasks import TaskStatus
from wanbook._errors import AmbiguousCreateError, AuthenticationError, BadRequestError
from wanbook._portal import run_sync
from wanbook.emulator import Emulator, Faults

MODEL = "wan2.2-t2v-plus"
BODY = {
    "model": MODEL,
    "input": {"prompt": "a red fox in the snow"},
    "parameters": {"size": "832*480"},
}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(rate_limits=False) as emu:
        yield emu


class Sleeps:
    """Records retry waits without spending them (polling passes its own short delays)."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)
        await asyncio.sleep(min(seconds, 0.05))


def test_create_watch_succeeded_and_video_downloads(emulator: Emulator) -> None:
    async def go() -> tuple[list[Any], bytes]:
        async with Client(emulator.base_url, TEST_API_KEY) as client:
            created = await client.create(BODY)
            assert created.status is TaskStatus.PENDING
            seen = [t async for t in client.watch(created.task_id, deadline=60, delays=[0.1])]
            video = await client.http.get(seen[-1].video_url)
            return seen, video.content

    seen, video = asyncio.run(go())
    statuses = [t.status for t in seen]
    assert statuses[-1] is TaskStatus.SUCCEEDED
    assert len(statuses) == len(set(statuses))  # each change once
    done = seen[-1]
    assert done.usage is not None
    assert (done.usage.billed_seconds, done.usage.tier, done.usage.size) == (5, "480P", "832*480")
    assert done.submit_time is not None and done.submit_time.utcoffset().total_seconds() == 0
    assert abs(done.submit_time.timestamp() - time.time()) < 120
    assert video[4:8] == b"ftyp"  # an MP4


def test_lost_response_is_ambiguous_and_found_not_resent(emulator: Emulator) -> None:
    emulator.faults = Faults(lost_response_next=1)

    async def go() -> tuple[Any, Any, Any]:
        async with Client(emulator.base_url, TEST_API_KEY) as client:
            with pytest.raises(AmbiguousCreateError) as info:
                await client.create(BODY)
            sent_at = info.value.sent_at
            assert sent_at is not None
            page = await client.list_tasks(model_name=MODEL)
            found = await client.find_task(MODEL, sent_at, time.time())
            done = await client.wait(found.task_id, deadline=60, delays=[0.1])
            return page, found, done

    page, found, done = asyncio.run(go())
    assert [t.task_id for t in page.tasks] == [found.task_id]  # exactly one task was made
    assert done.status is TaskStatus.SUCCEEDED


def test_throttled_create_is_retried(emulator: Emulator) -> None:
    emulator.faults = Faults(throttle_next=2)
    sleeps = Sleeps()

    async def go() -> tuple[Any, Any]:
        async with Client(emulator.base_url, TEST_API_KEY, sleep=sleeps) as client:
            created = await client.create(BODY)
            return created, await client.list_tasks(model_name=MODEL)

    created, page = asyncio.run(go())
    assert len(sleeps.seen) == 2
    assert [t.task_id for t in page.tasks] == [created.task_id]


def test_cancel_a_pending_task() -> None:
    with Emulator(rate_limits=False, time_scale=1.0) as emu:  # real pace: it stays PENDING

        async def go() -> tuple[Any, Any]:
            async with Client(emu.base_url, TEST_API_KEY) as client:
                created = await client.create(BODY)
                await client.cancel(created.task_id)
                with pytest.raises(BadRequestError) as info:
                    await client.cancel(created.task_id)
                return await client.query(created.task_id), info.value

        task, error = asyncio.run(go())
    assert task.status is TaskStatus.CANCELED
    assert error.code == "UnsupportedOperation"


def test_wrong_key_is_an_authentication_error() -> None:
    with Emulator(api_key="sk-the-right-one") as emu:
        client = Client(emu.base_url, TEST_API_KEY)
        with pytest.raises(AuthenticationError) as info:
            run_sync(client.create(BODY))
        run_sync(client.aclose())
    assert info.value.code == "InvalidApiKey"
    assert TEST_API_KEY not in str(info.value)


def test_sync_facade_end_to_end(emulator: Emulator) -> None:
    client = Client(emulator.base_url, TEST_API_KEY)
    try:
        created = run_sync(client.create(BODY))
        done = run_sync(client.wait(created.task_id, deadline=60, delays=[0.1]))
    finally:
        run_sync(client.aclose())
    assert done.status is TaskStatus.SUCCEEDED and done.video_url
