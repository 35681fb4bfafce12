"""``resume`` over loopback HTTP against the emulator: every run is carried forward, at once,
whatever happens to one of them; lost creates are looked for under the name they were sent by."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

import wanbook as wb
from wanbook._api.client import Client
from wanbook._errors import ResumeError
from wanbook._portal import run_sync
from wanbook._secret import Secret
from wanbook.emulator import Emulator

T2V = dict(model="wan2.2-t2v-plus", size="832*480", seed=7, prompt_extend=False)


@pytest.fixture(scope="module")
def emu() -> Any:
    with Emulator() as e:
        yield e


class Proxy:
    """An ``httpx.MockTransport`` handler that forwards to the emulator, noting every request
    and answering queries of ``refuse`` with 400 (a failure no retry cures)."""

    def __init__(self, base_url: str, refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.base_url, self.refuse = base_url, set(refuse)
        self.seen: list[tuple[str, str]] = []  # ("query", task_id) / ("video", url)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/tasks/" in path and request.method == "GET" and not path.endswith("/tasks/"):
            task_id = path.rstrip("/").rsplit("/", 1)[1]
            self.seen.append(("query", task_id))
            if task_id in self.refuse:
                body = {"code": "InvalidParameter", "message": "refused", "request_id": "r"}
                return httpx.Response(400, json=body)
        elif path.endswith(".mp4"):
            self.seen.append(("video", path))
        async with httpx.AsyncClient() as upstream:
            answer = await upstream.request(
                request.method, str(request.url), headers=request.headers, content=request.content
            )
        data = answer.content

        async def chunks() -> AsyncIterator[bytes]:  # streamed on, as the service streams
            yield data

        return httpx.Response(answer.status_code, headers=answer.headers, content=chunks())


def _session(emu: Any, api_key: str, home: Any, **kw: Any) -> wb.Session:
    return wb.Session(api_key=api_key, base_url=emu.base_url, home=home, quiet=True, **kw)


def _left_behind(s: wb.Session, api_key: str, n: int, status: str = "PENDING") -> list[str]:
    """``n`` runs whose tasks were created and logged, then "the kernel died"."""
    ids = []
    for i in range(n):
        prep = s.prepare(wb.Request(prompt=f"left behind {i}", **T2V))
        tracker = s.tracker()
        run_id = tracker.start(prep, None, [])

        async def create(body: dict = prep.body) -> str:
            async with Client(s.endpoint(), Secret(api_key)) as c:
                return (await c.create(body)).task_id

        tracker.update(run_id, status=status, task_id=run_sync(create()))
        ids.append(run_id)
    return ids


def test_one_failing_run_does_not_stop_the_others(
    api_key: str, emu: Any, tmp_path: Any, db_url: str
) -> None:
    """On both engines (db_url: WANBOOK_DB is a SQLite file, then a PostgreSQL schema)."""
    with _session(emu, api_key, tmp_path) as s:
        assert s.log.dialect == ("postgresql" if "://" in db_url else "sqlite")
        ids = _left_behind(s, api_key, 3)
        s.log.update(ids[1], task_id="task-the-service-refuses")
    proxy = Proxy(emu.base_url, {"task-the-service-refuses"})
    with _session(emu, api_key, tmp_path, transport=httpx.MockTransport(proxy)) as s:
        with pytest.raises(ResumeError, match="1 of 3") as info:
            s.resume()
        assert isinstance(info.value, wb.WanbookError)  # the CLI exits 1 on it
        assert list(info.value.failures) == [ids[1]]
        assert isinstance(info.value.failures[ids[1]], wb.BadRequestError)
        assert [r.run_id for r in info.value.runs] == ids
        assert [s.run(i).status for i in ids] == ["SUCCEEDED", "PENDING", "SUCCEEDED"]
        failed = s.run(ids[1]).record
        assert failed["error_code"] == "InvalidParameter"
        assert failed["error_message"].startswith("resume failed:")
        # the failure stays for a later resume; without raising, the runs come back as logged
        runs = s.resume(raise_on_failure=False)
        assert [(r.run_id, r.status) for r in runs] == [(ids[1], "PENDING")]


@pytest.mark.parametrize(("concurrency", "together"), [(8, True), (1, False)])
def test_unfinished_runs_are_followed_at_the_same_time(
    api_key: str, emu: Any, tmp_path: Any, concurrency: int, together: bool
) -> None:
    with _session(emu, api_key, tmp_path) as s:
        ids = _left_behind(s, api_key, 3)
        tasks = [s.run(i).task_id for i in ids]
    proxy = Proxy(emu.base_url)
    with _session(emu, api_key, tmp_path, transport=httpx.MockTransport(proxy)) as s:
        runs = s.resume(concurrency=concurrency)
        assert [r.status for r in runs] == ["SUCCEEDED"] * 3
    first_video = next(i for i, (kind, _) in enumerate(proxy.seen) if kind == "video")
    asked_before = {what for kind, what in proxy.seen[:first_video] if kind == "query"}
    # together: every task is asked about before any video is fetched; one at a time: not
    assert (asked_before == set(tasks)) is together


def test_a_lost_create_in_cn_is_found_under_its_wire_name(api_key: str, tmp_path: Any) -> None:
    with Emulator(region="cn") as emu, _session(emu, api_key, tmp_path, region="cn") as s:
        req = wb.Request(
            prompt="a lantern",
            model="wan2.1-t2v-turbo",
            size="832*480",
            seed=3,
            prompt_extend=False,
        )
        prep = s.prepare(req)
        assert prep.body["model"] == "wanx2.1-t2v-turbo"  # what the list endpoint reports
        tracker = s.tracker()
        run_id = tracker.start(prep, None, [])
        sent = datetime.now(UTC)
        tracker.update(run_id, status="SUBMITTING", submitted_at=sent)

        async def create() -> str:
            async with Client(emu.base_url, Secret(api_key)) as c:
                return (await c.create(prep.body)).task_id

        task_id = run_sync(create())
        tracker.update(run_id, status="AMBIGUOUS")  # the answer was lost: no task id logged
        (run,) = s.resume(list_grace=0)
        assert run.task_id == task_id and run.status == "SUCCEEDED"
        assert run.model == "wan2.1-t2v-turbo" and run.currency == "CNY"
        assert run.cost == pytest.approx(0.24 * 5)
        assert s.resume() == []


def test_resume_runs_on_a_running_loop(api_key: str, emu: Any, tmp_path: Any) -> None:
    with _session(emu, api_key, tmp_path) as s:
        ids = _left_behind(s, api_key, 2)

        async def main() -> list[wb.Run]:
            try:
                return await s.aresume()
            finally:
                await s.client().aclose()  # this loop's client: closed before the loop ends

        runs = asyncio.run(main())
        assert sorted(r.run_id for r in runs) == sorted(ids)
        assert {r.status for r in runs} == {"SUCCEEDED"}


def test_resume_counts_the_tasks_it_follows_in_flight(
    api_key: str, emu: Any, tmp_path: Any
) -> None:
    """A dead kernel's tasks still run at the service: while resume follows them, every process
    on the account counts them in flight, and they stop counting once followed to the end."""
    with _session(emu, api_key, tmp_path) as s:
        _left_behind(s, api_key, 2)
    counted: list[int] = []
    with _session(emu, api_key, tmp_path) as s:
        shared = s.shared_account()

        def note(run: Any) -> None:
            counted.append(shared.store.in_flight(shared.account, "wan2.1/wan2.2"))

        runs = s.resume(on_update=note)
        assert [r.status for r in runs] == ["SUCCEEDED"] * 2
        assert max(counted) == 2
        assert shared.store.in_flight(shared.account, "wan2.1/wan2.2") == 0


def test_a_lost_create_is_looked_for_through_a_throttled_list(
    api_key: str, emu: Any, tmp_path: Any
) -> None:
    """The list endpoint answering 429 longer than the client's retries does not fail resume:
    the search is asked again (Retry-After) until the deadline, and the task is found."""
    with _session(emu, api_key, tmp_path) as s:
        prep = s.prepare(wb.Request(prompt="a lost create", **T2V))
        tracker = s.tracker()
        run_id = tracker.start(prep, None, [])
        tracker.update(run_id, status="SUBMITTING", submitted_at=datetime.now(UTC))

        async def create() -> str:
            async with Client(emu.base_url, Secret(api_key)) as c:
                return (await c.create(prep.body)).task_id

        task_id = run_sync(create())
        tracker.update(run_id, status="AMBIGUOUS")  # the answer was lost: no task id logged
    proxy = Proxy(emu.base_url)
    refused: list[int] = []

    async def throttled_lists(request: httpx.Request) -> httpx.Response:
        if request.url.path.rstrip("/").endswith("/tasks") and len(refused) < 7:
            refused.append(1)  # more than one find_task's 1 + 4 tries
            body = {"code": "Throttling.RateQuota", "message": "slow down", "request_id": "r"}
            return httpx.Response(429, json=body, headers={"Retry-After": "0"})
        return await proxy(request)

    transport = httpx.MockTransport(throttled_lists)
    with _session(emu, api_key, tmp_path, transport=transport) as s:
        (run,) = s.resume(list_grace=0)
        assert run.task_id == task_id and run.status == "SUCCEEDED"
        assert len(refused) == 7
