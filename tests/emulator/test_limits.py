"""Rate limits (per rate group: submissions per second, tasks in flight) and injected faults."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.emulator_helpers import (
    auth,
    create,
    create_id,
    query,
    t2v,
    wait_done,
)
from tests.fakes import FakeClock
from wanbook.emulator import Emulator, Faults


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


# ------------------------------------------------------------------ rate limits
def test_submissions_per_second_then_tasks_in_flight(client) -> None:
    clock = FakeClock()
    with Emulator(time_scale=1.0, clock=clock) as emu:  # wan2.2: 2 per second, 2 in flight
        body = t2v(model="wan2.2-t2v-plus", prompt_extend=False, seed=1)
        assert create(client, emu.base_url, body).status_code == 200
        assert create(client, emu.base_url, body).status_code == 200
        burst = create(client, emu.base_url, body)
        assert burst.status_code == 429
        assert burst.json()["code"] == "Throttling.RateQuota"
        assert "per second" in burst.json()["message"]
        # other rate groups have their own limits
        assert create(client, emu.base_url, t2v(model="wan2.5-t2v-preview")).status_code == 200
        clock.advance(1.0)  # the window has room again, but two wan2.2 tasks are still queued
        busy = create(client, emu.base_url, body)
        assert busy.status_code == 429 and "in progress" in busy.json()["message"]
        clock.advance(3600)  # both finish (once their shared file is rendered)
        listing = client.get(
            emu.base_url + "/tasks", headers=auth(), params={"model_name": "wan2.2-t2v-plus"}
        )
        for entry in listing.json()["data"]:
            assert (
                wait_done(client, emu.base_url, entry["task_id"])["output"]["task_status"]
                == "SUCCEEDED"
            )
        assert create(client, emu.base_url, body).status_code == 200


@pytest.mark.parametrize(
    ("first", "second"),
    [("wan2.2-t2v-plus", "wan2.1-t2v-turbo"), ("wan2.5-t2v-preview", "wan2.6-t2v")],
)
def test_the_families_of_a_rate_group_share_its_limits(client, first: str, second: str) -> None:
    """docs/dashscope-api.md §4.1 limits groups of families per account; the emulator counts as the client's
    limiter does, from the catalogue's ``[rate_groups]``."""
    from wanbook._spec.catalogue import catalogue

    a, b = catalogue().get(first), catalogue().get(second)
    assert a.rate_group == b.rate_group and a.family != b.family
    n = a.rate_per_second
    clock = FakeClock()
    with Emulator(time_scale=1.0, clock=clock) as emu:
        for i in range(n):
            body = t2v(model=first, prompt_extend=False, seed=i)
            assert create(client, emu.base_url, body).status_code == 200
        other = t2v(model=second, prompt_extend=False, seed=1, size="1280*720")
        burst = create(client, emu.base_url, other)
        assert burst.status_code == 429 and "per second" in burst.json()["message"]
        assert a.rate_group in burst.json()["message"]
        clock.advance(1.0)  # the window has room again, but the group's tasks are in flight
        busy = create(client, emu.base_url, other)
        assert busy.status_code == 429 and "in progress" in busy.json()["message"]


def test_a_client_pacing_at_the_limit_is_never_throttled(client) -> None:
    """5 per second for wan2.5, started at exactly that pace on the client's clock: no 429, even
    when each request reaches the server a few milliseconds late by a varying amount (loopback
    latency). The arrival times are set on a fake clock, so the test is exact on any machine."""
    body = t2v(model="wan2.5-t2v-preview", prompt_extend=False, seed=2, audio=False)
    clock = FakeClock()
    with Emulator(time_scale=1e-4, clock=clock) as emu:
        first = create_id(client, emu.base_url, body)
        clock.advance(1.0)
        wait_done(client, emu.base_url, first)  # rendered once: later equal tasks end at once
        start = clock()
        latency = [0.0, 0.03, 0.0, 0.04, 0.01, 0.0, 0.045, 0.0]  # below the emulator's SLACK
        statuses = []
        for k, late in enumerate(latency):
            clock.advance(start + k * 0.2 + late - clock())
            statuses.append(create(client, emu.base_url, body).status_code)
        assert statuses == [200] * 8
        clock.advance(1.0)
        burst = [create(client, emu.base_url, body).status_code for _ in range(7)]
        assert burst.count(200) == 5 and burst.count(429) == 2


def test_rate_limits_can_be_switched_off(client) -> None:
    with Emulator(time_scale=1.0, rate_limits=False, clock=FakeClock()) as emu:
        body = t2v(model="wan2.1-t2v-turbo")
        assert [create(client, emu.base_url, body).status_code for _ in range(6)] == [200] * 6


def test_query_rate_limit_is_opt_in(client) -> None:
    with Emulator(query_rate=3, clock=FakeClock()) as emu:
        codes = [
            client.get(emu.base_url + "/tasks/x", headers=auth()).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]


# ------------------------------------------------------------------ faults
@pytest.mark.parametrize(
    ("faults", "code", "message"),
    [
        (
            Faults(task_fail_rate=1.0, task_fail_code="InternalError"),
            "InternalError",
            "internal error",
        ),
        (
            Faults(task_fail_rate=1.0, task_fail_code="DataInspectionFailed"),
            "DataInspectionFailed",
            "inappropriate content",
        ),
    ],
)
def test_tasks_can_be_made_to_fail(client, faults, code, message) -> None:
    clock = FakeClock()
    with Emulator(time_scale=1.0, clock=clock, faults=faults) as emu:
        task_id = create_id(client, emu.base_url, t2v())
        clock.advance(20)
        assert query(client, emu.base_url, task_id)["output"]["task_status"] == "RUNNING"
        clock.advance(100)
        answer = query(client, emu.base_url, task_id)
        out = answer["output"]
        assert out["task_status"] == "FAILED" and out["code"] == code and message in out["message"]
        assert "usage" not in answer and "video_url" not in out and "end_time" in out


def test_fault_decisions_repeat_under_the_same_seed(client) -> None:
    def statuses(seed: int) -> list[str]:
        clock = FakeClock()
        faults = Faults(seed=seed, task_fail_rate=0.5)
        with Emulator(time_scale=1.0, clock=clock, faults=faults, rate_limits=False) as emu:
            ids = [
                create_id(client, emu.base_url, t2v(prompt_extend=False, seed=9)) for _ in range(10)
            ]
            clock.advance(3600)
            return [wait_done(client, emu.base_url, i)["output"]["task_status"] for i in ids]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {"SUCCEEDED", "FAILED"}


def test_server_errors_on_any_request(client) -> None:
    with Emulator(faults=Faults(server_error_rate=1.0)) as emu:
        for r in (
            create(client, emu.base_url, t2v()),
            client.get(emu.base_url + "/tasks/x", headers=auth()),
            client.get(emu.base_url + "/tasks", headers=auth()),
            client.post(emu.base_url + "/tasks/x/cancel", headers=auth()),
        ):
            assert r.status_code == 500 and r.json()["code"] == "InternalError"
        emu.faults = Faults()
        assert client.get(emu.base_url + "/tasks", headers=auth()).json()["total"] == 0


def test_model_unavailable_on_creates(client) -> None:
    with Emulator(faults=Faults(unavailable_rate=1.0)) as emu:
        r = create(client, emu.base_url, t2v())
        assert r.status_code == 503 and r.json()["code"] == "ModelUnavailable"
        assert client.get(emu.base_url + "/tasks", headers=auth()).json()["total"] == 0


def test_throttling_bursts(client) -> None:
    with Emulator(rate_limits=False, faults=Faults(throttle_next=2)) as emu:
        codes = [create(client, emu.base_url, t2v()) for _ in range(3)]
        assert [r.status_code for r in codes] == [429, 429, 200]
        assert codes[0].json()["code"] == "Throttling"
        emu.faults = Faults(throttle_rate=1.0)
        assert create(client, emu.base_url, t2v()).status_code == 429
        assert client.get(emu.base_url + "/tasks", headers=auth()).json()["total"] == 1


def test_slow_tasks_take_longer(client) -> None:
    clock = FakeClock()
    with Emulator(time_scale=1.0, clock=clock, rate_limits=False) as emu:
        normal = create_id(client, emu.base_url, t2v())
        emu.faults = Faults(slow_rate=1.0, slow_factor=5)
        slow = create_id(client, emu.base_url, t2v())
        clock.advance(20)  # normal queues 8-16 s, slow 40-80 s
        assert query(client, emu.base_url, normal)["output"]["task_status"] == "RUNNING"
        assert query(client, emu.base_url, slow)["output"]["task_status"] == "PENDING"
        clock.advance(100)  # normal is done after at most 66 s, slow runs 250 s
        assert query(client, emu.base_url, slow)["output"]["task_status"] == "RUNNING"
        assert wait_done(client, emu.base_url, normal)["output"]["task_status"] == "SUCCEEDED"


def test_create_committed_but_response_lost(client) -> None:
    with Emulator(rate_limits=False, faults=Faults(lost_response_next=1)) as emu:
        with pytest.raises(httpx.RemoteProtocolError):
            create(client, emu.base_url, t2v(seed=11))
        listing = client.get(emu.base_url + "/tasks", headers=auth()).json()
        assert listing["total"] == 1  # the task exists; only the answer was lost
        task_id = listing["data"][0]["task_id"]
        assert query(client, emu.base_url, task_id)["output"]["task_status"] in (
            "PENDING",
            "RUNNING",
        )
        assert create(client, emu.base_url, t2v()).status_code == 200


def test_lost_responses_at_a_rate(client) -> None:
    with Emulator(rate_limits=False, faults=Faults(seed=3, lost_response_rate=0.5)) as emu:
        lost = 0
        for _ in range(12):
            try:
                create(client, emu.base_url, t2v())
            except httpx.RemoteProtocolError:
                lost += 1
        assert 0 < lost < 12
        assert (
            client.get(emu.base_url + "/tasks", headers=auth(), params={"page_size": 50}).json()[
                "total"
            ]
            == 12
        )
