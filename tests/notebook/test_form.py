"""The form, driven without a browser: set child ``.value``s, ``click()`` the buttons."""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterator
from typing import Any

import pytest

import wanbook as wb
from wanbook._notebook.form.logic import (
    MULTI_SHOT_NOTE,
    controls_for,
    draw_seed,
    estimate_for,
    estimate_text,
    form_to_request,
    model_groups,
    problems_by_field,
)
from wanbook._notebook.form.widget import Form
from wanbook._spec.prices import PriceTable
from wanbook.emulator import Faults


@pytest.fixture
def session(tmp_path: Any) -> Iterator[wb.Session]:
    with wb.Session(home=tmp_path, quiet=True, emulator=True) as s:
        yield s


@pytest.fixture
def form(session: wb.Session) -> Form:
    return wb.form(session)


def shown(job: Any) -> str:
    """The HTML a job shows under its status line: the run's card, the error, or "" before."""
    return "".join(o["data"]["text/html"] for o in job.output.outputs)


def _png(width: int = 320, height: int = 240) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buf, "PNG")
    return buf.getvalue()


def _upload(form: Form, data: bytes, name: str = "photo.png") -> None:
    form.upload.value = (
        {
            "name": name,
            "type": "image/png",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        },
    )


def _t2v(form: Form, model: str = "wan2.2-t2v-plus", size: str = "832*480") -> None:
    form.kind.value = "t2v"
    form.model.value = model
    form.size.value = size
    form.prompt.value = "a red fox in the snow"
    form.prompt_extend.value = False


# ---------------------------------------------------------------------- controls follow the model
COMMON = {"duration", "seed", "watermark"}


@pytest.mark.parametrize(
    ("kind", "model", "shown", "duration"),
    [
        (
            "t2v",
            "wan2.6-t2v",
            {
                "prompt",
                "negative_prompt",
                "size",
                "audio",
                "audio_url",
                "shot_type",
                "prompt_extend",
            },
            "Dropdown",
        ),
        (
            "t2v",
            "wan2.2-t2v-plus",
            {"prompt", "negative_prompt", "size", "prompt_extend"},
            "IntText",
        ),
        (
            "i2v",
            "wan2.6-i2v-flash",
            {"prompt", "negative_prompt", "image", "resolution", "audio", "audio_url", "shot_type"}
            | {"prompt_extend"},
            "IntSlider",
        ),
        (
            "i2v",
            "wan2.5-i2v-preview",
            {"prompt", "negative_prompt", "image", "resolution", "audio_url", "prompt_extend"},
            "Dropdown",
        ),
        ("effects", "wan2.1-i2v-turbo", {"image", "template", "resolution"}, "Dropdown"),
        ("effects", "wan2.1-i2v-plus", {"image", "template", "resolution"}, "IntText"),
    ],
)
def test_controls_follow_the_model(
    form: Form, kind: str, model: str, shown: set[str], duration: str
) -> None:
    form.kind.value = kind
    form.model.value = model
    assert form.shown() == shown | COMMON
    assert form.shown() == controls_for(model, kind).shown
    assert type(form.duration).__name__ == duration
    assert form.duration.disabled == (duration == "IntText")  # a fixed duration is shown, not set


def test_choices_follow_the_model(form: Form) -> None:
    form.model.value = "wan2.2-t2v-plus"
    assert [v for _, v in form.size.options] == ["832*480", "480*832", "624*624"] + [
        "1920*1080",
        "1080*1920",
        "1440*1440",
        "1632*1248",
        "1248*1632",
    ]
    assert form.size.options[0][0] == "832*480 · 480P landscape"
    form.kind.value = "i2v"
    form.model.value = "wan2.6-i2v-flash"
    assert list(form.resolution.options) == ["720P", "1080P"] and form.resolution.value == "720P"
    assert (form.duration.min, form.duration.max, form.duration.value) == (2, 15, 5)
    form.model.value = "wan2.1-i2v-turbo"
    assert [v for _, v in form.duration.options] == [3, 4, 5]
    form.kind.value = "effects"
    assert list(form.model.options) == ["wan2.1-i2v-turbo", "wan2.1-i2v-plus"]
    assert "flying" in form.template.options and form.template.value == "flying"


@pytest.mark.parametrize(
    ("region", "start", "tier", "then", "kept"),
    [
        ("intl", "wan2.6-i2v-flash", "1080P", "wan2.2-i2v-flash", "720P"),  # not priced: default
        ("cn", "wan2.6-i2v-flash", "1080P", "wan2.2-i2v-flash", "1080P"),  # allowed and priced
        ("intl", "wan2.5-i2v-preview", "480P", "wan2.6-i2v-flash", "720P"),  # not allowed
        ("intl", "wan2.5-i2v-preview", "1080P", "wan2.6-i2v-flash", "1080P"),
    ],
)
def test_a_resolution_carries_over_only_if_allowed_and_priced(
    tmp_path: Any, region: str, start: str, tier: str, then: str, kept: str
) -> None:
    with wb.Session(home=tmp_path, region=region, quiet=True, emulator=True) as s:
        f = wb.form(s, model=start, resolution=tier)
        assert (f.kind.value, f.model.value, f.resolution.value) == ("i2v", start, tier)
        f.model.value = then
        assert f.resolution.value == kept


def test_a_size_carries_over_only_if_priced(form: Form) -> None:
    form.model.value = "wan2.5-t2v-preview"
    form.size.value = "1280*720"  # 720P: priced for wan2.5, not for wan2.2-t2v-plus
    form.model.value = "wan2.2-t2v-plus"
    assert form.size.value == "832*480" and "0.1000 USD" in form.estimate.value


@pytest.mark.parametrize(
    ("region", "model", "size", "estimate"),
    [
        ("intl", "wan2.2-t2v-plus", "832*480", "0.1000 USD"),
        ("cn", "wan2.2-t2v-plus", "832*480", "0.7000 CNY"),
        ("us", "wan2.6-t2v", "1280*720", "3.0000 CNY"),  # the one t2v model there, 720P
    ],
)
def test_the_form_starts_cheap_for_its_region(
    tmp_path: Any, region: str, model: str, size: str, estimate: str
) -> None:
    with wb.Session(home=tmp_path, region=region, quiet=True, emulator=True) as s:
        f = wb.form(s)
        assert (f.model.value, f.size.value) == (model, size)
        assert estimate in f.estimate.value


def test_the_form_starts_from_given_values(session: wb.Session) -> None:
    f = wb.form(session, model="wan2.5-t2v-preview", prompt="a fox", size="1280*720", seed=3)
    assert (f.model.value, f.size.value, f.prompt.value) == (
        "wan2.5-t2v-preview",
        "1280*720",
        "a fox",
    )
    assert (f.seed_mode.value, f.seed.value) == ("fixed", 3)
    assert "0.5000 USD" in f.estimate.value and not f.generate.disabled
    f = wb.form(session, model="wan2.6-i2v-flash", duration=7, audio=False)
    assert (f.kind.value, f.duration.value, f.audio.value) == ("i2v", 7, False)
    us = wb.Session(home=session.home, region="us", quiet=True, emulator=True)
    with us, pytest.raises(ValueError, match=r"model='wan2.2-t2v-plus' is not allowed in 'us'"):
        wb.form(us, model="wan2.2-t2v-plus")
    with pytest.raises(ValueError, match=r"size='1\*1' is not allowed for wan2.2-t2v-plus"):
        wb.form(session, size="1*1")
    with pytest.raises(TypeError, match="sise= is not a field of the form"):
        wb.form(session, sise="832*480")


def test_model_picker_is_limited_to_the_region(tmp_path: Any) -> None:
    assert model_groups("us") == {
        "t2v": ["wan2.6-t2v"],
        "i2v": ["wan2.6-i2v", "wan2.6-i2v-us"],
        "effects": [],
        "frames": [],  # wan2.7 and kf2v are not served in Virginia (docs/dashscope-wan27.md §2)
        "continuation": [],
        "reference": [],
        "edit": [],
    }
    with wb.Session(home=tmp_path, region="us", quiet=True, emulator=True) as s:
        f = wb.form(s)
        assert [v for _, v in f.kind.options] == ["t2v", "i2v"]  # no effects served there
        f.kind.value = "i2v"
        assert list(f.model.options) == ["wan2.6-i2v", "wan2.6-i2v-us"]


def test_a_value_left_in_a_hidden_control_is_not_sent(form: Form) -> None:
    form.model.value = "wan2.6-t2v"
    form.audio.value = False
    form.audio_url.value = "https://example.com/a.mp3"
    form.shot_type.value = "multi"
    form.model.value = "wan2.2-t2v-plus"
    req = form.request
    assert req is not None and (req.audio, req.audio_url, req.shot_type) == (None, None, None)


# ---------------------------------------------------------------------- checks before any click
def test_problems_show_next_to_their_fields_and_block_generate(form: Form) -> None:
    form.model.value = "wan2.6-t2v"
    assert form.messages("prompt") == ["prompt is required by text-to-video model wan2.6-t2v"]
    assert form.generate.disabled
    form.prompt.value = "a fox"
    assert form.messages("prompt") == [] and not form.generate.disabled
    form.audio_url.value = "https://example.com/song.ogg?token=secret"
    (msg,) = form.messages("audio_url")
    assert ".ogg" in msg and "secret" not in msg
    assert "song.ogg" in form._messages["audio_url"].value and form.generate.disabled
    form.audio_url.value = ""
    assert not form.generate.disabled


def test_live_character_counts(form: Form) -> None:
    form.model.value = "wan2.2-t2v-plus"
    form.prompt.value = "x" * 801
    assert "801 / 800" in form.prompt_count.value and "#b45309" in form.prompt_count.value
    (msg,) = form.messages("prompt")
    assert "cut it at 800" in msg and not form.generate.disabled  # a warning, not an error
    form.negative_prompt.value = "y" * 12
    assert "12 / 500" in form.negative_count.value


def test_multi_shot_turns_prompt_rewriting_on_and_says_why(form: Form) -> None:
    form.model.value = "wan2.6-t2v"
    form.prompt.value = "two scenes"
    form.prompt_extend.value = False
    form.shot_type.value = "multi"
    assert form.prompt_extend.value is True
    assert MULTI_SHOT_NOTE in form._messages["shot_type"].value
    form.prompt_extend.value = False  # the user insists: now it is an error, at shot_type
    (msg,) = form.messages("shot_type")
    assert "only with prompt_extend on" in msg and form.generate.disabled


def test_seed_random_or_fixed(form: Form) -> None:
    _t2v(form)
    assert form.seed.disabled and form.request is not None and form.request.seed is None
    assert "draws a new seed for each Generate" in form._messages["seed"].value
    form.seed_mode.value = "fixed"
    form.seed.value = 1234
    assert not form.seed.disabled and form.request is not None and form.request.seed == 1234
    assert form._messages["seed"].value == ""


# ---------------------------------------------------------------------- estimate and budget
def test_estimate_and_unknown_price(form: Form) -> None:
    _t2v(form)
    assert "0.1000 USD (5 s × 0.02 USD/s)" in form.estimate.value
    form.kind.value = "i2v"
    form.model.value = "wan2.2-i2v-plus"
    form.resolution.value = "480P"
    assert "unknown (no price known for wan2.2-i2v-plus 480P in region &#x27;intl&#x27;)" in (
        form.estimate.value
    )
    assert "0.0000" not in form.estimate.value


def test_the_form_says_emulator_before_anything_is_sent(form: Form, api_key: str) -> None:
    _t2v(form)
    assert "on the emulator: a synthetic video, nothing is billed" in form.estimate.value
    with wb.Session(api_key=api_key, quiet=True) as real:  # nothing is sent by a form alone
        f = wb.form(real)
        _t2v(f)
        assert "emulator" not in f.estimate.value


def test_budget_left_and_over_budget(tmp_path: Any) -> None:
    with wb.Session(home=tmp_path, budget=0.05, quiet=True, emulator=True) as s:
        f = wb.form(s)
        _t2v(f)
        assert "budget left: 0.0500 USD" in f.estimate.value
        assert f.messages("request") == ["over budget: 0.1000 USD needed, 0.0500 USD left"]
        assert f.generate.disabled and f.submit() is None


# ---------------------------------------------------------------------- the image
def test_upload_shows_a_thumbnail_and_checks_limits_at_once(form: Form) -> None:
    form.kind.value = "i2v"
    form.model.value = "wan2.2-i2v-flash"
    assert form.messages("image") == ["image is required by image-to-video model wan2.2-i2v-flash"]
    _upload(form, _png())
    assert (
        bytes(form.thumbnail.value).startswith(b"\x89PNG") and form.thumbnail.layout.display == ""
    )
    assert "photo.png" in form.image_info.value and form.messages("image") == []
    _upload(form, _png(100, 100), "tiny.png")
    (msg,) = form.messages("image")
    assert "100" in msg and "240" in msg and form.generate.disabled
    assert msg.startswith("image 'tiny.png':") and "<bytes>" not in msg  # the file's own name
    form.image_url.value = "https://example.com/cat.jpg"  # a URL replaces the upload
    assert form.messages("image") == [] and form.request is not None
    assert form.request.image == "https://example.com/cat.jpg"
    form.image_url.value = "ftp://example.com/cat.jpg"
    assert "ftp" in form.messages("image")[0]


# ---------------------------------------------------------------------- pure functions
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"model": "wan2.2-t2v-plus", "prompt": " ", "size": "832*480", "duration": 5},
            {"model": "wan2.2-t2v-plus", "size": "832*480"},
        ),
        (
            {"model": "wan2.6-t2v", "prompt": "p", "duration": 10, "seed_mode": "fixed", "seed": 5},
            {"model": "wan2.6-t2v", "prompt": "p", "duration": 10, "seed": 5},
        ),
        (
            {
                "kind": "effects",
                "model": "wan2.1-i2v-turbo",
                "prompt": "ignored",
                "image": "https://x/y.png",
            }
            | {"template": "flying", "audio_url": "https://x/a.mp3"},
            {"model": "wan2.1-i2v-turbo", "image": "https://x/y.png", "template": "flying"},
        ),
        (
            {
                "kind": "i2v",
                "model": "wan2.1-i2v-turbo",
                "template": "flying",
                "resolution": "480P",
            },
            {"model": "wan2.1-i2v-turbo", "resolution": "480P"},
        ),
        ({"model": "nope", "prompt": "p"}, {"model": "nope"}),
    ],
)
def test_form_to_request(values: dict[str, Any], expected: dict[str, Any]) -> None:
    assert form_to_request(values).to_dict() == expected


def test_pure_checks_and_estimate() -> None:
    req = form_to_request(
        {"kind": "effects", "model": "wan2.1-i2v-plus", "image": "https://x/y.png"}
    )
    assert [p.message for p in problems_by_field(req, "cn", kind="effects")["template"]] == [
        "choose an effect template"
    ]
    prices = PriceTable.load()
    bad = form_to_request({"model": "wan2.2-t2v-plus", "prompt": "p", "size": "1280*720"})
    assert estimate_for(bad, "intl", prices) is None
    assert estimate_text(None).startswith("estimate: fix the fields")
    good = bad.replace(size="832*480")
    assert estimate_for(good, "intl", prices).amount == pytest.approx(0.1)  # type: ignore[union-attr]
    import random

    assert draw_seed(random.Random(1)) == draw_seed(random.Random(1))
    assert 0 <= draw_seed() <= 2147483647


# ---------------------------------------------------------------------- generating
def test_generate_returns_at_once_and_shows_the_video(form: Form) -> None:
    _t2v(form)
    form.generate.click()
    (job,) = form.jobs
    assert not job.over  # the click returned while the task runs: the kernel is free
    assert "1 running" in form.status.value
    run = job.result(timeout=60)
    assert run is not None and run.status == "SUCCEEDED"
    assert job.request.seed is not None and run.seed == job.request.seed  # "random" was drawn
    assert f"seed {run.seed}" in job.status.value and "SUCCEEDED" in job.status.value
    assert "cost 0.1000 USD" in job.status.value
    out = shown(job)
    assert "<video" in out and run.run_id in out and "data:video" not in out and "video file" in out
    assert "1 done" in form.status.value and not job.reuse_seed.disabled
    job.reuse_seed.click()
    assert form.seed_mode.value == "fixed" and form.seed.value == run.seed


def test_several_generations_at_once(form: Form) -> None:
    _t2v(form)
    form.generate.click()
    form.model.value = "wan2.1-t2v-turbo"
    form.generate.click()
    assert len(form.jobs) == 2 and len(form.results.children) == 2
    # appended, never put in front: the front end keeps the views of the children before it
    assert form.results.children == (form.jobs[0].widget, form.jobs[1].widget)
    assert form.results.layout.flex_flow == "column-reverse"  # newest shown on top
    runs = [job.result(timeout=60) for job in form.jobs]
    assert [r.model for r in runs if r is not None] == ["wan2.2-t2v-plus", "wan2.1-t2v-turbo"]
    assert all(r is not None and r.ok for r in runs)


def test_cancel_while_pending(tmp_path: Any) -> None:
    # time_scale 0.1: a task waits 0.8-1.6 s in the queue, long enough to cancel it
    options = {"time_scale": 0.1}
    with wb.Session(home=tmp_path, quiet=True, emulator=True, emulator_options=options) as s:
        f = wb.form(s)
        _t2v(f)
        assert f.cancel.disabled
        f.generate.click()
        (job,) = f.jobs
        deadline = time.monotonic() + 10
        while job.state != "PENDING" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert job.state == "PENDING" and not f.cancel.disabled and not job.cancel_button.disabled
        f.cancel.click()
        assert job.cancel_button.disabled  # asked once
        wait_for = time.monotonic() + 10
        while job.state == "PENDING" and time.monotonic() < wait_for:
            time.sleep(0.01)
        assert job.state == "CANCELED"  # shown at once, logged at once
        assert s.run(job.run.run_id).cost == 0.0 and "canceled (not billed)" in job.status.value
        run = job.result(timeout=30)
        assert run is not None and run.status == "CANCELED" and run.cost == 0.0
        assert f.cancel.disabled and "canceled" in shown(job)


def test_cancel_too_late_says_so(session: wb.Session) -> None:
    f = wb.form(session)
    _t2v(f)
    job = f.submit()
    assert job is not None
    run = job.result(timeout=60)
    assert run is not None and job.cancel() is None  # nothing to cancel any more
    with pytest.raises(wb.BadRequestError, match="UnsupportedOperation"):
        session.cancel(run.run_id)
    with pytest.raises(KeyError, match="no run"):
        session.cancel("0" * 26)


def test_a_refused_cancel_is_shown_and_the_state_refreshed(tmp_path: Any) -> None:
    """The form saw PENDING, but the task has started rendering since: the service refuses the
    cancel. The form says so below the card area, shows the task's real state (one query),
    and offers Cancel no more."""
    import threading

    from tests.emulator_helpers import wait_for
    from tests.fakes import FakeClock
    from wanbook._portal import portal_loop

    clock = FakeClock()  # 0.4-0.8 s in the queue, 2.5 s rendering: on this clock only
    options = {"time_scale": 0.05, "clock": clock}
    with wb.Session(home=tmp_path, quiet=True, emulator=True, emulator_options=options) as s:
        f = wb.form(s)
        _t2v(f)
        job = f.submit()
        assert job is not None
        wait_for(lambda: job.state == "PENDING", what="the first poll")
        held, gate = threading.Event(), threading.Event()

        def hold() -> None:  # holds wanbook's portal loop: no poll can land in between
            held.set()
            gate.wait(30)

        portal_loop().call_soon_threadsafe(hold)
        assert held.wait(30)
        clock.advance(1.0)  # the emulator's task is RUNNING now; the form still says PENDING
        future = job.cancel()
        gate.set()
        assert future is not None
        with pytest.raises(wb.BadRequestError, match="UnsupportedOperation"):
            future.result(timeout=30)
        wait_for(lambda: "could not cancel" in shown(job), what="the note")
        out = shown(job)
        assert "already left the queue" in out and "UnsupportedOperation" in out
        assert "BadRequestError" not in out  # no Python class names
        assert job.state == "RUNNING" and "RUNNING" in job.status.value
        assert job.cancel_button.disabled and job.cancel() is None
        clock.advance(10.0)  # it ends; the card arrives and the note stays below it
        run = job.result(timeout=60)
        assert run is not None and run.status == "SUCCEEDED"
        out = shown(job)
        assert "<video" in out and out.index("<video") < out.index("could not cancel")


def test_errors_show_in_place_in_plain_words(tmp_path: Any) -> None:
    faults = Faults(task_fail_rate=1.0, task_fail_code="DataInspectionFailed")
    with wb.Session(
        home=tmp_path, quiet=True, emulator=True, emulator_options={"faults": faults}
    ) as s:
        f = wb.form(s)
        _t2v(f)
        job = f.submit()
        assert job is not None
        run = job.result(timeout=60)
        assert run is not None and run.status == "FAILED"
        assert "content check refused the prompt or the image" in shown(job)
        assert "FAILED" in job.status.value and "1 failed" in f.status.value


def test_form_displays_as_a_widget(form: Form) -> None:
    bundle = form._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_the_form_carries_a_static_picture_for_pages_without_widgets(form: Form) -> None:
    """An exported or saved notebook without a widget manager shows the form's HTML picture
    (its fields and estimate), not an empty box."""
    _t2v(form)
    bundle = form._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert "<script" not in page and "wanbook form" in page
    for text in ("wan2.2-t2v-plus", "832*480", "estimate: 0.1000 USD", "emulator"):
        assert text in page, text
    job = form.submit()
    assert job is not None and job.result(timeout=60) is not None
    assert "<video" in form.static_html()  # and the results so far
