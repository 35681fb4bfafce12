"""Invalid requests are stopped before anything is sent, and the error names the field.

Each row: the request, the region, and the field the error must name. The test drives the whole
session path with a transport that records every request: none may be made.
"""

from __future__ import annotations

import httpx
import pytest

import wanbook as wb
from tests.spec.test_wan27_rules import CASES as WAN27_CASES
from wanbook._errors import ValidationError
from wanbook._spec.request import Request, build_body, check, request_from_body, validate

IMG = "https://example.com/cat.png"
LONG = "x" * 2000

# (id, request kwargs, region, field the error must name)
CASES: list[tuple[str, dict, str, str]] = [
    # --- model and region
    ("unknown-model", dict(model="wan9-t2v", prompt="p"), "intl", "model"),
    ("model-typo", dict(model="wan2.2-t2v", prompt="p"), "intl", "model"),
    ("model-none", dict(model=None, prompt="p"), "intl", "model"),
    ("us-only-model-in-intl", dict(model="wan2.6-i2v-us", image=IMG), "intl", "model"),
    ("us-only-model-in-cn", dict(model="wan2.6-i2v-us", image=IMG), "cn", "model"),
    ("t2v-2.2-in-us", dict(model="wan2.2-t2v-plus", prompt="p"), "us", "model"),
    ("i2v-flash-in-us", dict(model="wan2.6-i2v-flash", image=IMG), "us", "model"),
    ("i2v-2.5-in-us", dict(model="wan2.5-i2v-preview", image=IMG), "us", "model"),
    ("t2v-2.1-in-us", dict(model="wan2.1-t2v-turbo", prompt="p"), "us", "model"),
    # --- prompt
    ("t2v-no-prompt-2.6", dict(model="wan2.6-t2v"), "intl", "prompt"),
    ("t2v-no-prompt-2.5", dict(model="wan2.5-t2v-preview"), "intl", "prompt"),
    ("t2v-empty-prompt", dict(model="wan2.2-t2v-plus", prompt=""), "intl", "prompt"),
    ("t2v-blank-prompt", dict(model="wan2.1-t2v-turbo", prompt="   "), "intl", "prompt"),
    ("t2v-prompt-not-text", dict(model="wan2.1-t2v-plus", prompt=42), "intl", "prompt"),
    (
        "neg-not-text",
        dict(model="wan2.1-t2v-plus", prompt="p", negative_prompt=["a"]),
        "intl",
        "negative_prompt",
    ),
    # --- size / resolution
    (
        "size-wrong-tier-2.2",
        dict(model="wan2.2-t2v-plus", prompt="p", size="1280*720"),
        "intl",
        "size",
    ),
    ("size-aspect", dict(model="wan2.6-t2v", prompt="p", size="16:9"), "intl", "size"),
    ("size-tier-name", dict(model="wan2.6-t2v", prompt="p", size="720P"), "intl", "size"),
    ("size-480-on-2.6", dict(model="wan2.6-t2v", prompt="p", size="832*480"), "intl", "size"),
    (
        "size-1080-on-2.1-turbo",
        dict(model="wan2.1-t2v-turbo", prompt="p", size="1920*1080"),
        "intl",
        "size",
    ),
    (
        "size-480-on-2.1-plus",
        dict(model="wan2.1-t2v-plus", prompt="p", size="832*480"),
        "intl",
        "size",
    ),
    (
        "size-x-separator",
        dict(model="wan2.5-t2v-preview", prompt="p", size="1280x720"),
        "intl",
        "size",
    ),
    (
        "size-unknown-wh",
        dict(model="wan2.5-t2v-preview", prompt="p", size="1000*1000"),
        "intl",
        "size",
    ),
    ("size-int", dict(model="wan2.5-t2v-preview", prompt="p", size=720), "intl", "size"),
    (
        "t2v-resolution",
        dict(model="wan2.6-t2v", prompt="p", resolution="720P"),
        "intl",
        "resolution",
    ),
    (
        "t2v-resolution-2.1",
        dict(model="wan2.1-t2v-turbo", prompt="p", resolution="480P"),
        "intl",
        "resolution",
    ),
    ("i2v-size", dict(model="wan2.6-i2v-flash", image=IMG, size="1280*720"), "intl", "size"),
    ("i2v-size-2.1", dict(model="wan2.1-i2v-turbo", image=IMG, size="832*480"), "intl", "size"),
    (
        "i2v-480-on-2.6",
        dict(model="wan2.6-i2v", image=IMG, resolution="480P"),
        "intl",
        "resolution",
    ),
    (
        "i2v-720-on-2.2-plus",
        dict(model="wan2.2-i2v-plus", image=IMG, resolution="720P"),
        "intl",
        "resolution",
    ),
    (
        "i2v-1080-on-2.1-turbo",
        dict(model="wan2.1-i2v-turbo", image=IMG, resolution="1080P"),
        "intl",
        "resolution",
    ),
    (
        "i2v-480-on-2.1-plus",
        dict(model="wan2.1-i2v-plus", image=IMG, resolution="480P"),
        "intl",
        "resolution",
    ),
    (
        "i2v-resolution-wh",
        dict(model="wan2.5-i2v-preview", image=IMG, resolution="1280*720"),
        "intl",
        "resolution",
    ),
    (
        "i2v-resolution-lower",
        dict(model="wan2.5-i2v-preview", image=IMG, resolution="720p"),
        "intl",
        "resolution",
    ),
    ("i2v-4k", dict(model="wan2.6-i2v-flash", image=IMG, resolution="2160P"), "intl", "resolution"),
    # --- image / template
    ("i2v-no-image", dict(model="wan2.6-i2v-flash", prompt="p"), "intl", "image"),
    ("i2v-empty-image", dict(model="wan2.2-i2v-flash", image=""), "intl", "image"),
    ("i2v-no-image-2.1", dict(model="wan2.1-i2v-plus"), "intl", "image"),
    ("t2v-with-image", dict(model="wan2.6-t2v", prompt="p", image=IMG), "intl", "image"),
    ("t2v-with-image-2.2", dict(model="wan2.2-t2v-plus", prompt="p", image=IMG), "intl", "image"),
    (
        "template-on-t2v",
        dict(model="wan2.1-t2v-turbo", prompt="p", template="flying"),
        "intl",
        "template",
    ),
    (
        "template-on-2.6",
        dict(model="wan2.6-i2v-flash", image=IMG, template="flying"),
        "intl",
        "template",
    ),
    (
        "template-on-2.2",
        dict(model="wan2.2-i2v-plus", image=IMG, template="squish"),
        "intl",
        "template",
    ),
    # --- duration
    ("dur-10-on-2.2", dict(model="wan2.2-t2v-plus", prompt="p", duration=10), "intl", "duration"),
    (
        "dur-3-on-2.1-t2v",
        dict(model="wan2.1-t2v-turbo", prompt="p", duration=3),
        "intl",
        "duration",
    ),
    ("dur-7-on-2.6-t2v", dict(model="wan2.6-t2v", prompt="p", duration=7), "intl", "duration"),
    (
        "dur-15-on-2.5-t2v",
        dict(model="wan2.5-t2v-preview", prompt="p", duration=15),
        "intl",
        "duration",
    ),
    ("dur-1-on-flash", dict(model="wan2.6-i2v-flash", image=IMG, duration=1), "intl", "duration"),
    ("dur-16-on-flash", dict(model="wan2.6-i2v-flash", image=IMG, duration=16), "intl", "duration"),
    (
        "dur-float-on-flash",
        dict(model="wan2.6-i2v-flash", image=IMG, duration=5.5),
        "intl",
        "duration",
    ),
    ("dur-str", dict(model="wan2.6-i2v", image=IMG, duration="5"), "intl", "duration"),
    ("dur-bool", dict(model="wan2.6-i2v", image=IMG, duration=True), "intl", "duration"),
    ("dur-7-on-2.6-us", dict(model="wan2.6-i2v-us", image=IMG, duration=7), "us", "duration"),
    (
        "dur-15-on-2.5-i2v",
        dict(model="wan2.5-i2v-preview", image=IMG, duration=15),
        "intl",
        "duration",
    ),
    (
        "dur-10-on-2.2-flash",
        dict(model="wan2.2-i2v-flash", image=IMG, duration=10),
        "intl",
        "duration",
    ),
    (
        "dur-2-on-2.1-turbo",
        dict(model="wan2.1-i2v-turbo", image=IMG, duration=2),
        "intl",
        "duration",
    ),
    ("dur-4-on-2.1-plus", dict(model="wan2.1-i2v-plus", image=IMG, duration=4), "intl", "duration"),
    # --- seed
    ("seed-negative", dict(model="wan2.6-t2v", prompt="p", seed=-1), "intl", "seed"),
    ("seed-too-big", dict(model="wan2.6-t2v", prompt="p", seed=2147483648), "intl", "seed"),
    ("seed-float", dict(model="wan2.2-t2v-plus", prompt="p", seed=1.5), "intl", "seed"),
    ("seed-str", dict(model="wan2.2-t2v-plus", prompt="p", seed="7"), "intl", "seed"),
    ("seed-bool", dict(model="wan2.1-i2v-turbo", image=IMG, seed=True), "intl", "seed"),
    # --- booleans
    (
        "prompt-extend-str",
        dict(model="wan2.6-t2v", prompt="p", prompt_extend="yes"),
        "intl",
        "prompt_extend",
    ),
    ("watermark-int", dict(model="wan2.6-t2v", prompt="p", watermark=1), "intl", "watermark"),
    # --- shot_type
    (
        "shot-on-2.5",
        dict(model="wan2.5-t2v-preview", prompt="p", shot_type="multi"),
        "intl",
        "shot_type",
    ),
    (
        "shot-on-2.2-i2v",
        dict(model="wan2.2-i2v-plus", image=IMG, shot_type="single"),
        "intl",
        "shot_type",
    ),
    (
        "shot-bad-value",
        dict(model="wan2.6-t2v", prompt="p", shot_type="triple"),
        "intl",
        "shot_type",
    ),
    (
        "shot-multi-no-extend",
        dict(model="wan2.6-t2v", prompt="p", shot_type="multi", prompt_extend=False),
        "intl",
        "shot_type",
    ),
    (
        "shot-multi-no-extend-i2v",
        dict(model="wan2.6-i2v-flash", image=IMG, shot_type="multi", prompt_extend=False),
        "intl",
        "shot_type",
    ),
    # --- audio
    ("audio-on-2.2", dict(model="wan2.2-t2v-plus", prompt="p", audio=True), "intl", "audio"),
    ("audio-on-2.1-i2v", dict(model="wan2.1-i2v-turbo", image=IMG, audio=True), "intl", "audio"),
    ("silent-on-2.6-i2v", dict(model="wan2.6-i2v", image=IMG, audio=False), "intl", "audio"),
    (
        "silent-on-2.5-i2v",
        dict(model="wan2.5-i2v-preview", image=IMG, audio=False),
        "intl",
        "audio",
    ),
    ("audio-str", dict(model="wan2.6-t2v", prompt="p", audio="on"), "intl", "audio"),
    (
        "audio-url-on-2.2",
        dict(model="wan2.2-t2v-plus", prompt="p", audio_url="https://e.com/a.mp3"),
        "intl",
        "audio_url",
    ),
    (
        "audio-url-on-2.1-i2v",
        dict(model="wan2.1-i2v-plus", image=IMG, audio_url="https://e.com/a.mp3"),
        "intl",
        "audio_url",
    ),
    (
        "audio-url-ftp",
        dict(model="wan2.6-t2v", prompt="p", audio_url="ftp://e.com/a.mp3"),
        "intl",
        "audio_url",
    ),
    (
        "audio-url-ogg",
        dict(model="wan2.5-t2v-preview", prompt="p", audio_url="https://e.com/a.ogg"),
        "intl",
        "audio_url",
    ),
    # --- extra
    ("extra-not-mapping", dict(model="wan2.6-t2v", prompt="p", extra=[1, 2]), "intl", "extra"),
    # a request field hidden in extra would be sent unchecked and priced as something else
    (
        "extra-size",
        dict(model="wan2.2-t2v-plus", prompt="p", extra={"parameters": {"size": "1280*720"}}),
        "intl",
        "extra.parameters.size",
    ),
    (
        "extra-duration",
        dict(model="wan2.2-t2v-plus", prompt="p", extra={"parameters": {"duration": 10}}),
        "intl",
        "extra.parameters.duration",
    ),
    (
        "extra-seed",
        dict(model="wan2.6-t2v", prompt="p", seed=1, extra={"parameters": {"seed": -5}}),
        "intl",
        "extra.parameters.seed",
    ),
    (
        "extra-resolution",
        dict(model="wan2.6-i2v-flash", image=IMG, extra={"parameters": {"resolution": "1080P"}}),
        "intl",
        "extra.parameters.resolution",
    ),
    (
        "extra-audio",
        dict(model="wan2.6-i2v-flash", image=IMG, extra={"parameters": {"audio": True}}),
        "intl",
        "extra.parameters.audio",
    ),
    (
        "extra-prompt-extend",
        dict(model="wan2.6-t2v", prompt="p", extra={"parameters": {"prompt_extend": False}}),
        "intl",
        "extra.parameters.prompt_extend",
    ),
    (
        "extra-input-prompt",
        dict(model="wan2.6-t2v", prompt="p", extra={"input": {"prompt": "q"}}),
        "intl",
        "extra.input.prompt",
    ),
    (
        "extra-input-img-url",
        dict(model="wan2.6-i2v-flash", image=IMG, extra={"input": {"img_url": IMG}}),
        "intl",
        "extra.input.img_url",
    ),
    (
        "extra-input-audio-url",
        dict(model="wan2.6-t2v", prompt="p", extra={"input": {"audio_url": "https://e.com/a.mp3"}}),
        "intl",
        "extra.input.audio_url",
    ),
    (
        "extra-input-template",
        dict(model="wan2.1-i2v-turbo", image=IMG, extra={"input": {"template": "flying"}}),
        "cn",
        "extra.input.template",
    ),
    (
        "extra-flat-size",
        dict(model="wan2.2-t2v-plus", prompt="p", extra={"size": "1920*1080"}),
        "intl",
        "extra.size",
    ),
    (
        "extra-flat-beside-sections",
        dict(model="wan2.2-t2v-plus", prompt="p", extra={"parameters": {"x": 1}, "watermark": 1}),
        "intl",
        "extra.watermark",
    ),
    (
        "extra-section-not-mapping",
        dict(model="wan2.6-t2v", prompt="p", extra={"parameters": ["size"]}),
        "intl",
        "extra.parameters",
    ),
]


def test_at_least_sixty_cases_across_every_model() -> None:

    assert len(CASES) >= 60
    models = {c[1].get("model") for c in [*CASES, *WAN27_CASES]}  # wan2.7/kf2v: that table
    assert set(wb.models()) <= models


@pytest.mark.parametrize(
    ("kwargs", "region", "field"),
    [c[1:] for c in [*CASES, *WAN27_CASES]],
    ids=[c[0] for c in [*CASES, *WAN27_CASES]],
)
def test_invalid_request_names_field_and_sends_nothing(
    kwargs: dict, region: str, field: str, api_key: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500, json={"code": "InternalError", "message": "must not be called"})

    session = wb.Session(api_key=api_key, region=region, transport=httpx.MockTransport(handler))
    try:
        with pytest.raises((ValidationError, wb.MediaError)) as info:
            session.generate(**kwargs)
    finally:
        session.close()
    err = info.value
    fields = err.fields if isinstance(err, ValidationError) else [err.field]
    assert field in fields, str(err)
    value = kwargs.get(field)
    if isinstance(value, (str, int, float)) and field not in ("prompt", "model"):
        assert str(value) in str(err), f"the error does not quote the value {value!r}: {err}"
    assert seen == []
    # nothing was paid for, and the run log holds no submitted run
    assert session.runs(status="SUCCEEDED").empty


def test_every_problem_is_reported_at_once() -> None:
    req = Request(
        model="wan2.2-t2v-plus",
        prompt="p",
        size="1280*720",
        duration=10,
        seed=-1,
        shot_type="multi",
    )
    with pytest.raises(ValidationError) as info:
        check(req)
    assert info.value.fields == ["size", "duration", "seed", "shot_type"]
    msg = str(info.value)
    assert (
        "size '1280*720' is not offered by wan2.2-t2v-plus; choose one of 832*480"
        in msg.replace(" (720P is not a tier of this model)", "")
    )
    assert "fixed at 5 s" in msg


def test_request_fields_in_extra_are_refused_each_by_name() -> None:
    """The auditors' request: every hidden field is named, and says which field to use."""
    req = Request(
        model="wan2.2-t2v-plus",
        prompt="p",
        size="832*480",
        extra={"parameters": {"size": "1280*720", "duration": 10, "seed": -5, "new_field": 1}},
    )
    problems = validate(req)
    assert [(p.field, p.value, p.severity) for p in problems] == [
        ("extra.parameters.size", "1280*720", "error"),
        ("extra.parameters.duration", 10, "error"),
        ("extra.parameters.seed", -5, "error"),
    ]
    assert "use the size field instead (size='1280*720')" in problems[0].message
    with pytest.raises(ValidationError) as info:
        check(req)
    assert "extra.parameters.duration" in str(info.value)


def test_unknown_extra_fields_pass_through_to_the_body() -> None:
    req = Request(
        model="wan2.6-t2v",
        prompt="p",
        extra={"input": {"new_input": "a"}, "parameters": {"new_param": 2}, "flat": 3},
    )
    assert validate(req) == []
    body = build_body(req)
    assert body["input"] == {"prompt": "p", "new_input": "a"}
    assert body["parameters"] == {"new_param": 2, "flat": 3}


def test_a_wire_body_with_misplaced_fields_parses_to_a_valid_request() -> None:
    """The emulator parses bodies with ``request_from_body``: a field in the wrong section is
    not that field (the service ignores it), so it must not come back as a refused extra."""
    body = {
        "model": "wan2.6-t2v",
        "input": {"prompt": "p"},
        "parameters": {"prompt": "q", "img_url": IMG, "size": "1280*720", "new_param": 1},
    }
    req = request_from_body(body)
    assert req.size == "1280*720" and req.extra == {"parameters": {"new_param": 1}}
    assert validate(req) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(model="wan2.2-t2v-plus", prompt=LONG), "prompt"),
        (dict(model="wan2.6-t2v", prompt="p", negative_prompt="n" * 600), "negative_prompt"),
        (dict(model="wan2.1-i2v-turbo", image=IMG, template="not-a-template"), "template"),
        (
            dict(model="wan2.6-t2v", prompt="p", audio=False, audio_url="https://e.com/a.mp3"),
            "audio",
        ),
        (
            dict(model="wan2.6-i2v-flash", image=IMG, audio=False, audio_url="https://e.com/a.mp3"),
            "audio",
        ),
    ],
)
def test_warnings_do_not_block(kwargs: dict, field: str) -> None:
    problems = check(Request(**kwargs), "intl")
    assert [p.field for p in problems] == [field]
    assert problems[0].severity == "warning"


def test_prompt_warning_says_where_the_server_cuts() -> None:
    (p,) = validate(Request(model="wan2.2-t2v-plus", prompt=LONG))
    assert "cut it at 800 characters" in p.message


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(
            model="wan2.6-t2v",
            prompt="p",
            size="1280*720",
            duration=15,
            audio=False,
            shot_type="multi",
        ),
        dict(model="wan2.2-t2v-plus", prompt="p", size="832*480", duration=5),
        dict(model="wan2.6-i2v-flash", image=IMG, resolution="720P", duration=2, audio=False),
        dict(model="wan2.2-i2v-flash", image=IMG, resolution="1080P"),
        dict(model="wan2.1-i2v-turbo", image=IMG, resolution="480P", duration=3, template="flying"),
        dict(model="wanx2.1-t2v-turbo", prompt="p", size="832*480"),
        dict(model="wan2.6-t2v", prompt="p", extra={"parameters": {"new_field": 1}}),
    ],
)
def test_valid_requests_pass(kwargs: dict) -> None:
    region = "cn" if kwargs.get("template") else "intl"
    assert [p for p in validate(Request(**kwargs), region) if p.severity == "error"] == []
