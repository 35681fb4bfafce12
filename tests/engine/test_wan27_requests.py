"""Wan 2.7 and kf2v requests on the wire (docs/dashscope-wan27.md §12.3) and their estimates (§10, §11).

The bodies are caught by an ``httpx.MockTransport`` that answers the create with a 400, so nothing
runs; the estimates are computed without sending anything.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import numpy as np
import pytest

import wanbook as wb

IMG = "https://example.com/cat.png"
IMG2 = "https://example.com/end.png"
CLIP = "https://example.com/clip.mp4"
AUD = "https://example.com/voice.mp3"
VIDEO_GEN = "/api/v1/services/aigc/video-generation/video-synthesis"
IMAGE2VIDEO = "/api/v1/services/aigc/image2video/video-synthesis"


def sent(region: str, api_key: str, **kwargs) -> httpx.Request:
    """The create request ``generate(**kwargs)`` sends (answered 400, so nothing more happens)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            400, json={"code": "InvalidParameter", "message": "stop here", "request_id": "r"}
        )

    session = wb.Session(api_key=api_key, region=region, transport=httpx.MockTransport(handler))
    try:
        with pytest.raises(wb.APIError):
            session.generate(warn=False, **kwargs)  # warnings: see test_wan27_rules
    finally:
        session.close()
    (create,) = seen
    return create


BODIES = [
    (
        "i2v-continuation",
        dict(
            model="wan2.7-i2v-2026-04-25",
            first_clip=CLIP,
            last_frame=IMG,
            resolution="720P",
            duration=15,
        ),
        "intl",
        VIDEO_GEN,
        {
            "model": "wan2.7-i2v-2026-04-25",
            "input": {
                "media": [{"type": "first_clip", "url": CLIP}, {"type": "last_frame", "url": IMG}]
            },
            "parameters": {"resolution": "720P", "duration": 15},
        },
    ),
    (
        "i2v-image-is-the-first-frame",
        dict(model="wan2.7-i2v", image=IMG, last_frame=IMG2, driving_audio=AUD, prompt="p"),
        "cn",
        VIDEO_GEN,
        {
            "model": "wan2.7-i2v",
            "input": {
                "prompt": "p",
                "media": [
                    {"type": "first_frame", "url": IMG},
                    {"type": "last_frame", "url": IMG2},
                    {"type": "driving_audio", "url": AUD},
                ],
            },
            "parameters": {},
        },
    ),
    (
        "r2v-reference-with-voice",
        dict(
            model="wan2.7-r2v",
            prompt="Image 1 says hello",
            reference_images=[wb.Reference(IMG, voice=AUD)],
            ratio="9:16",
        ),
        "intl",
        VIDEO_GEN,
        {
            "model": "wan2.7-r2v",
            "input": {
                "prompt": "Image 1 says hello",
                "media": [{"type": "reference_image", "url": IMG, "reference_voice": AUD}],
            },
            "parameters": {"ratio": "9:16"},
        },
    ),
    (
        "r2v-images-videos-first-frame",
        dict(
            model="wan2.7-r2v",
            prompt="Video 1 and Image 1",
            reference_images=[IMG],
            reference_videos=[CLIP],
            first_frame=IMG2,
        ),
        "intl",
        VIDEO_GEN,
        {
            "model": "wan2.7-r2v",
            "input": {
                "prompt": "Video 1 and Image 1",
                "media": [
                    {"type": "first_frame", "url": IMG2},
                    {"type": "reference_image", "url": IMG},
                    {"type": "reference_video", "url": CLIP},
                ],
            },
            "parameters": {},
        },
    ),
    (
        "videoedit-origin-sound",
        dict(
            model="wan2.7-videoedit", prompt="clay", video=CLIP, audio_setting="origin", duration=0
        ),
        "intl",
        VIDEO_GEN,
        {
            "model": "wan2.7-videoedit",
            "input": {"prompt": "clay", "media": [{"type": "video", "url": CLIP}]},
            "parameters": {"duration": 0, "audio_setting": "origin"},
        },
    ),
    (
        "kf2v-flash-on-image2video",
        dict(
            model="wan2.2-kf2v-flash",
            prompt="p",
            first_frame=IMG,
            last_frame=IMG2,
            resolution="1080P",
        ),
        "cn",
        IMAGE2VIDEO,
        {
            "model": "wan2.2-kf2v-flash",
            "input": {"prompt": "p", "first_frame_url": IMG, "last_frame_url": IMG2},
            "parameters": {"resolution": "1080P"},
        },
    ),
    (
        "kf2v-plus-beijing-name-and-template",
        dict(model="wan2.1-kf2v-plus", image=IMG, template="hanfu-1", duration=5),
        "cn",
        IMAGE2VIDEO,
        {
            "model": "wanx2.1-kf2v-plus",
            "input": {"template": "hanfu-1", "first_frame_url": IMG},
            "parameters": {},
        },
    ),
    (
        "t2v-audio-and-ratio",
        dict(
            model="wan2.7-t2v",
            prompt="p",
            negative_prompt="n",
            audio_url=AUD,
            ratio="1:1",
            duration=3,
            seed=1,
            watermark=False,
            prompt_extend=False,
            resolution="720P",
        ),
        "intl",
        VIDEO_GEN,
        {
            "model": "wan2.7-t2v",
            "input": {"prompt": "p", "negative_prompt": "n", "audio_url": AUD},
            "parameters": {
                "resolution": "720P",
                "ratio": "1:1",
                "duration": 3,
                "prompt_extend": False,
                "watermark": False,
                "seed": 1,
            },
        },
    ),
    (
        "raw-media-as-given",
        dict(
            model="wan2.7-i2v",
            media=[{"type": "last_frame", "url": IMG2}, {"type": "first_frame", "url": IMG}],
        ),
        "intl",
        VIDEO_GEN,
        {
            "model": "wan2.7-i2v",
            "input": {
                "media": [{"type": "last_frame", "url": IMG2}, {"type": "first_frame", "url": IMG}]
            },
            "parameters": {},
        },
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "region", "path", "body"), [b[1:] for b in BODIES], ids=[b[0] for b in BODIES]
)
def test_the_create_body_and_path(kwargs, region, path, body, api_key: str) -> None:
    request = sent(region, api_key, **kwargs)
    assert request.method == "POST" and request.url.path == path
    assert request.headers["X-DashScope-Async"] == "enable"
    sent_body = json.loads(request.content)
    # wanbook draws a seed when none is given, so every run can be repeated: it is sent too
    seed = sent_body["parameters"].pop("seed")
    assert isinstance(seed, int) and body["parameters"].get("seed", seed) == seed
    body = {**body, "parameters": {k: v for k, v in body["parameters"].items() if k != "seed"}}
    assert sent_body == body


def test_a_local_first_frame_goes_as_a_data_uri(tmp_path: Path, api_key: str) -> None:
    from PIL import Image

    path = tmp_path / "first.png"
    Image.new("RGB", (320, 240), (200, 30, 30)).save(path)
    request = sent("intl", api_key, model="wan2.7-i2v", first_frame=str(path), last_frame=IMG)
    media = json.loads(request.content)["input"]["media"]
    assert media[0]["type"] == "first_frame" and media[0]["url"].startswith(
        "data:image/png;base64,"
    )
    assert media[1] == {"type": "last_frame", "url": IMG}


# ----------------------------------------------------------------------------------- estimates


def make_video(path: Path, seconds: int, fps: int = 25, side: int = 320) -> Path:
    """A silent H.264 MP4 of exactly ``seconds`` (``seconds * fps`` frames)."""
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = side, 240, "yuv420p"
        for i in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(np.full((240, side, 3), i % 255, np.uint8), "rgb24")
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    return path


@pytest.fixture(scope="module")
def clip4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("clips") / "four.mp4", 4)


ESTIMATES = [
    # (id, kwargs, region, amount, currency, billed seconds): docs/dashscope-wan27.md §10's worked examples
    ("t2v-1080P-10s", dict(model="wan2.7-t2v", prompt="p", duration=10), "cn", 10.0, "CNY", 10),
    (
        "i2v-continuation-total",
        dict(model="wan2.7-i2v", first_clip=CLIP, resolution="720P", duration=15),
        "cn",
        9.0,
        "CNY",
        15,
    ),
    ("i2v-intl-default", dict(model="wan2.7-i2v", image=IMG), "intl", 0.75, "USD", 5),
    (
        "r2v-video-url-billed-at-the-cap",
        dict(
            model="wan2.7-r2v",
            prompt="p",
            reference_videos=[CLIP],
            reference_images=[IMG],
            resolution="720P",
            duration=10,
        ),
        "cn",
        7.5,
        "CNY",
        12.5,
    ),
    (
        "r2v-images-are-free",
        dict(model="wan2.7-r2v", prompt="p", reference_images=[IMG, IMG2], resolution="720P"),
        "intl",
        0.5,
        "USD",
        5,
    ),
    (
        "r2v-three-refs-1.65",
        dict(
            model="wan2.7-r2v",
            prompt="p",
            reference_videos=[CLIP] * 3,
            resolution="720P",
            duration=2,
        ),
        "cn",
        (3 * 1.65 + 2) * 0.6,
        "CNY",
        3 * 1.65 + 2,
    ),
    (
        "kf2v-flash-480P",
        dict(model="wan2.2-kf2v-flash", first_frame=IMG, resolution="480P"),
        "cn",
        0.5,
        "CNY",
        5,
    ),
    ("kf2v-plus-intl", dict(model="wan2.1-kf2v-plus", first_frame=IMG), "intl", 0.5, "USD", 5),
    ("kf2v-plus-cn", dict(model="wanx2.1-kf2v-plus", first_frame=IMG), "cn", 3.5, "CNY", 5),
    (
        "snapshot-priced-as-its-name",
        dict(model="wan2.7-t2v-2026-06-12", prompt="p"),
        "intl",
        0.75,
        "USD",
        5,
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "region", "amount", "currency", "seconds"),
    [e[1:] for e in ESTIMATES],
    ids=[e[0] for e in ESTIMATES],
)
def test_estimates_include_billed_input(kwargs, region, amount, currency, seconds) -> None:
    session = wb.Session(api_key=None, region=region)
    try:
        est = session.estimate(wb.Request(**kwargs))
    finally:
        session.close()
    assert est.currency == currency
    assert est.seconds == pytest.approx(seconds)
    assert est.amount == pytest.approx(amount)


def test_videoedit_estimate_uses_the_local_video_length(clip4: Path) -> None:
    session = wb.Session(api_key=None, region="cn")
    try:
        whole = session.estimate(wb.Request(model="wan2.7-videoedit", video=str(clip4)))
        cut = session.estimate(
            wb.Request(model="wan2.7-videoedit", video=str(clip4), duration=2, resolution="720P")
        )
    finally:
        session.close()
    assert (whole.seconds, whole.amount, whole.currency) == (8.0, pytest.approx(8.0), "CNY")
    assert (cut.seconds, cut.amount) == (4.0, pytest.approx(2.4))  # input cut to 2 s + 2 s out


def test_videoedit_estimate_from_a_url_is_unknown_and_says_why() -> None:
    session = wb.Session(api_key=None, region="intl")
    try:
        with pytest.warns(UserWarning, match="input video's length is unknown"):
            est = session.prepare(wb.Request(model="wan2.7-videoedit", video=CLIP)).estimate
    finally:
        session.close()
    assert math.isnan(est.amount) and est.currency == "USD"


def test_r2v_estimate_uses_the_local_video_length_below_the_cap(clip4: Path) -> None:
    session = wb.Session(api_key=None, region="cn")
    try:
        est = session.estimate(
            wb.Request(
                model="wan2.7-r2v", prompt="p", reference_videos=[str(clip4)], resolution="720P"
            )
        )
    finally:
        session.close()
    assert est.seconds == pytest.approx(4 + 5)  # min(4 s, cap 5 s) + 5 s of output
    assert est.amount == pytest.approx(9 * 0.6)


def test_a_kf2v_frame_outside_the_older_side_limits_is_sent_with_a_warning(
    tmp_path: Path,
) -> None:
    from PIL import Image

    small = tmp_path / "small.png"
    Image.new("RGB", (300, 300), (10, 20, 30)).save(small)
    session = wb.Session(api_key=None, region="cn")
    try:
        with pytest.warns(UserWarning, match="allow sides of 360-2000 px only"):
            prep = session.prepare(wb.Request(model="wan2.2-kf2v-flash", first_frame=str(small)))
    finally:
        session.close()
    assert [p.field for p in prep.warnings] == ["first_frame"]
    assert prep.body["input"]["first_frame_url"].startswith("data:image/png;base64,")


def test_continuation_must_be_longer_than_a_local_clip(clip4: Path) -> None:
    session = wb.Session(api_key=None, region="intl")
    try:
        with pytest.raises(wb.ValidationError) as info:
            session.prepare(wb.Request(model="wan2.7-i2v", first_clip=str(clip4), duration=4))
    finally:
        session.close()
    assert info.value.fields == ["duration"] and "4.0 s" in str(info.value)


def test_a_local_clip_needs_the_upload_store_of_the_region(clip4: Path) -> None:
    """Frankfurt publishes no model list (nothing is refused by region) and no temporary store:
    a local clip is refused before sending, saying to pass a URL; a URL goes."""
    session = wb.Session(api_key="sk-test", region="eu", workspace_id="ws1")
    try:
        with pytest.raises(wb.ValidationError) as info:
            session.prepare(wb.Request(model="wan2.7-i2v", first_clip=str(clip4), duration=6))
        with pytest.warns(UserWarning, match="no price known for wan2.7-i2v in region 'eu'"):
            url = session.prepare(wb.Request(model="wan2.7-i2v", first_clip=CLIP, duration=6))
    finally:
        session.close()
    assert info.value.fields == ["first_clip"]
    assert "pass an http(s) URL" in str(info.value) and "'eu'" in str(info.value)
    assert url.body["input"]["media"] == [{"type": "first_clip", "url": CLIP}]
