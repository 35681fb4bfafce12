"""The emulator's protocol over real loopback HTTP: checks, answers, task life, list, cancel, files."""

from __future__ import annotations

import base64
import io
import re
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.conftest import TEST_API_KEY
from tests.emulator_helpers import (
    CREATE,
    auth,
    create,
    create_id,
    i2v,
    png_data_uri,
    query,
    t2v,
    wait_done,
)
from tests.fakes import FakeClock
from wanbook.emulator import Emulator

TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _rgba_png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (320, 320), (10, 20, 30, 128)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[Emulator]:
    """Real-time pace (time_scale 1.0) on a clock the test moves; no rate limits."""
    with Emulator(time_scale=1.0, clock=clock, rate_limits=False) as e:
        yield e


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


# ------------------------------------------------------------------ authentication and headers
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic abc"},
        {"Authorization": TEST_API_KEY},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", CREATE), ("GET", "/tasks/x"), ("GET", "/tasks"), ("POST", "/tasks/x/cancel")],
)
def test_missing_or_malformed_key_is_401(emu, client, headers, method, path) -> None:
    r = client.request(
        method, emu.base_url + path, headers={"X-DashScope-Async": "enable", **headers}, json=t2v()
    )
    assert r.status_code == 401
    body = r.json()
    assert (body["code"], body["message"]) == ("InvalidApiKey", "No API-key provided.")
    assert UUID_RE.fullmatch(body["request_id"])


def test_a_required_key_must_match(client) -> None:
    with Emulator(api_key=TEST_API_KEY, rate_limits=False) as e:
        r = create(client, e.base_url, t2v(), Authorization="Bearer sk-wrong")
        assert (r.status_code, r.json()["message"]) == (401, "Invalid API-key provided.")
        assert create(client, e.base_url, t2v()).status_code == 200
        assert TEST_API_KEY not in repr(e) + repr(vars(e)) + repr(vars(e.service))


def test_any_key_is_accepted_by_default(emu, client) -> None:
    assert create(client, emu.base_url, t2v(), Authorization="Bearer anything").status_code == 200


def test_create_without_async_header_is_403(emu, client) -> None:
    r = client.post(emu.base_url + CREATE, json=t2v(), headers=auth(create=False))
    assert r.status_code == 403
    assert r.json()["code"] == "AccessDenied"
    assert r.json()["message"] == "current user api does not support synchronous calls"


# ------------------------------------------------------------------ request checks
@pytest.mark.parametrize(
    ("body", "status", "code", "names"),
    [
        (t2v(model="wan9-t2v"), 404, "ModelNotFound", "wan9-t2v"),
        (t2v(model="wan2.6-i2v-us"), 404, "ModelNotFound", "wan2.6-i2v-us"),  # not in intl
        ({"input": {"prompt": "x"}}, 400, "BadRequest.EmptyModel", "model"),
        ({"model": "wan2.1-t2v-turbo"}, 400, "BadRequest.EmptyInput", "input"),
        (t2v(size="1:1"), 400, "InvalidParameter", "parameters.size"),
        (t2v(size="1920*1080"), 400, "InvalidParameter", "parameters.size"),
        (t2v(prompt=""), 400, "InvalidParameter", "input.prompt"),
        (t2v(duration=10), 400, "InvalidParameter", "parameters.duration"),
        (t2v(seed=-1), 400, "InvalidParameter", "parameters.seed"),
        (t2v(prompt_extend="yes"), 400, "InvalidParameter", "parameters.prompt_extend"),
        (t2v(resolution="480P"), 400, "InvalidParameter", "parameters.resolution"),
        (t2v(audio=True), 400, "InvalidParameter", "parameters.audio"),
        (t2v(shot_type="multi"), 400, "InvalidParameter", "parameters.shot_type"),
        (
            {"model": "wan2.2-i2v-flash", "input": {"prompt": "x"}},
            400,
            "InvalidParameter",
            "input.img_url",
        ),
        (
            i2v("wan2.2-i2v-flash", "https://example.com/a.png", resolution="2K"),
            400,
            "InvalidParameter",
            "parameters.resolution",
        ),
        (
            i2v("wan2.6-i2v", "https://example.com/a.png", audio=False),
            400,
            "InvalidParameter",
            "parameters.audio",
        ),
        (i2v("wan2.1-i2v-turbo", "file:///etc/passwd"), 400, "InvalidURL", "img_url"),
        (
            i2v("wan2.1-i2v-turbo", "data:image/png;base64,AAAA"),
            415,
            "BadRequest.UnsupportedFileFormat",
            "img_url",
        ),
        (i2v("wan2.1-i2v-turbo", png_data_uri(200, 300)), 400, "InvalidParameter", "img_url"),
        (i2v("wan2.1-i2v-turbo", _rgba_png()), 400, "InvalidParameter", "alpha"),
        (
            i2v("wan2.1-i2v-turbo", "data:image/png;base64," + "A" * (15 * 1024 * 1024)),
            400,
            "InvalidParameter",
            "10 MB",
        ),
        (i2v("wan2.1-i2v-turbo", "oss://nowhere/a.png"), 400, "InvalidURL", "img_url"),
    ],
)
def test_rejections_name_the_field(emu, client, body, status, code, names) -> None:
    r = create(client, emu.base_url, body)
    assert r.status_code == status, r.text
    answer = r.json()
    assert answer["code"] == code and names in answer["message"]
    assert set(answer) == {"code", "message", "request_id"}
    assert answer["request_id"] != create(client, emu.base_url, body).json()["request_id"]


def test_a_huge_body_is_refused_unread(emu) -> None:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=30) as sock:
        sock.sendall(
            f"POST /api/v1{CREATE} HTTP/1.1\r\nHost: x\r\nContent-Length: 40000000\r\n"
            "Content-Type: application/json\r\n\r\n".encode()
        )
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
        answer = b"".join(chunks).decode()
    assert answer.startswith("HTTP/1.1 413") and "BadRequest.TooLarge" in answer


def test_malformed_json_is_invalid_parameter(emu, client) -> None:
    r = client.post(emu.base_url + CREATE, content=b"{not json", headers=auth())
    assert (r.status_code, r.json()["code"]) == (400, "InvalidParameter")


def test_unknown_input_keys_real_clients_send_are_ignored(emu, client) -> None:
    body = t2v()
    body["input"].update({"extend_prompt": True, "function": None, "whatever": 1})
    body["parameters"]["ratio"] = "16:9"
    assert create(client, emu.base_url, body).status_code == 200


def test_overlong_prompt_is_cut_silently(emu, client, clock) -> None:
    task_id = create_id(client, emu.base_url, t2v(prompt="x" * 900, prompt_extend=False))
    clock.advance(3600)
    answer = wait_done(client, emu.base_url, task_id)
    assert answer["output"]["orig_prompt"] == "x" * 800


def test_cn_region_knows_wanx_names(client) -> None:
    with Emulator(region="cn", rate_limits=False) as e:
        assert create(client, e.base_url, t2v(model="wanx2.1-t2v-turbo")).status_code == 200


# ------------------------------------------------------------------ task life
def test_task_life_from_the_clock(emu, client, clock) -> None:
    r = create(client, emu.base_url, t2v(prompt_extend=False, seed=3))
    created = r.json()
    assert set(created) == {"output", "request_id"}
    assert created["output"]["task_status"] == "PENDING"
    task_id = created["output"]["task_id"]
    first = query(client, emu.base_url, task_id)
    assert first["output"]["task_status"] == "PENDING" and "usage" not in first
    assert first["request_id"] != created["request_id"]
    assert TIME_RE.fullmatch(first["output"]["submit_time"])
    clock.advance(20)  # past the queue (at most 16 s at time_scale 1.0)
    running = query(client, emu.base_url, task_id)["output"]
    assert running["task_status"] == "RUNNING" and TIME_RE.fullmatch(running["scheduled_time"])
    assert "end_time" not in running and "video_url" not in running
    clock.advance(3600)
    done = wait_done(client, emu.base_url, task_id)
    out = done["output"]
    assert out["task_status"] == "SUCCEEDED"
    assert out["submit_time"] < out["scheduled_time"] < out["end_time"]
    assert out["orig_prompt"] == "a red fox in the snow" and "actual_prompt" not in out
    assert re.fullmatch(rf"{emu.url}/files/{task_id}\.mp4\?Expires=\d+", out["video_url"])
    assert done["usage"] == {"video_duration": 5, "video_ratio": "832*480", "video_count": 1}
    submit = datetime.fromtimestamp(clock() - 3620, tz=timezone(timedelta(hours=8)))
    assert out["submit_time"].startswith(submit.strftime("%Y-%m-%d %H:%M"))


EFFECT = {
    "model": "wan2.1-i2v-turbo",
    "input": {"img_url": png_data_uri(640, 480), "template": "flying"},
    "parameters": {"resolution": "480P"},
}


@pytest.mark.parametrize(
    ("body", "visible"),
    [
        (t2v(), True),  # prompt_extend defaults to true
        (t2v(prompt_extend=False), False),
        (t2v(model="wan2.6-t2v", size="1280*720"), False),  # never for wan2.6
        (EFFECT, False),  # a template ignores the prompt: there is nothing to rewrite
    ],
)
def test_actual_prompt_only_with_prompt_extend_and_never_for_wan26(
    emu, client, clock, body, visible
):
    task_id = create_id(client, emu.base_url, body)
    clock.advance(3600)
    out = wait_done(client, emu.base_url, task_id)["output"]
    assert out["task_status"] == "SUCCEEDED"
    assert ("actual_prompt" in out) is visible
    if visible:
        assert "Red fox in the snow" in out["actual_prompt"] or "red fox" in out["actual_prompt"]


def test_unknown_task_is_unknown(emu, client) -> None:
    answer = query(client, emu.base_url, "no-such-task")
    assert answer["output"] == {"task_id": "no-such-task", "task_status": "UNKNOWN"}


def test_trailing_slash_and_stray_query_params(emu, client) -> None:
    task_id = create_id(client, emu.base_url, t2v())
    for url in (f"/tasks/{task_id}/", f"/tasks/{task_id}?x=1", f"/tasks/{task_id}/?a=b&c="):
        r = client.get(emu.base_url + url, headers=auth(create=False))
        assert r.json()["output"]["task_id"] == task_id
    for url in ("/tasks", "/tasks/", "/tasks/?foo=bar"):
        assert client.get(emu.base_url + url, headers=auth(create=False)).json()["total"] == 1
    r = client.post(emu.base_url + CREATE + "/", json=t2v(), headers=auth())
    assert r.status_code == 200


def test_unknown_path_and_method(emu, client) -> None:
    assert client.get(emu.base_url + "/nope", headers=auth()).status_code == 404
    r = client.delete(f"{emu.base_url}/tasks/x", headers=auth())
    assert r.status_code == 405


# ------------------------------------------------------------------ cancel
def test_cancel_only_while_pending(emu, client, clock) -> None:
    pending = create_id(client, emu.base_url, t2v())
    r = client.post(f"{emu.base_url}/tasks/{pending}/cancel", headers=auth(create=False))
    assert r.status_code == 200 and set(r.json()) == {"request_id"}
    out = query(client, emu.base_url, pending)["output"]
    assert out["task_status"] == "CANCELED" and "end_time" in out
    clock.advance(3600)
    assert query(client, emu.base_url, pending)["output"]["task_status"] == "CANCELED"

    running = create_id(client, emu.base_url, t2v())
    clock.advance(20)
    for task_id in (running, pending, "no-such-task"):
        r = client.post(f"{emu.base_url}/tasks/{task_id}/cancel", headers=auth(create=False))
        assert r.status_code == 400
        assert r.json()["code"] == "UnsupportedOperation"
        assert r.json()["message"] == (
            "Failed to cancel the task, please confirm if the task is in PENDING status."
        )


# ------------------------------------------------------------------ list
def test_list_filters_and_paging(emu, client, clock) -> None:
    base = emu.base_url
    ids = []
    for k in range(5):
        clock.advance(600)
        model = "wan2.1-t2v-turbo" if k % 2 == 0 else "wan2.2-t2v-plus"
        ids.append(create_id(client, base, t2v(model=model, seed=k)))
    client.post(f"{base}/tasks/{ids[4]}/cancel", headers=auth(create=False))

    def listing(**params) -> dict:
        r = client.get(base + "/tasks/", params=params, headers=auth(create=False))
        assert r.status_code == 200, r.text
        return r.json()

    everything = listing()
    assert everything["total"] == 5 and everything["page_no"] == 1 and everything["page_size"] == 10
    assert [e["task_id"] for e in everything["data"]] == ids[::-1]  # newest first
    entry = everything["data"][0]
    assert {
        "task_id",
        "status",
        "model_name",
        "request_id",
        "gmt_create",
        "start_time",
        "end_time",
        "region",
    } <= set(entry)
    assert entry["region"] == "ap-southeast-1" and isinstance(entry["gmt_create"], int)
    assert listing(model_name="wan2.2-t2v-plus")["total"] == 2
    assert listing(model_name="wanx2.1-t2v-turbo")["total"] == 3  # a regional alias
    assert [e["task_id"] for e in listing(status="CANCELED")["data"]] == [ids[4]]
    assert listing(task_id=ids[1])["data"][0]["task_id"] == ids[1]
    page = listing(page_size=2, page_no=3)
    assert (page["total"], page["total_page"], len(page["data"])) == (5, 3, 1)
    assert page["data"][0]["task_id"] == ids[0]
    tz8 = timezone(timedelta(hours=8))
    start = datetime.fromtimestamp(clock() - 2 * 600 - 1, tz=tz8).strftime("%Y%m%d%H%M%S")
    assert listing(start_time=start)["total"] == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1000"}, "page_size"),
        ({"page_no": "x"}, "page_no"),
        ({"status": "DONE"}, "status"),
        ({"start_time": "2026-01-01"}, "start_time"),
        ({"start_time": "20260101000000", "end_time": "20260103000000"}, "24 hours"),
    ],
)
def test_list_rejects_bad_filters(emu, client, params, field) -> None:
    r = client.get(emu.base_url + "/tasks", params=params, headers=auth(create=False))
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameter"
    assert field in r.json()["message"]


# ------------------------------------------------------------------ files and expiry
def test_video_file_is_served_then_expires(emu, client, clock) -> None:
    task_id = create_id(client, emu.base_url, t2v(prompt_extend=False, seed=1))
    not_yet = client.get(f"{emu.url}/files/{task_id}.mp4")
    assert not_yet.status_code == 404 and b"NoSuchKey" in not_yet.content
    clock.advance(100)
    url = wait_done(client, emu.base_url, task_id)["output"]["video_url"]
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert int(r.headers["content-length"]) == len(r.content) > 1000
    head = client.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == r.headers["content-length"]
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == r.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(r.content)}"
    clock.advance(24 * 3600 - 90)  # the task id expires first (it counts from submission)
    assert query(client, emu.base_url, task_id)["output"] == {
        "task_id": task_id,
        "task_status": "UNKNOWN",
    }
    assert client.get(url).status_code == 200  # the URL counts from the end of the task
    clock.advance(120)
    gone = client.get(url)
    assert gone.status_code == 403 and b"<Code>AccessDenied</Code>" in gone.content
    clock.advance(3600)
    assert client.get(url).status_code in (403, 404)
    assert client.get(emu.base_url + "/tasks", headers=auth(create=False)).json()["total"] == 0


def test_expiry_with_a_tiny_time_scale(client, tmp_path) -> None:
    """24 h at time_scale 2.5/86400 is 2.5 s: the id and the URL stop working on their own. On a
    fake clock, so a slow render or a slow machine cannot make the test race the expiry."""
    body = i2v(
        "wan2.1-i2v-turbo",
        png_data_uri(320, 240),
        resolution="480P",
        duration=3,
        prompt_extend=False,
        seed=5,
    )
    clock = FakeClock()
    with Emulator(time_scale=2.5 / 86400, clock=clock, files_dir=tmp_path, rate_limits=False) as e:
        task_id = create_id(client, e.base_url, body)
        clock.advance(0.1)  # queued and run (tens of ms at this scale); expiry is 2.5 s away
        out = wait_done(client, e.base_url, task_id)["output"]  # waits for the render too
        assert out["task_status"] == "SUCCEEDED"
        assert client.get(out["video_url"]).status_code == 200
        clock.advance(1.0)
        assert query(client, e.base_url, task_id)["output"]["task_status"] == "SUCCEEDED"
        clock.advance(2.5)
        assert query(client, e.base_url, task_id)["output"]["task_status"] == "UNKNOWN"
        assert client.get(out["video_url"]).status_code in (403, 404)


def test_index_page(emu, client) -> None:
    r = client.get(emu.url + "/")
    assert r.status_code == 200 and b"/api/v1" in r.content
