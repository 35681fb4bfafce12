"""Pure parts of the emulator: wire formats, usage shapes, timing, state from the clock, faults."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from wanbook._spec.catalogue import catalogue
from wanbook.emulator import Faults
from wanbook.emulator._faults import FaultPlan
from wanbook.emulator._limits import WINDOW, SlidingWindow
from wanbook.emulator._protocol import (
    actual_prompt,
    error_body,
    format_time,
    parse_list_time,
    usage_for,
)
from wanbook.emulator._tasks import Artifact, Task, timing

T0 = 1_800_000_000.0


def test_times_are_utc8_with_milliseconds() -> None:
    text = format_time(T0 + 0.5)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", text)
    expected = datetime.fromtimestamp(T0, tz=timezone(timedelta(hours=8)))
    assert text == expected.strftime("%Y-%m-%d %H:%M:%S") + ".500"
    assert parse_list_time(expected.strftime("%Y%m%d%H%M%S")) == T0


@pytest.mark.parametrize("bad", ["2026-01-01", "20260101", "2026010112000x", ""])
def test_list_time_must_be_14_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_list_time(bad)


def test_error_body_has_a_fresh_request_id() -> None:
    a, b = error_body("X", "y"), error_body("X", "y")
    assert set(a) == {"code", "message", "request_id"} and a["request_id"] != b["request_id"]


# (model, duration, tier, size, sound) -> the exact usage the service answers (docs/dashscope-api.md §3.1)
USAGE = [
    (
        "wan2.6-t2v",
        10,
        "720P",
        "1280*720",
        True,
        {
            "duration": 10,
            "input_video_duration": 0,
            "output_video_duration": 10,
            "video_count": 1,
            "SR": 720,
            "size": "1280*720",
        },
    ),
    (
        "wan2.6-i2v-flash",
        5,
        "1080P",
        "1920*1072",
        False,
        {
            "duration": 5,
            "input_video_duration": 0,
            "output_video_duration": 5,
            "video_count": 1,
            "SR": 1080,
            "audio": False,
        },
    ),
    (
        "wan2.6-i2v",
        7,
        "720P",
        "816*1104",
        True,
        {
            "duration": 7,
            "input_video_duration": 0,
            "output_video_duration": 7,
            "video_count": 1,
            "SR": 720,
        },
    ),
    (
        "wan2.5-i2v-preview",
        10,
        "480P",
        "832*480",
        True,
        {"duration": 10, "SR": 480, "video_count": 1},
    ),
    (
        "wan2.2-i2v-flash",
        5,
        "720P",
        "1280*720",
        False,
        {"duration": 5, "SR": 720, "video_count": 1},
    ),
    (
        "wan2.5-t2v-preview",
        5,
        "480P",
        "832*480",
        True,
        {"video_duration": 5, "video_ratio": "832*480", "video_count": 1},
    ),
    (
        "wan2.1-t2v-turbo",
        5,
        "720P",
        "1280*720",
        False,
        {"video_duration": 5, "video_ratio": "1280*720", "video_count": 1},
    ),
    (
        "wan2.1-i2v-turbo",
        3,
        "480P",
        "832*480",
        False,
        {"video_duration": 3, "video_ratio": "standard", "video_count": 1},
    ),
]


@pytest.mark.parametrize(("model", "duration", "tier", "size", "sound", "expected"), USAGE)
def test_usage_has_the_shape_of_the_model_family(
    model, duration, tier, size, sound, expected
) -> None:
    spec = catalogue().get(model)
    assert usage_for(spec, duration=duration, tier=tier, size=size, sound=sound) == expected


def test_every_catalogue_usage_family_is_known() -> None:
    for spec in catalogue().models.values():
        usage_for(spec, duration=5, tier=spec.tiers[0], size="832*480", sound=False)


def test_actual_prompt_is_deterministic_and_keeps_the_prompt() -> None:
    a = actual_prompt("a red fox in the snow", 7)
    assert a == actual_prompt("a red fox in the snow", 7)
    assert "A red fox in the snow" in a and len(a) > len("a red fox in the snow") + 20
    assert "image" in actual_prompt("", 7, from_image=True)


def test_timing_scales_with_tier_duration_and_time_scale() -> None:
    q1, r1 = timing("480P", 5, "id", 1.0)
    assert 8 <= q1 <= 16 and r1 == pytest.approx(50)
    q2, r2 = timing("1080P", 15, "id", 1.0)
    assert q1 + r1 >= 60 and q2 + r2 <= 300 and r2 > r1
    q3, r3 = timing("480P", 5, "id", 1 / 60)
    assert q3 == pytest.approx(q1 / 60) and r3 == pytest.approx(r1 / 60)
    q4, r4 = timing("480P", 5, "id", 1.0, slow=5)
    assert (q4, r4) == (pytest.approx(q1 * 5), pytest.approx(r1 * 5))


def _task(**kw) -> Task:
    spec = catalogue().get("wan2.1-t2v-turbo")
    base = dict(
        task_id="t",
        request_id="r",
        model=spec.name,
        spec=spec,
        region="intl",
        submit=T0,
        queue=10.0,
        run=50.0,
        task_ttl=1000.0,
        url_ttl=1000.0,
        orig_prompt="p",
        actual_prompt=None,
        usage={},
        artifact=Artifact(key="k", path=None),  # type: ignore[arg-type]
    )
    base.update(kw)
    return Task(**base)


def test_state_is_computed_from_the_clock() -> None:
    t = _task()
    assert t.status(T0) == "PENDING" and t.status(T0 + 9.9) == "PENDING"
    assert t.status(T0 + 10) == "RUNNING" and t.status(T0 + 59.9) == "RUNNING"
    assert t.status(T0 + 60) == "RUNNING"  # the file is not rendered yet
    t.artifact.ready_at = T0 + 70
    assert t.status(T0 + 60) == "SUCCEEDED" and t.end_time(T0 + 80) == T0 + 70
    assert t.url_expires() == T0 + 70 + 1000
    assert t.status(T0 + 1000) == "UNKNOWN"


def test_failed_and_canceled_states() -> None:
    failed = _task(fail=("InternalError", "boom"))
    assert failed.status(T0 + 59) == "RUNNING" and failed.status(T0 + 60) == "FAILED"
    out, usage = failed.output(T0 + 61, "u")
    assert (out["code"], out["message"], usage) == ("InternalError", "boom", None)
    assert failed.url_expires() is None
    canceled = _task(canceled_at=T0 + 1)
    assert canceled.status(T0 + 100) == "CANCELED" and canceled.end_time(T0 + 100) == T0 + 1


def test_sliding_window_counts_the_last_second() -> None:
    w = SlidingWindow(2)
    assert w.acquire(0.0) and w.acquire(0.1) and not w.acquire(0.5)
    assert not w.acquire(0.0 + WINDOW - 0.001)
    assert w.acquire(0.0 + WINDOW)  # the first event has left the window
    w.release_last()
    assert w.acquire(0.0 + WINDOW)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"task_fail_rate": 1.5}, "task_fail_rate"),
        ({"server_error_rate": -0.1}, "server_error_rate"),
        ({"throttle_next": -1}, "throttle_next"),
        ({"slow_factor": 0.5}, "slow_factor"),
        ({"task_fail_code": "Oops"}, "task_fail_code"),
        ({"seed": "x"}, "seed"),
    ],
)
def test_faults_reject_bad_values_naming_the_field(kwargs, field) -> None:
    with pytest.raises(ValueError, match=field):
        Faults(**kwargs)


def test_fault_plan_is_deterministic_under_a_seed() -> None:
    faults = Faults(
        seed=42, task_fail_rate=0.5, slow_rate=0.5, throttle_rate=0.3, lost_response_rate=0.3
    )

    def run(f: Faults) -> list:
        plan = FaultPlan(f)
        return [(plan.task_fate(), plan.create_error(), plan.lose_response()) for _ in range(40)]

    first = run(faults)
    assert first == run(faults)
    assert first != run(Faults(**{**faults.__dict__, "seed": 43}))
    fates = [fate for fate, _, _ in first]
    assert any(f.fail for f in fates) and any(not f.fail for f in fates)
    assert {f.fail[0] for f in fates if f.fail} == {"InternalError", "DataInspectionFailed"}


def test_fault_counters_reset_with_new_faults() -> None:
    plan = FaultPlan(Faults(throttle_next=1, lost_response_next=1))
    assert plan.create_error() == "throttle" and plan.create_error() is None
    assert plan.lose_response() and not plan.lose_response()
    plan.reset(Faults(throttle_next=1))
    assert plan.create_error() == "throttle"
    assert not Faults().any and Faults(slow_rate=0.1).any
