"""Wan 2.7 and first+last-frame (kf2v) requests that break a rule of docs/dashscope-wan27.md §13.1 are
stopped before anything is sent, and the error names the field.

Each row: the request (public keyword arguments of ``Session.generate``), the region and the field
the error must name. The whole session path runs with a transport that records every request:
none may be made, and nothing is logged as submitted.
"""

from __future__ import annotations

import pytest

import wanbook as wb

IMG = "https://example.com/cat.png"
IMG2 = "https://example.com/end.png"
CLIP = "https://example.com/clip.mp4"
AUD = "https://example.com/voice.mp3"

T = "wan2.7-t2v"
I = "wan2.7-i2v"  # noqa: E741 (a model, not a number)
R = "wan2.7-r2v"
E = "wan2.7-videoedit"
KF = "wan2.2-kf2v-flash"
KP = "wan2.1-kf2v-plus"


def ff(url: str = IMG) -> dict:
    return {"type": "first_frame", "url": url}


# (id, request kwargs, region, field the error must name)
CASES: list[tuple[str, dict, str, str]] = [
    # ------------------------------------------------------------ wan2.7-t2v and its snapshots
    ("t2v-no-prompt", dict(model=T), "intl", "prompt"),
    ("t2v-blank-prompt", dict(model=T, prompt="  "), "cn", "prompt"),
    ("t2v-size", dict(model=T, prompt="p", size="1280*720"), "intl", "size"),
    ("t2v-shot-type", dict(model=T, prompt="p", shot_type="multi"), "intl", "shot_type"),
    ("t2v-audio-false", dict(model=T, prompt="p", audio=False), "intl", "audio"),
    ("t2v-audio-true", dict(model=T, prompt="p", audio=True), "intl", "audio"),
    ("t2v-ratio-unknown", dict(model=T, prompt="p", ratio="21:9"), "intl", "ratio"),
    ("t2v-ratio-not-text", dict(model=T, prompt="p", ratio=16), "intl", "ratio"),
    ("t2v-ratio-as-size", dict(model=T, prompt="p", ratio="1280*720"), "intl", "ratio"),
    ("t2v-480P", dict(model=T, prompt="p", resolution="480P"), "intl", "resolution"),
    ("t2v-duration-1", dict(model=T, prompt="p", duration=1), "intl", "duration"),
    ("t2v-duration-16", dict(model=T, prompt="p", duration=16), "intl", "duration"),
    ("t2v-duration-fraction", dict(model=T, prompt="p", duration=5.5), "intl", "duration"),
    ("t2v-first-frame", dict(model=T, prompt="p", first_frame=IMG), "intl", "first_frame"),
    ("t2v-image", dict(model=T, prompt="p", image=IMG), "intl", "image"),
    (
        "t2v-audio-url-ftp",
        dict(model=T, prompt="p", audio_url="ftp://e.com/a.mp3"),
        "intl",
        "audio_url",
    ),
    (
        "t2v-audio-url-ogg",
        dict(model=T, prompt="p", audio_url="https://e.com/a.ogg"),
        "intl",
        "audio_url",
    ),
    (
        "t2v-audio-setting",
        dict(model=T, prompt="p", audio_setting="origin"),
        "intl",
        "audio_setting",
    ),
    (
        "t2v-reference",
        dict(model=T, prompt="p", reference_images=[IMG]),
        "intl",
        "reference_images",
    ),
    ("t2v-media", dict(model=T, prompt="p", media=[ff()]), "intl", "media"),
    ("t2v-seed", dict(model=T, prompt="p", seed=2**31), "intl", "seed"),
    ("t2v-in-us", dict(model=T, prompt="p"), "us", "model"),
    ("t2v-0425-no-prompt", dict(model="wan2.7-t2v-2026-04-25"), "cn", "prompt"),
    (
        "t2v-0612-size",
        dict(model="wan2.7-t2v-2026-06-12", prompt="p", size="1920*1080"),
        "intl",
        "size",
    ),
    # ------------------------------------------------------------ wan2.7-i2v: the six combinations
    ("i2v-nothing", dict(model=I, prompt="p"), "intl", "media"),
    ("i2v-last-alone", dict(model=I, last_frame=IMG2), "intl", "media"),
    ("i2v-audio-alone", dict(model=I, driving_audio=AUD), "intl", "media"),
    ("i2v-clip-and-first", dict(model=I, first_clip=CLIP, first_frame=IMG), "intl", "media"),
    ("i2v-clip-and-audio", dict(model=I, first_clip=CLIP, driving_audio=AUD), "intl", "media"),
    (
        "i2v-clip-last-audio",
        dict(model=I, first_clip=CLIP, last_frame=IMG2, driving_audio=AUD),
        "intl",
        "media",
    ),
    ("i2v-two-first-frames", dict(model=I, media=[ff(), ff(IMG2)]), "intl", "media"),
    (
        "i2v-unknown-type",
        dict(model=I, media=[ff(), {"type": "poster", "url": IMG2}]),
        "intl",
        "media[1]",
    ),
    (
        "i2v-reference-type",
        dict(model=I, media=[ff(), {"type": "reference_image", "url": IMG2}]),
        "intl",
        "media[1]",
    ),
    ("i2v-media-empty", dict(model=I, media=[]), "intl", "media"),
    ("i2v-media-not-list", dict(model=I, media="first_frame"), "intl", "media"),
    ("i2v-media-no-url", dict(model=I, media=[{"type": "first_frame"}]), "intl", "media[0]"),
    ("i2v-media-item-not-object", dict(model=I, media=[IMG]), "intl", "media[0]"),
    ("i2v-media-and-kwarg", dict(model=I, media=[ff()], last_frame=IMG2), "intl", "media"),
    ("i2v-image-and-first-frame", dict(model=I, image=IMG, first_frame=IMG2), "intl", "image"),
    ("i2v-ratio", dict(model=I, image=IMG, ratio="16:9"), "intl", "ratio"),
    ("i2v-size", dict(model=I, image=IMG, size="1280*720"), "intl", "size"),
    ("i2v-shot-type", dict(model=I, image=IMG, shot_type="single"), "intl", "shot_type"),
    ("i2v-audio-false", dict(model=I, image=IMG, audio=False), "intl", "audio"),
    ("i2v-duration-16", dict(model=I, image=IMG, duration=16), "intl", "duration"),
    ("i2v-duration-1", dict(model=I, first_clip=CLIP, duration=1), "intl", "duration"),
    ("i2v-480P", dict(model=I, image=IMG, resolution="480P"), "intl", "resolution"),
    (
        "i2v-audio-ftp",
        dict(model=I, image=IMG, driving_audio="ftp://e.com/a.mp3"),
        "intl",
        "driving_audio",
    ),
    (
        "i2v-audio-ogg",
        dict(model=I, image=IMG, driving_audio="https://e.com/a.ogg"),
        "intl",
        "driving_audio",
    ),
    ("i2v-clip-avi", dict(model=I, first_clip="https://e.com/clip.avi"), "intl", "first_clip"),
    (
        "i2v-clip-data-uri",
        dict(model=I, first_clip="data:video/mp4;base64,AAAA"),
        "intl",
        "first_clip",
    ),
    ("i2v-audio-url", dict(model=I, image=IMG, audio_url=AUD), "intl", "audio_url"),
    (
        "i2v-reference-video",
        dict(model=I, image=IMG, reference_videos=[CLIP]),
        "intl",
        "reference_videos",
    ),
    ("i2v-video", dict(model=I, image=IMG, video=CLIP), "intl", "video"),
    ("i2v-audio-setting", dict(model=I, image=IMG, audio_setting="auto"), "intl", "audio_setting"),
    (
        "i2v-first-frame-missing-file",
        dict(model=I, first_frame="/no/such/cat.png"),
        "intl",
        "first_frame",
    ),
    ("i2v-clip-missing-file", dict(model=I, first_clip="/no/such/clip.mp4"), "intl", "first_clip"),
    ("i2v-0425-nothing", dict(model="wan2.7-i2v-2026-04-25"), "cn", "media"),
    ("i2v-in-eu-off", dict(model=I, image=IMG), "us", "model"),
    # ------------------------------------------------------------ wan2.7-r2v and its snapshot
    ("r2v-no-prompt", dict(model=R, reference_images=[IMG]), "intl", "prompt"),
    ("r2v-no-reference", dict(model=R, prompt="p"), "intl", "media"),
    ("r2v-only-first-frame", dict(model=R, prompt="p", first_frame=IMG), "intl", "media"),
    (
        "r2v-six-references",
        dict(model=R, prompt="p", reference_images=[IMG] * 4, reference_videos=[CLIP] * 2),
        "intl",
        "media",
    ),
    (
        "r2v-two-first-frames",
        dict(model=R, prompt="p", media=[ff(), ff(IMG2), {"type": "reference_image", "url": IMG}]),
        "intl",
        "media",
    ),
    (
        "r2v-duration-12-with-video",
        dict(model=R, prompt="p", reference_videos=[CLIP], duration=12),
        "intl",
        "duration",
    ),
    (
        "r2v-duration-16",
        dict(model=R, prompt="p", reference_images=[IMG], duration=16),
        "intl",
        "duration",
    ),
    ("r2v-ratio", dict(model=R, prompt="p", reference_images=[IMG], ratio="2:1"), "intl", "ratio"),
    (
        "r2v-size",
        dict(model=R, prompt="p", reference_images=[IMG], size="1280*720"),
        "intl",
        "size",
    ),
    (
        "r2v-shot-type",
        dict(model=R, prompt="p", reference_images=[IMG], shot_type="multi"),
        "intl",
        "shot_type",
    ),
    ("r2v-audio", dict(model=R, prompt="p", reference_images=[IMG], audio=False), "intl", "audio"),
    (
        "r2v-voice-ftp",
        dict(model=R, prompt="p", reference_images=[wb.Reference(IMG, voice="ftp://e.com/v.mp3")]),
        "intl",
        "reference_images[0].voice",
    ),
    (
        "r2v-voice-ogg",
        dict(
            model=R,
            prompt="p",
            reference_videos=[CLIP, wb.Reference(CLIP, voice="https://e.com/v.ogg")],
        ),
        "intl",
        "reference_videos[1].voice",
    ),
    (
        "r2v-voice-on-first-frame",
        dict(
            model=R,
            prompt="p",
            media=[{**ff(), "reference_voice": AUD}, {"type": "reference_image", "url": IMG}],
        ),
        "intl",
        "media[0]",
    ),
    (
        "r2v-last-frame",
        dict(model=R, prompt="p", reference_images=[IMG], last_frame=IMG2),
        "intl",
        "last_frame",
    ),
    ("r2v-video", dict(model=R, prompt="p", reference_images=[IMG], video=CLIP), "intl", "video"),
    (
        "r2v-reference-gif",
        dict(model=R, prompt="p", reference_videos=["https://e.com/a.gif"]),
        "intl",
        "reference_videos[0]",
    ),
    (
        "r2v-reference-not-list",
        dict(model=R, prompt="p", reference_images=IMG),
        "intl",
        "reference_images",
    ),
    (
        "r2v-audio-setting",
        dict(model=R, prompt="p", reference_images=[IMG], audio_setting="origin"),
        "intl",
        "audio_setting",
    ),
    ("r2v-0612-no-reference", dict(model="wan2.7-r2v-2026-06-12", prompt="p"), "cn", "media"),
    (
        "r2v-voice-missing-file",
        dict(model=R, prompt="p", reference_images=[wb.Reference(IMG, voice="/no/such/voice.wav")]),
        "intl",
        "reference_images[0].voice",
    ),
    # ------------------------------------------------------------ wan2.7-videoedit
    ("edit-no-video", dict(model=E, prompt="clay"), "intl", "media"),
    ("edit-only-images", dict(model=E, prompt="clay", reference_images=[IMG]), "intl", "media"),
    ("edit-two-videos", dict(model=E, media=[{"type": "video", "url": CLIP}] * 2), "intl", "media"),
    ("edit-five-images", dict(model=E, video=CLIP, reference_images=[IMG] * 5), "intl", "media"),
    ("edit-duration-1", dict(model=E, video=CLIP, duration=1), "intl", "duration"),
    ("edit-duration-11", dict(model=E, video=CLIP, duration=11), "intl", "duration"),
    (
        "edit-audio-setting",
        dict(model=E, video=CLIP, audio_setting="keep"),
        "intl",
        "audio_setting",
    ),
    ("edit-ratio", dict(model=E, video=CLIP, ratio="16:10"), "intl", "ratio"),
    ("edit-size", dict(model=E, video=CLIP, size="1280*720"), "intl", "size"),
    ("edit-shot-type", dict(model=E, video=CLIP, shot_type="multi"), "intl", "shot_type"),
    ("edit-audio-false", dict(model=E, video=CLIP, audio=False), "intl", "audio"),
    ("edit-first-frame", dict(model=E, video=CLIP, first_frame=IMG), "intl", "first_frame"),
    ("edit-video-mkv", dict(model=E, video="https://e.com/a.mkv"), "intl", "video"),
    (
        "edit-reference-video",
        dict(model=E, video=CLIP, reference_videos=[CLIP]),
        "intl",
        "reference_videos",
    ),
    ("edit-480P", dict(model=E, video=CLIP, resolution="480P"), "intl", "resolution"),
    ("edit-video-missing-file", dict(model=E, video="/no/such/clip.mov"), "intl", "video"),
    ("edit-in-us", dict(model=E, video=CLIP), "us", "model"),
    # ------------------------------------------------------------ kf2v (first+last frame)
    ("kf-flash-nothing", dict(model=KF, prompt="p"), "cn", "first_frame"),
    ("kf-flash-last-only", dict(model=KF, last_frame=IMG2), "cn", "first_frame"),
    ("kf-flash-duration-10", dict(model=KF, first_frame=IMG, duration=10), "cn", "duration"),
    ("kf-flash-duration-3", dict(model=KF, first_frame=IMG, duration=3), "cn", "duration"),
    ("kf-flash-audio", dict(model=KF, first_frame=IMG, audio=True), "cn", "audio"),
    ("kf-flash-audio-url", dict(model=KF, first_frame=IMG, audio_url=AUD), "cn", "audio_url"),
    ("kf-flash-ratio", dict(model=KF, first_frame=IMG, ratio="16:9"), "cn", "ratio"),
    ("kf-flash-size", dict(model=KF, first_frame=IMG, size="1280*720"), "cn", "size"),
    ("kf-flash-shot-type", dict(model=KF, first_frame=IMG, shot_type="multi"), "cn", "shot_type"),
    ("kf-flash-2K", dict(model=KF, first_frame=IMG, resolution="2K"), "cn", "resolution"),
    ("kf-flash-media", dict(model=KF, media=[ff()]), "cn", "media"),
    (
        "kf-flash-driving-audio",
        dict(model=KF, first_frame=IMG, driving_audio=AUD),
        "cn",
        "driving_audio",
    ),
    ("kf-flash-in-us", dict(model=KF, first_frame=IMG), "us", "model"),
    (
        "kf-plus-480P",
        dict(model=KP, first_frame=IMG, last_frame=IMG2, resolution="480P"),
        "intl",
        "resolution",
    ),
    ("kf-plus-1080P", dict(model=KP, first_frame=IMG, resolution="1080P"), "intl", "resolution"),
    (
        "kf-plus-cn-name-480P",
        dict(model="wanx2.1-kf2v-plus", first_frame=IMG, resolution="480P"),
        "cn",
        "resolution",
    ),
    ("kf-plus-first-clip", dict(model=KP, first_frame=IMG, first_clip=CLIP), "intl", "first_clip"),
    (
        "kf-plus-references",
        dict(model=KP, first_frame=IMG, reference_images=[IMG2]),
        "intl",
        "reference_images",
    ),
    (
        "kf-plus-audio-setting",
        dict(model=KP, first_frame=IMG, audio_setting="auto"),
        "intl",
        "audio_setting",
    ),
    ("kf-plus-image-and-first-frame", dict(model=KP, image=IMG, first_frame=IMG2), "intl", "image"),
    (
        "kf-plus-last-missing-file",
        dict(model=KP, first_frame=IMG, last_frame="/no/such/end.png"),
        "intl",
        "last_frame",
    ),
    ("kf-plus-in-us", dict(model=KP, first_frame=IMG), "us", "model"),
    # ------------------------------------------------------------ older models refuse the new inputs
    ("t2v-2.6-ratio", dict(model="wan2.6-t2v", prompt="p", ratio="16:9"), "intl", "ratio"),
    (
        "i2v-2.6-last-frame",
        dict(model="wan2.6-i2v", image=IMG, last_frame=IMG2),
        "intl",
        "last_frame",
    ),
    (
        "i2v-flash-first-clip",
        dict(model="wan2.6-i2v-flash", image=IMG, first_clip=CLIP),
        "intl",
        "first_clip",
    ),
    (
        "i2v-2.5-audio-setting",
        dict(model="wan2.5-i2v-preview", image=IMG, audio_setting="origin"),
        "intl",
        "audio_setting",
    ),
    ("t2v-2.2-media", dict(model="wan2.2-t2v-plus", prompt="p", media=[ff()]), "intl", "media"),
]

NEW_MODELS = {
    "wan2.7-t2v",
    "wan2.7-t2v-2026-04-25",
    "wan2.7-t2v-2026-06-12",
    "wan2.7-i2v",
    "wan2.7-i2v-2026-04-25",
    "wan2.7-r2v",
    "wan2.7-r2v-2026-06-12",
    "wan2.7-videoedit",
    "wan2.2-kf2v-flash",
    "wan2.1-kf2v-plus",
}


def test_at_least_sixty_cases_across_every_new_model() -> None:
    new = [c for c in CASES if c[1].get("model") in NEW_MODELS]
    assert len(new) >= 60
    assert {c[1]["model"] for c in new} == NEW_MODELS
    assert set(wb.models()) >= NEW_MODELS
    assert len({c[0] for c in CASES}) == len(CASES)


def test_every_problem_of_a_wan27_request_is_reported_at_once() -> None:
    with pytest.raises(wb.ValidationError) as info:
        wb.Session(api_key=None).prepare(
            wb.Request(
                model=I,
                first_clip=CLIP,
                driving_audio=AUD,
                ratio="16:9",
                size="1280*720",
                duration=20,
                shot_type="multi",
            )
        )
    assert set(info.value.fields) >= {"media", "ratio", "size", "duration", "shot_type"}
    msg = str(info.value)
    assert "first_frame + driving_audio" in msg  # the allowed combinations are listed
    assert "an integer from 2 to 15 s" in msg


@pytest.mark.parametrize(
    ("kwargs", "region", "field"),
    [
        (dict(model=T, prompt="x" * 5001), "intl", "prompt"),
        (dict(model=KF, first_frame=IMG, prompt="x" * 801), "cn", "prompt"),
        (
            dict(model=R, prompt="p", first_frame=IMG, reference_images=[IMG2], ratio="9:16"),
            "intl",
            "ratio",
        ),
        (dict(model=KF, first_frame=IMG, template="hanfu-1"), "cn", "template"),
        (dict(model=E, video=CLIP, duration=8), "intl", "duration"),
        (dict(model=KF, first_frame=IMG), "intl", "model"),
    ],
    ids=[
        "t2v-long-prompt",
        "kf2v-long-prompt",
        "r2v-ratio-with-first-frame",
        "kf2v-flash-template",
        "edit-duration-url",
        "kf2v-flash-intl",
    ],
)
def test_warnings_do_not_block(kwargs: dict, region: str, field: str) -> None:
    session = wb.Session(api_key=None, region=region)
    try:
        with pytest.warns(UserWarning) as caught:
            prep = session.prepare(wb.Request(**kwargs))
    finally:
        session.close()
    assert field in [p.field for p in prep.warnings], [str(w.message) for w in caught]
    assert all(p.severity == "warning" for p in prep.warnings)


@pytest.mark.parametrize(
    ("kwargs", "region"),
    [
        (
            dict(model=T, prompt="p", ratio="3:4", resolution="720P", duration=2, audio_url=AUD),
            "intl",
        ),
        (dict(model="wan2.7-t2v-2026-06-12", prompt="p", duration=15), "cn"),
        (dict(model=I, image=IMG), "intl"),
        (dict(model=I, first_frame=IMG, driving_audio=AUD), "intl"),
        (dict(model=I, first_frame=IMG, last_frame=IMG2), "intl"),
        (dict(model=I, first_frame=IMG, last_frame=IMG2, driving_audio=AUD, duration=15), "cn"),
        (dict(model=I, first_clip=CLIP, duration=12), "intl"),
        (dict(model=I, first_clip=CLIP, last_frame=IMG2), "intl"),
        (dict(model=I, media=[{"type": "last_frame", "url": IMG2}, ff()]), "intl"),  # order is free
        (
            dict(model=R, prompt="Image 1 waves", reference_images=[wb.Reference(IMG, voice=AUD)]),
            "intl",
        ),
        (
            dict(
                model=R,
                prompt="p",
                reference_images=[IMG] * 3,
                reference_videos=[CLIP] * 2,
                duration=10,
            ),
            "intl",
        ),
        (dict(model=R, prompt="p", first_frame=IMG, reference_videos=[CLIP]), "cn"),
        (
            dict(
                model=E, video=CLIP, reference_images=[IMG] * 4, audio_setting="origin", duration=0
            ),
            "intl",
        ),
        (dict(model=E, prompt="clay", video=CLIP, ratio="1:1", resolution="720P"), "intl"),
        (dict(model=KF, first_frame=IMG, last_frame=IMG2, resolution="480P", duration=5), "cn"),
        (dict(model=KP, image=IMG, last_frame=IMG2), "intl"),
        (dict(model="wanx2.1-kf2v-plus", first_frame=IMG, template="hanfu-1"), "cn"),
    ],
)
def test_valid_requests_pass(kwargs: dict, region: str) -> None:
    session = wb.Session(api_key=None, region=region)
    try:
        prep = session.prepare(wb.Request(**kwargs), warn=False)
    finally:
        session.close()
    assert [p for p in prep.warnings if p.severity == "error"] == []
