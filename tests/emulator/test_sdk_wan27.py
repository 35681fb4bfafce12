"""The vendor's SDK 2.0.2 (``dashscope``) calling wan2.7 and kf2v against the emulator.

``VideoSynthesis.call`` with ``media=`` (a local ``file://`` audio the SDK uploads through the
upload-policy API, so the create carries ``oss://`` and the resolve header), with
``first_frame_url``/``last_frame_url`` (the SDK routes "kf2v" models to the image2video path),
and with ``reference_urls`` (the wan2.6 field, which wan2.7-r2v does not take: refused, naming
``input.media``, while ``media=[reference_image]`` works).
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import dashscope
import numpy as np
import pytest
from dashscope import VideoSynthesis

from tests.conftest import TEST_API_KEY
from tests.emulator_helpers import png_data_uri
from wanbook.emulator import Emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator(time_scale=1e-3, rate_limits=False, region="cn") as e:
        yield e


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> Emulator:
    monkeypatch.setattr(dashscope, "base_http_api_url", emu.base_url)
    return emu


def _wav(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * 16000)) / 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((0.5 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    return path


def test_media_with_a_local_driving_audio(sdk: Emulator, tmp_path: Path) -> None:
    audio = _wav(tmp_path / "voice.wav", 2)
    before = len(sdk.service.uploads)
    rsp = VideoSynthesis.call(
        model="wan2.7-i2v-2026-04-25",
        media=[
            {"type": "first_frame", "url": png_data_uri(640, 480, seed=1)},
            {"type": "driving_audio", "url": f"file://{audio}"},
        ],
        resolution="720P",
        duration=2,
        api_key=TEST_API_KEY,
    )
    assert rsp.status_code == 200, rsp
    assert rsp.output.task_status == "SUCCEEDED"
    assert len(sdk.service.uploads) == before + 1
    assert rsp.usage.duration == 2 and rsp.usage.input_video_duration == 0


def test_first_and_last_frame_urls_go_to_image2video(sdk: Emulator) -> None:
    rsp = VideoSynthesis.call(
        model="wan2.2-kf2v-flash",
        prompt="a flower opens",
        first_frame_url=png_data_uri(640, 480, seed=2),
        last_frame_url=png_data_uri(640, 480, seed=3),
        resolution="480P",
        api_key=TEST_API_KEY,
    )
    assert rsp.status_code == 200, rsp
    assert rsp.output.task_status == "SUCCEEDED"
    assert rsp.usage.video_duration == 5


def test_reference_urls_are_not_the_wan27_field_but_media_is(sdk: Emulator) -> None:
    refused = VideoSynthesis.async_call(
        model="wan2.7-r2v",
        prompt="Image 1 waves",
        reference_urls=[png_data_uri(640, 480, seed=4)],
        api_key=TEST_API_KEY,
    )
    assert refused.status_code == 400 and refused.code == "InvalidParameter"
    assert "input.media" in refused.message
    rsp = VideoSynthesis.call(
        model="wan2.7-r2v",
        prompt="Image 1 waves",
        media=[{"type": "reference_image", "url": png_data_uri(640, 480, seed=4)}],
        ratio="9:16",
        resolution="720P",
        duration=2,
        api_key=TEST_API_KEY,
    )
    assert rsp.status_code == 200, rsp
    assert rsp.output.task_status == "SUCCEEDED"
    assert rsp.usage.duration == 2 and rsp.usage.ratio == "9:16"
