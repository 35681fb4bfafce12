"""The one orchestration path, end to end over loopback HTTP against the embedded emulator."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest

import wanbook as wb
from wanbook._api.client import Client
from wanbook._media.videos import probe
from wanbook._portal import run_sync
from wanbook._secret import Secret
from wanbook.emulator import Emulator, Faults

T2V = dict(model="wan2.2-t2v-plus", size="832*480", seed=7, prompt_extend=False)


@pytest.fixture
def emu() -> Any:
    with Emulator() as e:
        yield e


def _session(emu: Any, api_key: str, **kw: Any) -> wb.Session:
    return wb.Session(api_key=api_key, base_url=emu.base_url, quiet=True, **kw)


def test_generate_on_embedded_emulator_logs_everything(capsys: pytest.CaptureFixture[str]) -> None:
    steps: list[dict] = []
    with wb.Session(experiment="first") as s:
        run = s.generate(
            "a kitten in the moonlight", on_update=lambda r: steps.append(r.record), **T2V
        )
        assert run.status == "SUCCEEDED" and run.ok
        info = probe(run.video)
        assert (info.width, info.height, round(info.fps)) == (832, 480, 30)
        assert abs(info.duration - 5.0) < 0.1 and not info.has_audio
        assert run.backend == "emulator" and run.experiment == "first"
        assert run.billed_seconds == 5 and run.tier == "480P"
        assert run.cost == pytest.approx(0.02 * 5) and run.currency == "USD"
        assert run.estimate == pytest.approx(0.10)
        assert Path(run.video_path).parent == s.home / "videos"
        df = s.runs()
        assert list(df["status"].astype(str)) == ["SUCCEEDED"]
    assert "embedded emulator" in capsys.readouterr().err
    # write-ahead: a row existed before the create; the task id was logged before any poll
    statuses = [st["status"] for st in steps]
    assert statuses[:2] == ["PREPARED", "SUBMITTING"]
    assert all(st.get("task_id") is None for st in steps[:2])
    first_with_task = next(st for st in steps if st.get("task_id"))
    assert first_with_task["status"] == "PENDING"
    assert statuses[-1] == "SUCCEEDED"


def test_failed_task_is_logged_unbilled_and_raises(api_key: str) -> None:
    faults = Faults(task_fail_rate=1.0, task_fail_code="InternalError")
    with Emulator(faults=faults) as emu, _session(emu, api_key) as s:
        with pytest.raises(wb.TaskFailedError) as info:
            s.generate("a fox", **T2V)
        assert info.value.code == "InternalError"
        (row,) = s.runs().to_dict("records")
        assert row["status"] == "FAILED" and row["cost"] == 0.0
        assert row["error_code"] == "InternalError"


def test_ambiguous_create_is_found_not_resent(api_key: str) -> None:
    with Emulator(faults=Faults(lost_response_next=1)) as emu:
        with _session(emu, api_key) as s:
            run = s.generate("a fox", **T2V)
            assert run.status == "SUCCEEDED"
        tasks = httpx.get(
            f"{emu.base_url}/tasks/", headers={"Authorization": f"Bearer {api_key}"}
        ).json()
        assert tasks["total"] == 1  # one create reached the server, and only one


def test_budget_refusal_sends_nothing(api_key: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    with wb.Session(
        api_key=api_key, budget=0.05, transport=httpx.MockTransport(handler), quiet=True
    ) as s:
        assert s.estimate(prompt="p", **T2V).amount == pytest.approx(0.10)
        with pytest.raises(wb.BudgetExceededError, match="exceed the budget of 0.05 USD"):
            s.generate("a fox", **T2V)
        assert seen == [] and s.runs().empty


def test_budget_counts_spend(api_key: str, emu: Any) -> None:
    with _session(emu, api_key, budget=0.25) as s:
        s.generate("one", **T2V)
        s.generate("two", **T2V)
        assert s.budget_left() == pytest.approx(0.05)
        with pytest.raises(wb.BudgetExceededError, match="0.2000 is spent"):
            s.generate("three", **T2V)
        assert len(s.runs()) == 2


def test_reuse_only_for_repeatable_requests(api_key: str, emu: Any) -> None:
    with _session(emu, api_key) as s:
        first = s.generate("a fox", **T2V)
        again = s.generate("a fox", reuse=True, **T2V)
        assert again.reused and again.run_id == first.run_id
        random_seed = dict(T2V, seed=None)
        a = s.generate("a fox", reuse=True, **random_seed)
        b = s.generate("a fox", reuse=True, **random_seed)
        assert a.run_id != b.run_id
        extended = dict(T2V, prompt_extend=True)
        c = s.generate("a fox", reuse=True, **extended)
        d = s.generate("a fox", reuse=True, **extended)
        assert c.run_id != d.run_id
        assert len(s.runs()) == 5


def test_resume_finishes_a_task_left_behind(api_key: str, emu: Any) -> None:
    with _session(emu, api_key) as s:
        prep = s.prepare(wb.Request(prompt="left behind", **T2V))
        tracker = s.tracker()
        run_id = tracker.start(prep, None, [])

        async def create() -> str:
            async with Client(emu.base_url, Secret(api_key)) as c:
                return (await c.create(prep.body)).task_id

        task_id = run_sync(create())
        tracker.update(run_id, status="PENDING", task_id=task_id)
        # the "kernel died" here; a new session resumes
    with _session(emu, api_key) as s2:
        (run,) = s2.resume()
        assert run.run_id == run_id and run.status == "SUCCEEDED" and run.ok
        assert s2.resume() == []  # idempotent: nothing left to do


def test_unknown_price_is_nan_not_zero(api_key: str, emu: Any) -> None:
    with _session(emu, api_key) as s:
        with pytest.warns(UserWarning, match="price"):
            run = s.generate(model="wan2.2-i2v-plus", image=_png(), resolution="480P", seed=1)
        assert run.status == "SUCCEEDED" and math.isnan(run.cost)


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 80, 40)).save(buf, "PNG")
    return buf.getvalue()


def test_rerun_repeats_a_run_exactly_as_a_new_run(api_key: str, emu: Any, tmp_path: Path) -> None:
    with _session(emu, api_key) as s:
        first = s.generate("a fox", **T2V)
        again = s.rerun(first.run_id)
        assert again.run_id != first.run_id and again.rerun_of == first.run_id
        assert again.seed == first.seed and again.params == first.params
        assert again.video_sha256 == first.video_sha256  # fixed seed, no rewrite: same video
        changed = s.rerun(first.run_id, seed=8)
        assert changed.seed == 8 and changed.rerun_of == first.run_id

        image = tmp_path / "first-frame.png"
        image.write_bytes(_png())
        i2v = s.generate(model="wan2.1-i2v-turbo", image=str(image), resolution="480P", seed=2)
        assert s.rerun(i2v.run_id).image_sha256 == i2v.image_sha256  # read again from its path
        from_bytes = s.generate(model="wan2.1-i2v-turbo", image=_png(), resolution="480P", seed=2)
        with pytest.raises(wb.ValidationError, match="pass image=") as info:
            s.rerun(from_bytes.run_id)
        assert info.value.fields == ["image"]
        assert s.rerun(from_bytes.run_id, image=_png()).status == "SUCCEEDED"


def test_emulator_rehearsals_do_not_eat_a_real_budget(
    api_key: str, emu: Any, tmp_path: Path
) -> None:
    with wb.Session(home=tmp_path, quiet=True, budget=0.15) as rehearsal:
        rehearsal.generate("one", **T2V)  # the embedded emulator: backend "emulator"
        assert rehearsal.budget_left() == pytest.approx(0.05)
    with _session(emu, api_key, home=tmp_path, budget=0.15) as real:  # backend "intl"
        assert real.budget_left() == pytest.approx(0.15)
        real.generate("two", **T2V)
        assert real.budget_left() == pytest.approx(0.05)
        assert set(real.runs()["backend"].astype(str)) == {"emulator", "intl"}
