"""The vendor's own SDK (``dashscope``), unchanged apart from the base URL, against the emulator.

1.x: ``VideoSynthesis.call / async_call / fetch / wait / cancel / list`` (base URL from
``dashscope.base_http_api_url``), including a local ``file://`` image, which the SDK uploads
through the upload-policy API. 2.0: ``dashscope.Client(base_url=...).videos``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dashscope
import httpx
import pytest
from dashscope import VideoSynthesis

from tests.conftest import TEST_API_KEY
from tests.emulator_helpers import png_data_uri, probe
from wanbook._spec.catalogue import i2v_output_size
from wanbook.emulator import Emulator

URL = "https://example.com/pictures/cat.jpg"  # not fetched: a 16:9 stand-in is used


@pytest.fixture(scope="module")
def fast() -> Iterator[Emulator]:
    with Emulator(time_scale=1e-3, rate_limits=False) as e:
        yield e


@pytest.fixture(scope="module")
def slow() -> Iterator[Emulator]:
    """Real-time pace: tasks stay PENDING for 8-16 s, long enough to cancel them."""
    with Emulator(time_scale=1.0) as e:
        yield e


@pytest.fixture
def sdk(monkeypatch: pytest.MonkeyPatch, fast: Emulator) -> Emulator:
    monkeypatch.setattr(dashscope, "base_http_api_url", fast.base_url)
    return fast


def _video(url: str) -> dict:
    with httpx.Client(timeout=60) as client:
        r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert int(r.headers["content-length"]) == len(r.content)
    return probe(r.content)


def test_call_t2v(sdk: Emulator) -> None:
    rsp = VideoSynthesis.call(
        model="wan2.2-t2v-plus",
        prompt="a kitten in the moonlight",
        size="832*480",
        seed=7,
        prompt_extend=False,
        api_key=TEST_API_KEY,
    )
    assert rsp.status_code == 200, rsp
    assert rsp.output.task_status == "SUCCEEDED"
    assert rsp.usage.video_duration == 5 and rsp.usage.video_ratio == "832*480"
    info = _video(rsp.output.video_url)
    assert (info["codec"], info["fps"], info["width"], info["height"]) == ("h264", 30.0, 832, 480)
    assert (info["frames"], info["audio"]) == (150, 0)
    assert info["duration"] == pytest.approx(5, abs=0.1)


def test_async_call_fetch_wait_i2v_data_uri(sdk: Emulator) -> None:
    picture = png_data_uri(750, 1000, seed=4)
    created = VideoSynthesis.async_call(
        model="wan2.6-i2v-flash",
        img_url=picture,
        prompt="waves",
        resolution="720P",
        duration=2,
        api_key=TEST_API_KEY,
    )
    assert created.status_code == 200 and created.output.task_status == "PENDING"
    fetched = VideoSynthesis.fetch(created, api_key=TEST_API_KEY)
    assert fetched.output.task_id == created.output.task_id
    done = VideoSynthesis.wait(created, api_key=TEST_API_KEY)
    assert done.output.task_status == "SUCCEEDED"
    assert done.usage.SR == 720 and done.usage.audio is True and done.usage.duration == 2
    info = _video(done.output.video_url)
    assert (info["width"], info["height"]) == (816, 1104)
    assert (info["frames"], info["audio"]) == (60, 1)


def test_i2v_with_an_http_url(sdk: Emulator) -> None:
    rsp = VideoSynthesis.call(
        model="wan2.1-i2v-turbo", img_url=URL, resolution="480P", duration=3, api_key=TEST_API_KEY
    )
    assert rsp.output.task_status == "SUCCEEDED"
    assert rsp.usage.video_ratio == "standard" and rsp.usage.video_duration == 3
    info = _video(rsp.output.video_url)
    assert (info["width"], info["height"]) == i2v_output_size(1280, 720, "480P")
    assert (info["frames"], info["audio"]) == (90, 0)


def test_i2v_with_a_local_file_is_uploaded(sdk: Emulator, tmp_path: Path) -> None:
    import base64

    path = tmp_path / "portrait.png"
    path.write_bytes(base64.b64decode(png_data_uri(750, 1000, seed=5).split(",", 1)[1]))
    rsp = VideoSynthesis.call(
        model="wan2.1-i2v-turbo",
        img_url=f"file://{path}",
        resolution="480P",
        duration=3,
        api_key=TEST_API_KEY,
    )
    assert rsp.status_code == 200 and rsp.output.task_status == "SUCCEEDED", rsp
    info = _video(rsp.output.video_url)
    assert (info["width"], info["height"]) == i2v_output_size(750, 1000, "480P")


def test_cancel_and_list(monkeypatch: pytest.MonkeyPatch, slow: Emulator) -> None:
    monkeypatch.setattr(dashscope, "base_http_api_url", slow.base_url)
    created = VideoSynthesis.async_call(
        model="wan2.1-t2v-turbo", prompt="a quiet harbour", size="832*480", api_key=TEST_API_KEY
    )
    task_id = created.output.task_id
    assert VideoSynthesis.cancel(created, api_key=TEST_API_KEY).status_code == 200
    assert VideoSynthesis.fetch(task_id, api_key=TEST_API_KEY).output.task_status == "CANCELED"
    again = VideoSynthesis.cancel(task_id, api_key=TEST_API_KEY)
    assert (again.status_code, again.code) == (400, "UnsupportedOperation")
    assert "PENDING" in again.message
    listing = VideoSynthesis.list(status="CANCELED", api_key=TEST_API_KEY)
    assert listing.status_code == 200
    assert task_id in [t["task_id"] for t in listing.output["data"]]
    assert listing.output["total"] >= 1 and listing.output["page_no"] == 1


def test_errors_reach_the_sdk(sdk: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = VideoSynthesis.async_call(
        model="wan2.2-t2v-plus", prompt="x", size="1:1", api_key=TEST_API_KEY
    )
    assert (bad.status_code, bad.code) == (400, "InvalidParameter") and "size" in bad.message
    with Emulator(api_key=TEST_API_KEY) as strict:
        monkeypatch.setattr(dashscope, "base_http_api_url", strict.base_url)
        denied = VideoSynthesis.async_call(model="wan2.2-t2v-plus", prompt="x", api_key="sk-wrong")
        assert (denied.status_code, denied.code) == (401, "InvalidApiKey")
        assert denied.message == "Invalid API-key provided."


def test_v2_client_videos(fast: Emulator) -> None:
    with dashscope.Client(api_key=TEST_API_KEY, base_url=fast.base_url) as client:
        job = client.videos.generate(
            model="wan2.5-t2v-preview",
            prompt="a red fox in the snow",
            size="832*480",
            seed=3,
            poll_interval=0.05,
        )
        assert job.succeeded and job.task_id and job.finished_at
        assert job.usage.video_duration == 5
        info = _video(job.video_url)
        assert (info["width"], info["height"], info["audio"]) == (832, 480, 1)

        made = client.videos.jobs.create(
            model="wan2.1-i2v-turbo", image_url=URL, resolution="480P", parameters={"duration": 3}
        )
        assert made.status == "PENDING"
        assert client.videos.jobs.fetch(made.task_id).task_id == made.task_id
        done = client.videos.jobs.wait(made, poll_interval=0.05)
        assert done.succeeded
        assert _video(done.video_url)["frames"] == 90
        # The service lists tasks under "data" (docs/dashscope-api.md §4.2); this SDK version reads "tasks",
        # so only the counts come through its JobList.
        assert client.videos.jobs.list(page_size=50).total >= 2


def test_v2_client_cancel(slow: Emulator) -> None:
    with dashscope.Client(api_key=TEST_API_KEY, base_url=slow.base_url) as client:
        made = client.videos.jobs.create(model="wan2.2-t2v-plus", prompt="clouds", size="832*480")
        canceled = client.videos.jobs.cancel(made.task_id)
        assert canceled.request_id
        assert client.videos.jobs.fetch(made.task_id).status == "CANCELED"
