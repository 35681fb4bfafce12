"""The hostile-server table: wanbook against a server that lies, drips, echoes the key, answers
junk or answers well. Each case ends with the same checks (``conftest.check_end``): every run's
final state and cost in the run log, the files left under WANBOOK_HOME, and the test key nowhere
(files, output, errors, the DataFrame).

Cases for the numbered defects of issue 14 carry ``defect=N``; while a defect is open its cases
are strict xfails (``OPEN``), so the table stays green and each fix must turn them into passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import wanbook as wb
from tests.conftest import TEST_API_KEY
from tests.hostile.conftest import COST, MODEL, NAN, SIZE, World, check_end, left_files
from tests.hostile.server import Reply

#: Defects of issue 14 not fixed yet: their cases must fail (strict xfail).
OPEN: set[int] = set()
#: The parts of #14 (several small defects) still open, by case name.
OPEN_14: set[str] = set()
PROMPT = "a red fox in the snow"

ok = ("SUCCEEDED",), (COST,), (True,)


@dataclass(frozen=True)
class Case:
    name: str
    act: Callable[[World], Any]
    statuses: tuple[str, ...]
    costs: tuple[float, ...]
    videos: tuple[bool, ...]
    raises: type[BaseException] | tuple[type[BaseException], ...] | None = None
    after: Callable[[World, list[Any]], None] | None = None
    defect: int | None = None
    warns: str | None = None  # the one warning the case must give (a regex of its text)


def gen(w: World, prompt: str = PROMPT, session: dict[str, Any] | None = None, **kw: Any) -> Any:
    w.session(**(session or {}))
    kw.setdefault("model", MODEL)
    kw.setdefault("size", SIZE)
    kw.setdefault("seed", 1)
    return wb.generate(prompt, **kw)


def script(**hooks: Any) -> Callable[[World], None]:
    def apply(w: World) -> None:
        for name, hook in hooks.items():
            setattr(w.srv, name, hook)

    return apply


def then(*steps: Callable[[World], Any]) -> Callable[[World], Any]:
    def act(w: World) -> Any:
        result = None
        for step in steps:
            result = step(w)
        return result

    return act


def nth(n: int, reply: Reply) -> Callable[..., Reply | None]:
    """Answer ``reply`` to the first ``n`` calls, then the default."""
    count = [0]

    def hook(*args: Any) -> Reply | None:
        count[0] += 1
        return reply if count[0] <= n else None

    return hook


def task_answer(status: str, **output: Any) -> Callable[[World], Callable[[str, int], Reply]]:
    """A query hook answering ``status`` with extra output fields (and ``usage`` if given)."""

    def make(w: World) -> Callable[[str, int], Reply]:
        def hook(task_id: str, n: int) -> Reply:
            task = w.srv.tasks[task_id]
            task.status = status
            body = w.srv.answer_of(task)
            usage = output.pop("usage", "keep")
            if usage != "keep":
                body["usage"] = usage
            body["output"].update(output)
            output["usage"] = usage
            return Reply(body=body)

        return hook

    return make


def query_with(status: str, **output: Any) -> Callable[[World], None]:
    def apply(w: World) -> None:
        w.srv.on_query = task_answer(status, **output)(w)

    return apply


def creates(n: int) -> Callable[[World, list[Any]], None]:
    def after(w: World, runs: list[Any]) -> None:
        assert len(w.srv.creates()) == n

    return after


def resume(w: World, **kw: Any) -> Any:
    w.session()
    return wb.resume(**kw)


def err(code: int, message: str, status: int | None = None) -> Reply:
    return Reply(status or code, {"request_id": "r", "code": f"E{code}", "message": message})


# ------------------------------------------------------------------ acts needing more than a hook


def foreign_task_in_window(w: World) -> Any:
    """The create's answer is lost and the server made no task; another client of the account
    made one of the same model at the same moment. It must not be adopted."""
    w.srv.add_task(MODEL, prompt="another kernel's prompt", created=time.time())
    w.srv.on_create = lambda body, n: Reply(drop=True)
    gen(w)


def budget_two_loops(w: World) -> Any:
    """A sync generate beside an awaited agenerate of one session, both checking the budget at
    the same moment (their first on_update waits for the other): only one may be sent."""
    barrier = threading.Barrier(2, timeout=3)
    first: set[str] = set()

    def meet(run: Any) -> None:
        if run.run_id not in first:
            first.add(run.run_id)
            barrier.wait()

    s = w.session(budget=0.10)
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            s.generate(PROMPT, model=MODEL, size=SIZE, seed=1, on_update=meet)
        except wb.WanbookError as exc:
            errors.append(exc)

    thread = threading.Thread(target=sync)
    thread.start()

    async def main() -> None:
        try:
            await s.agenerate(PROMPT, model=MODEL, size=SIZE, seed=2, on_update=meet)
        except wb.WanbookError as exc:
            errors.append(exc)
        finally:
            await s.client().aclose()  # this loop's connections end with it

    asyncio.run(main())
    thread.join(60)
    assert [type(e) for e in errors] == [wb.BudgetExceededError]
    assert len(w.srv.creates()) == 1


def drip_query(w: World) -> Any:
    """Queries answered one byte every 0.5 s: the session's deadline (3 s) must still hold."""
    w.srv.on_query = lambda task_id, n: Reply(body=w.srv.answer_of(w.srv.tasks[task_id]), drip=0.5)
    started = time.monotonic()
    box: list[BaseException] = []

    def go() -> None:
        try:
            gen(w, session={"deadline": 3})
        except BaseException as exc:  # reported below
            box.append(exc)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(25)  # a real margin over the 3 s deadline
    waited = time.monotonic() - started
    stop_and_join(w, thread)
    assert waited < 25, f"still waiting {waited:.0f} s after start"
    raise box[0]


def stop_and_join(w: World, thread: threading.Thread) -> None:
    """End the server's drips so a call still waiting returns, and wait for it (no thread or
    socket outlives the case)."""
    if thread.is_alive():
        w.srv.closing.set()
        thread.join(60)
        wb.session(quiet=True).close()


def drip_video(w: World) -> Any:
    w.srv.on_file = lambda path, n: Reply(body=w.srv.video, drip=0.5)
    box: list[BaseException] = []

    def go() -> None:
        try:
            gen(w, session={"deadline": 3})
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    started = time.monotonic()
    thread.join(25)
    waited = time.monotonic() - started
    stop_and_join(w, thread)
    assert waited < 25, "the download had no overall timeout"
    raise box[0]


def truncated_video(w: World) -> Any:
    cut = w.srv.video[: len(w.srv.video) * 4 // 10]
    w.srv.on_file = lambda path, n: Reply(body=cut, headers={"Content-Type": "video/mp4"})
    gen(w)


def huge_length(w: World) -> Any:
    junk = b"\0" * (1 << 20)
    w.srv.on_file = lambda path, n: Reply(body=junk * 8, length=2 << 30)
    gen(w)


def bytes_bounded(limit: int) -> Callable[[World, list[Any]], None]:
    def after(w: World, runs: list[Any]) -> None:
        assert w.srv.bytes_sent < limit, w.srv.bytes_sent

    return after


def endless_video(w: World) -> Any:
    chunk = b"\0" * (1 << 20)

    def endless() -> Any:
        for _ in range(400):  # 400 MiB, far above any 5 s 480P video
            yield chunk

    w.srv.on_file = lambda path, n: Reply(stream=endless())
    gen(w)


def unknown_once(w: World) -> Any:
    def hook(task_id: str, n: int) -> Reply | None:
        if n == 1:
            return Reply(
                body={"request_id": "r", "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
            )
        return None

    w.srv.on_query = hook
    gen(w)


def future_log(w: World) -> Any:
    """A log migrated by a newer wanbook: this one must refuse to write it (before sending)."""
    import sqlite3

    w.session()
    wb.runs()  # creates and migrates the log
    wb.session(quiet=True).close()
    with sqlite3.connect(w.home / "runs.sqlite") as db:
        db.execute(
            "INSERT INTO _migrations (name, applied_at) VALUES ('m999_from_the_future', "
            "'2030-01-01T00:00:00+00:00')"
        )
    try:
        gen(w)
    finally:
        assert len(w.srv.creates()) == 0
        assert len(wb.runs()) == 0  # reading still works


def bad_key(key: str) -> Callable[[World], Any]:
    def act(w: World) -> Any:
        wb.session(quiet=True, api_key=key, deadline=30)
        try:
            wb.generate(PROMPT, model=MODEL, size=SIZE)
        finally:
            assert w.srv.requests == []

    return act


def cli_failed_escapes(w: World) -> Any:
    nasty = "\x1b[2J\x1b]0;pwned\x07\u202eevil\x07"
    w.srv.on_query = task_answer("FAILED", code="Bad" + nasty, message="boom" + nasty)(w)
    proc = w.cli("generate", "--model", MODEL, "--prompt", PROMPT, "--size", SIZE)
    assert proc.returncode == 1
    proc = w.cli("runs", "--format", "table")
    assert proc.returncode == 0
    for text in w.texts:
        assert not any(c in text for c in "\x1b\x07\u202e"), text


def cli_task_id_escapes(w: World) -> Any:
    """A task id carrying escapes: never shown raw (and, not being an id, never followed: the
    create is ambiguous, the list shows no such task, the run waits for resume)."""
    evil_id = "t\x1b]0;title\x07\u202e1"
    w.srv.on_create = lambda body, n: Reply(
        body={"request_id": "r", "output": {"task_id": evil_id, "task_status": "PENDING"}}
    )
    w.srv.add_task(MODEL, mine=True, prompt=PROMPT)
    w.srv.tasks[evil_id] = w.srv.tasks.popitem()[1]
    w.srv.tasks[evil_id].task_id = evil_id
    proc = w.cli("generate", "--model", MODEL, "--prompt", PROMPT, "--size", SIZE)
    w.cli("runs", "--format", "table")
    for text in w.texts:
        assert not any(c in text for c in "\x1b\x07\u202e"), repr(text)
    assert proc.returncode == 1


def cli_non_utf8_prompt(w: World) -> Any:
    proc = w.cli("generate", "--model", MODEL, "--prompt", b"cat \xff", "--size", SIZE)
    assert proc.returncode == 2, proc.stderr
    assert b"Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert w.srv.requests == []


def cli_budget_nan(w: World) -> Any:
    proc = w.cli(
        "generate", "--model", MODEL, "--prompt", PROMPT, "--size", SIZE, "--budget", "nan"
    )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and b"budget" in proc.stderr
    assert w.srv.requests == []


def giant_task_id(w: World) -> Any:
    big = "t" * 200_000
    w.srv.on_create = lambda body, n: Reply(
        body={"request_id": "r", "output": {"task_id": big, "task_status": "PENDING"}}
    )
    gen(w)


def dev_zero_image(w: World) -> Any:
    """``--image /dev/zero``: refused after a bounded read. In a subprocess with a 2 GiB address
    space, so an unbounded read fails there (MemoryError) instead of exhausting the machine."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wanbook",
            "generate",
            "--model",
            "wan2.2-i2v-plus",
            "--image",
            "/dev/zero",
            "--resolution",
            "480P",
            "--prompt",
            "a cat",
        ],
        capture_output=True,
        timeout=120,
        preexec_fn=limit,
    )
    w.texts += [proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(proc.stderr.splitlines()) == 1 and b"image" in proc.stderr
    assert w.srv.requests == []


def orphan_parts(w: World) -> Any:
    videos = w.home / "videos"
    videos.mkdir(parents=True)
    part = videos / "run-x.mp4.part-0123456789ab"
    part.write_bytes(b"half a video")
    old = time.time() - 3 * 3600
    import os

    os.utime(part, (old, old))
    resume(w)


def succeeded_without_video(w: World) -> Any:
    """The video could not be fetched; on resume the task is gone (UNKNOWN): resume must not
    report success for a run that has no video."""
    w.srv.on_file = lambda path, n: Reply(503, b"busy")
    with contextlib.suppress(wb.DownloadError):
        gen(w)
    w.srv.on_query = lambda task_id, n: Reply(
        body={"request_id": "r", "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
    )
    resume(w)


def huge_prompt(w: World) -> Any:
    try:
        gen(w, prompt="a fox " * 7_000_000)  # 42 MB
    finally:
        assert w.srv.requests == []


def public_base_redirect_to_loopback(w: World) -> Any:
    """The API base is public (a transport routes it to the test server, nothing leaves the
    machine); the video URL points at loopback: it must not be fetched."""
    import httpx

    target = w.srv.root

    class Route(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.host == "dashscope-intl.aliyuncs.com":
                port = int(target.rsplit(":", 1)[1])
                request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    wb.session(
        quiet=True,
        deadline=30,
        base_url="https://dashscope-intl.aliyuncs.com/api/v1",
        transport=Route(),
    )
    wb.generate(PROMPT, model=MODEL, size=SIZE, seed=1)


def exports_without_urls(w: World) -> Any:
    gen(w)
    for fmt in ("csv", "json"):
        proc = w.cli("runs", "--format", fmt)
        assert proc.returncode == 0
        assert b"Signature=" not in proc.stdout, fmt


def tags_string(w: World) -> Any:
    gen(w, tags="foo")


def tags_one(w: World, runs: list[Any]) -> None:
    assert runs[0].tags == ["foo"]


def key_in_url(w: World) -> Any:
    def hook(task_id: str, n: int) -> Reply:
        body = w.srv.answer_of(w.srv.tasks[task_id])
        body["output"]["video_url"] += "&leak=" + TEST_API_KEY
        return Reply(body=body)

    w.srv.on_query = hook
    gen(w)


def list_junk_then_resume(w: World) -> Any:
    """A create answer lost and the server made no task; the list answers junk, then nothing:
    the run waits as AMBIGUOUS, and resume (past the grace) finds no task: NOT_CREATED, free."""
    w.srv.on_create = lambda body, n: Reply(drop=True)
    w.srv.on_list = nth(1, Reply(body=b"<html>oops</html>"))
    with contextlib.suppress(wb.WanbookError):
        gen(w)
    w.srv.on_list = None
    resume(w, list_grace=0)


def killed_batch_then_resume(w: World) -> Any:
    """The issue's case: a batch in a subprocess, its first create held by the server (the task
    is made), the second logged and waiting to send (the create gate), is SIGKILLed; another
    client of the account then makes 3 tasks of the same model. Resume must give the first run
    its own task and call the unsent one NOT_CREATED, adopting none of the other client's. (Two
    runs: the account allows wan2.2 two tasks in flight, so a third would not be logged yet.)"""
    import os
    import signal

    hold = threading.Event()
    w.srv.on_create = lambda body, n: (w_default(body), Reply(drop=True, hold=hold))[1]
    script_text = (
        "import wanbook as wb\n"
        "wb.session(quiet=True)\n"
        f"reqs = [wb.Request(model={MODEL!r}, prompt='batch ' + str(i), size={SIZE!r}, seed=i)"
        " for i in range(2)]\n"
        "wb.submit_many(reqs, limits={'wan2.2': (1, 2)})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script_text], env=dict(os.environ))
    try:
        end = time.monotonic() + 60
        while not w.srv.creates() and time.monotonic() < end:
            time.sleep(0.05)
        assert w.srv.creates(), "the batch never sent its first create"
        w.session()
        while len(wb.runs()) < 2 and time.monotonic() < end:  # the other waits at the create gate
            time.sleep(0.05)
        assert len(wb.runs()) == 2
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        hold.set()
    w.srv.on_create = None
    for _ in range(3):
        w.srv.add_task(MODEL, prompt="another kernel's prompt")
    resume(w, list_grace=0)
    assert len(w.srv.creates()) == 1


def foreign_then_resume(w: World) -> Any:
    with contextlib.suppress(wb.AmbiguousCreateError):
        foreign_task_in_window(w)
    resume(w, list_grace=0)


def found_after_drop(w: World) -> Any:
    """The create made the task but its answer was lost: found through the list, not re-sent."""

    def hook(body: dict[str, Any], n: int) -> Reply | None:
        if n == 1:
            w.srv.default(
                "POST",
                "/api/v1/services/aigc/video-generation/video-synthesis",
                {},
                json.dumps(body).encode(),
            )
            return Reply(drop=True)
        return None

    w.srv.on_create = hook
    gen(w)


def found_after_502(w: World) -> Any:
    def hook(body: dict[str, Any], n: int) -> Reply | None:
        w.srv.default(
            "POST",
            "/api/v1/services/aigc/video-generation/video-synthesis",
            {},
            json.dumps(body).encode(),
        )
        return Reply(502, b"<html>Bad Gateway</html>")

    w.srv.on_create = hook
    gen(w)


def odd_task_id(w: World) -> Any:
    """A task id with path characters: escaped in the URL, never used as a file name."""
    evil = "../../etc/x?y#z"

    def hook(body: dict[str, Any], n: int) -> Reply:
        w_default(body)
        task = w.srv.tasks.popitem()[1]
        task.task_id = evil
        w.srv.tasks[evil] = task
        return Reply(
            body={"request_id": "r", "output": {"task_id": evil, "task_status": "PENDING"}}
        )

    def query(task_id: str, n: int) -> Reply:
        return Reply(body=w.srv.answer_of(w.srv.tasks[evil]))

    w.srv.on_create = hook
    w.srv.on_query = query
    gen(w)


def injection_prompt(prompt: str) -> Callable[[World], Any]:
    def act(w: World) -> Any:
        gen(w, prompt=prompt)
        run = wb.run(wb.runs().index[0])
        assert run.prompt == prompt

    return act


def no_runs(w: World, runs: list[Any]) -> None:
    assert runs == [] and w.srv.creates() == []


# ------------------------------------------------------------------ the table

CASES = [
    # --- behaviours that held in the attack round (regressions guard)
    Case("honest service", lambda w: gen(w), *ok, after=creates(1)),
    Case(
        "create 429 twice then created",
        then(script(on_create=nth(2, err(429, "Throttling"))), gen),
        *ok,
        after=creates(3),
    ),
    Case(
        "create 500 with an error body is retried",
        then(script(on_create=nth(1, Reply(500, {"code": "InternalError", "message": "x"}))), gen),
        *ok,
        after=creates(2),
    ),
    Case("create answer lost, task found by the list", found_after_drop, *ok, after=creates(1)),
    Case("create 502 without body, task found", found_after_502, *ok, after=creates(1)),
    Case(
        "create 400 refused",
        then(script(on_create=lambda b, n: err(400, "bad size")), gen),
        ("ERROR",),
        (0.0,),
        (False,),
        raises=wb.BadRequestError,
    ),
    Case(
        "create 401 echoing the key",
        then(script(on_create=lambda b, n: err(401, f"key {TEST_API_KEY} is invalid")), gen),
        ("ERROR",),
        (0.0,),
        (False,),
        raises=wb.AuthenticationError,
    ),
    Case(
        "create 200 junk body: ambiguous, task made, found",
        then(script(on_create=lambda b, n: (w_default(b), Reply(body=b"not json"))[1]), gen),
        *ok,
    ),
    Case(
        "task FAILED costs nothing",
        then(query_with("FAILED"), gen),
        ("FAILED",),
        (0.0,),
        (False,),
        raises=wb.TaskFailedError,
    ),
    Case(
        "task CANCELED costs nothing",
        then(query_with("CANCELED"), gen),
        ("CANCELED",),
        (0.0,),
        (False,),
        raises=wb.TaskFailedError,
    ),
    Case("query 500 then answered", then(script(on_query=nth(2, err(500, "down"))), gen), *ok),
    Case(
        "query 429 Retry-After 0 then answered",
        then(
            script(
                on_query=nth(
                    1, Reply(429, {"code": "Throttling", "message": "slow"}, {"Retry-After": "0"})
                )
            ),
            gen,
        ),
        *ok,
    ),
    Case(
        "query junk 200 then answered",
        then(script(on_query=nth(1, Reply(body=b"<html>"))), gen),
        *ok,
    ),
    Case("query dropped then answered", then(script(on_query=nth(1, Reply(drop=True))), gen), *ok),
    Case("video 503 once then served", then(script(on_file=nth(1, Reply(503, b"busy"))), gen), *ok),
    Case(
        "video 404 forever",
        then(script(on_file=lambda p, n: Reply(404, b"gone")), gen),
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.DownloadError,
    ),
    Case(
        "video is an HTML page",
        then(script(on_file=lambda p, n: Reply(body=b"<html>" + b"x" * 5000)), gen),
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.DownloadError,
    ),
    Case(
        "video body shorter than its Content-Length",
        then(script(on_file=lambda p, n: Reply(body=b"\0" * 1000, length=5000)), gen),
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.DownloadError,
    ),
    Case(
        "redirect to the same local server",
        then(
            script(
                on_file=lambda p, n: (
                    Reply(302, b"", {"Location": p.replace("/files/", "/files/r-")})
                    if "/r-" not in p
                    else None
                )
            ),
            gen,
        ),
        *ok,
    ),
    Case("task id with path characters", odd_task_id, *ok),
    Case("HTML and script in the prompt", injection_prompt("<script>alert(1)</script> a fox"), *ok),
    Case("SQL in the prompt", injection_prompt("fox'); DROP TABLE runs;--"), *ok),
    Case("emoji and RTL text in the prompt", injection_prompt("a fox 🦊 ثعلب"), *ok),
    Case(
        "usage null: cost unknown, not zero",
        then(query_with("SUCCEEDED", usage=None), gen),
        ("SUCCEEDED",),
        (NAN,),
        (True,),
    ),
    Case(
        "invalid size never sent",
        lambda w: gen(w, size="1*1"),
        (),
        (),
        (),
        raises=wb.ValidationError,
        after=no_runs,
    ),
    Case(
        "budget refuses before sending",
        lambda w: gen(w, session={"budget": 0.05}),
        (),
        (),
        (),
        raises=wb.BudgetExceededError,
        after=no_runs,
    ),
    Case(
        "create lost, list junk, resume: NOT_CREATED",
        list_junk_then_resume,
        ("NOT_CREATED",),
        (0.0,),
        (False,),
    ),
    # --- the numbered defects of issue 14
    Case(
        "#1 ambiguous search adopts another client's task",
        foreign_task_in_window,
        ("AMBIGUOUS",),
        (NAN,),
        (False,),
        raises=wb.AmbiguousCreateError,
        defect=1,
    ),
    Case(
        "#1 resume does not adopt another client's task",
        foreign_then_resume,
        ("NOT_CREATED",),
        (0.0,),
        (False,),
        defect=1,
    ),
    Case(
        "#1 killed batch: resume adopts no foreign task",
        killed_batch_then_resume,
        ("SUCCEEDED", "NOT_CREATED"),
        (COST, 0.0),
        (True, False),
        defect=1,
    ),
    Case(
        "#2 one budget, two event loops",
        budget_two_loops,
        ("SUCCEEDED",),
        (COST,),
        (True,),
        defect=2,
    ),
    Case("#3 CLI --budget nan refused", cli_budget_nan, (), (), (), defect=3),
    Case(
        "#3 budget=nan refused",
        lambda w: gen(w, session={"budget": float("nan")}),
        (),
        (),
        (),
        raises=wb.ConfigError,
        after=no_runs,
        defect=3,
    ),
    Case(
        "#4 NaN in usage: priced unknown, run ends",
        then(query_with("SUCCEEDED", usage={"video_duration": float("nan"), "SR": 480}), gen),
        ("SUCCEEDED",),
        (NAN,),
        (True,),
        defect=4,
    ),
    Case(
        "#4 Infinity in usage",
        then(query_with("SUCCEEDED", usage={"video_duration": float("inf"), "SR": 480}), gen),
        ("SUCCEEDED",),
        (NAN,),
        (True,),
        defect=4,
    ),
    Case(
        "#4 lone surrogate in actual_prompt",
        then(query_with("SUCCEEDED", actual_prompt="a fox \udcff"), gen),
        *ok,
        defect=4,
    ),
    Case(
        "#4 lone surrogate in a FAILED message",
        then(query_with("FAILED", message="bad \ud800 input"), gen),
        ("FAILED",),
        (0.0,),
        (False,),
        raises=wb.TaskFailedError,
        defect=4,
    ),
    Case(
        "#4 key echoed in a FAILED message",
        then(query_with("FAILED", message=f"your key {TEST_API_KEY} is over quota"), gen),
        ("FAILED",),
        (0.0,),
        (False,),
        raises=wb.TaskFailedError,
        defect=4,
    ),
    Case("#4 key echoed in video_url", key_in_url, *ok, defect=4),
    Case(
        "#5 honestly short video is not verified",
        truncated_video,
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.DownloadError,
        defect=5,
    ),
    Case(
        "#6 2 GiB Content-Length refused before streaming",
        huge_length,
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.DownloadError,
        after=bytes_bounded(16 << 20),
        defect=6,
    ),
    Case(
        "#6 endless body stopped at the cap",
        endless_video,
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.DownloadError,
        after=bytes_bounded(128 << 20),
        defect=6,
    ),
    Case(
        "#7 dripping query bounded by the deadline",
        drip_query,
        ("PENDING",),
        (NAN,),
        (False,),
        raises=TimeoutError,
        defect=7,
    ),
    Case(
        "#7 dripping video bounded by the deadline",
        drip_video,
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.WanbookError,
        defect=7,
    ),
    *(
        Case(
            f"#8 billed {shown} s: cost unknown",
            then(query_with("SUCCEEDED", usage={"video_duration": seconds, "SR": 480}), gen),
            ("SUCCEEDED",),
            (NAN,),
            (True,),
            defect=8,
            warns="billed .* cannot be right",
        )
        for shown, seconds in (("-5", -5), ("0", 0), ("1e12", 1e12))
    ),
    Case(
        "#9 key with a newline refused, not shown",
        bad_key(TEST_API_KEY[:8] + "\n" + TEST_API_KEY[8:]),
        (),
        (),
        (),
        raises=wb.ConfigError,
        defect=9,
    ),
    Case(
        "#9 key with a NUL refused",
        bad_key(TEST_API_KEY + "\0"),
        (),
        (),
        (),
        raises=wb.ConfigError,
        defect=9,
    ),
    Case(
        "#9 non-ASCII key refused",
        bad_key(TEST_API_KEY + "é"),
        (),
        (),
        (),
        raises=wb.ConfigError,
        defect=9,
    ),
    Case(
        "#10 FAILED code/message escaped on the terminal",
        cli_failed_escapes,
        ("FAILED",),
        (0.0,),
        (False,),
        defect=10,
    ),
    Case(
        "#10 task id escaped on the terminal",
        cli_task_id_escapes,
        ("AMBIGUOUS",),
        (NAN,),
        (False,),
        defect=10,
    ),
    Case(
        "#11 surrogate prompt refused as bad input",
        lambda w: gen(w, prompt="cat \udcff"),
        (),
        (),
        (),
        raises=wb.ValidationError,
        after=no_runs,
        defect=11,
    ),
    Case("#11 CLI non-UTF-8 prompt: exit 2, one line", cli_non_utf8_prompt, (), (), (), defect=11),
    Case(
        "#11 200 kB task id: ambiguous, not stuck",
        giant_task_id,
        ("AMBIGUOUS",),
        (NAN,),
        (False,),
        raises=wb.AmbiguousCreateError,
        defect=11,
    ),
    Case("#11 image=/dev/zero read with a bound", dev_zero_image, (), (), (), defect=11),
    Case(
        "#12 log of a newer wanbook refused before sending",
        future_log,
        (),
        (),
        (),
        raises=wb.RunLogError,
        defect=12,
    ),
    Case("#13 UNKNOWN once is not final", unknown_once, *ok, defect=13),
    Case("#14 tags='foo' is one tag", tags_string, *ok, after=tags_one, defect=14),
    Case("#14 orphan .part files removed by resume", orphan_parts, (), (), (), defect=14),
    Case(
        "#14 resume fails a SUCCEEDED run left without video",
        succeeded_without_video,
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.ResumeError,
        defect=14,
    ),
    Case(
        "#14 40 MB prompt refused before sending",
        huge_prompt,
        (),
        (),
        (),
        raises=wb.ValidationError,
        defect=14,
    ),
    Case(
        "#14 public base: no download from loopback",
        public_base_redirect_to_loopback,
        ("SUCCEEDED",),
        (COST,),
        (False,),
        raises=wb.DownloadError,
        defect=14,
    ),
    Case("#14 exports leave signed URLs out", exports_without_urls, *ok, defect=14),
]


def w_default(body: dict[str, Any]) -> None:  # set per test by the fixture below
    raise AssertionError("unbound")


@pytest.fixture(autouse=True)
def _bind_default(world: World) -> Any:
    global w_default

    def made(body: dict[str, Any]) -> None:
        world.srv.default(
            "POST",
            "/api/v1/services/aigc/video-generation/video-synthesis",
            {},
            json.dumps(body).encode(),
        )

    w_default = made
    yield


def _param(case: Case) -> Any:
    marks = []
    if case.defect in OPEN or case.name in OPEN_14:
        marks.append(pytest.mark.xfail(strict=True, reason=f"issue 14 #{case.defect}"))
    return pytest.param(case, id=case.name, marks=marks)


def test_table_size() -> None:
    assert len(CASES) >= 40
    assert {c.defect for c in CASES} >= set(range(1, 15))


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile(case: Case, world: World, capfd: pytest.CaptureFixture[str]) -> None:
    error: BaseException | None = None
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            case.act(world)
        except Exception as exc:  # asserted below
            error = exc
    shown = [str(w.message) for w in seen]
    if case.warns is None:
        assert not shown, shown
    else:
        assert len(shown) == 1 and re.search(case.warns, shown[0]), shown
    if case.raises is None:
        if error is not None:
            raise error
    else:
        assert isinstance(error, case.raises), repr(error)
        assert not isinstance(error, AssertionError)
    out, err_text = capfd.readouterr()
    world.texts += [out, err_text]
    runs = check_end(world, case.statuses, case.costs, case.videos, error)
    assert not [p for p in left_files(world.home) if ".part" in p]
    if case.after is not None:
        case.after(world, runs)
