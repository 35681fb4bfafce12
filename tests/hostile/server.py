"""A scripted, hostile DashScope server on 127.0.0.1 for tests.

It speaks the task API wanbook uses — create (``POST …/video-synthesis`` with
``X-DashScope-Async: enable``), query (``GET /tasks/{id}``), list (``GET /tasks``) — and serves
video files. By default it is an honest, instant service: a create answers PENDING, the first
query SUCCEEDED with a video URL on this server and ``usage`` of 5 s at 480P, the list shows the
tasks it made (plus any ``foreign`` ones another client of the account made). Each test scripts
the answers it wants to be hostile with (``on_create``, ``on_query``, ``on_list``, ``on_file``),
each returning a :class:`Reply` (or None for the default).

Every request is recorded (``requests``) with the Authorization header replaced by a flag saying
whether it carried the test key, so tests can count creates and check where the key went.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

CREATE = "/api/v1/services/aigc/video-generation/video-synthesis"
UTC8 = timezone(timedelta(hours=8))


def service_time(when: float) -> str:
    """A task time as the service writes it (UTC+8, milliseconds)."""
    return datetime.fromtimestamp(when, UTC8).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


@dataclass
class Reply:
    """One scripted answer.

    ``body``: a dict (JSON; NaN and Infinity allowed, as a hostile server may send them), bytes or
    str. ``length`` overrides Content-Length (a lie); ``stream`` is an iterable of chunks sent
    close-delimited (no Content-Length); ``drip`` sends the body one byte every ``drip`` seconds;
    ``hold`` is an event waited on before answering; ``drop`` closes the connection unanswered.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None
    stream: Iterable[bytes] | None = None
    drip: float | None = None
    hold: threading.Event | None = None
    drop: bool = False


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    keyed: bool  # carried "Authorization: Bearer <the test key>"
    at: float


@dataclass
class FakeTask:
    task_id: str
    model: str
    prompt: str | None
    size: str | None
    created: float
    status: str = "SUCCEEDED"
    mine: bool = True  # made by a create this server received (False: another client's)


class Hostile:
    """The server. Use as a context manager; ``base_url`` ends in ``/api/v1``."""

    def __init__(self, *, key: str, video: bytes) -> None:
        self.key = key
        self.video = video
        self.requests: list[Seen] = []
        self.tasks: dict[str, FakeTask] = {}
        self.on_create: Callable[[dict[str, Any], int], Reply | None] | None = None
        self.on_query: Callable[[str, int], Reply | None] | None = None
        self.on_list: Callable[[dict[str, str]], Reply | None] | None = None
        self.on_file: Callable[[str, int], Reply | None] | None = None
        self.usage: dict[str, Any] = {"video_duration": 5, "SR": 480, "size": "832*480"}
        self.bytes_sent = 0  # body bytes of file answers written to sockets
        self._ids = itertools.count(1)
        self._queries: dict[str, int] = {}
        self._files: dict[str, int] = {}
        self._lock = threading.Lock()
        self.closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root + "/api/v1"

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    # ------------------------------------------------------------------ what was seen
    def creates(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "POST" and r.path == CREATE]

    def add_task(
        self,
        model: str,
        *,
        created: float | None = None,
        mine: bool = False,
        prompt: str | None = "another client's prompt",
        size: str = "832*480",
        status: str = "SUCCEEDED",
    ) -> FakeTask:
        """A task the list and query show (by default another client's)."""
        with self._lock:
            task_id = f"task-{next(self._ids):04d}"
            task = FakeTask(task_id, model, prompt, size, created or time.time(), status, mine)
            self.tasks[task_id] = task
        return task

    # ------------------------------------------------------------------ default answers
    def answer_of(self, task: FakeTask) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task_id": task.task_id,
            "task_status": task.status,
            "submit_time": service_time(task.created),
            "scheduled_time": service_time(task.created + 0.1),
            "end_time": service_time(task.created + 0.2),
            "orig_prompt": task.prompt,
        }
        if task.status == "SUCCEEDED":
            out["video_url"] = (
                f"{self.root}/files/{quote(task.task_id, safe='')}.mp4?Expires=1&Signature=sig"
            )
            return {"request_id": "req-q", "output": out, "usage": dict(self.usage)}
        if task.status == "FAILED":
            out |= {"code": "InternalError", "message": "it failed"}
        return {"request_id": "req-q", "output": out, "usage": None}

    def default(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        if method == "POST" and path == CREATE:
            data = json.loads(body)
            params = data.get("parameters") or {}
            task = self.add_task(
                data.get("model"),
                created=time.time(),
                mine=True,
                prompt=(data.get("input") or {}).get("prompt"),
                size=params.get("size"),
            )
            out = {"task_id": task.task_id, "task_status": "PENDING"}
            return Reply(body={"request_id": "req-c", "output": out})
        if method == "GET" and path.startswith("/api/v1/tasks/") and path != "/api/v1/tasks/":
            task_id = unquote(path.rsplit("/", 1)[1])
            task = self.tasks.get(task_id)
            if task is None:
                return Reply(
                    body={
                        "request_id": "req-u",
                        "output": {"task_id": task_id, "task_status": "UNKNOWN"},
                    }
                )
            return Reply(body=self.answer_of(task))
        if method == "GET" and path.rstrip("/") == "/api/v1/tasks":
            return Reply(body=self.list_answer(query))
        if method == "GET" and path.startswith("/files/"):
            return Reply(body=self.video, headers={"Content-Type": "video/mp4"})
        return Reply(404, {"code": "NotFound", "message": "no such path"})

    def list_answer(self, query: dict[str, str]) -> dict[str, Any]:
        def t(text: str | None) -> float | None:
            if not text:
                return None
            return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC8).timestamp()

        start, end = t(query.get("start_time")), t(query.get("end_time"))
        rows = [
            {
                "task_id": k.task_id,
                "status": k.status,
                "model_name": k.model,
                "gmt_create": int(k.created * 1000),
                "request_id": "req-x",
            }
            for k in sorted(self.tasks.values(), key=lambda k: k.created)
            if (not query.get("model_name") or query["model_name"] == k.model)
            and (start is None or k.created >= start)
            and (end is None or k.created <= end + 1)
        ]
        return {
            "request_id": "req-l",
            "data": rows,
            "total": len(rows),
            "total_page": 1,
            "page_no": 1,
            "page_size": max(10, len(rows)),
        }

    # ------------------------------------------------------------------ dispatch
    def reply(self, method: str, path: str, query: dict[str, str], body: bytes) -> Reply:
        script: Reply | None = None
        if method == "POST" and path == CREATE and self.on_create is not None:
            script = self.on_create(json.loads(body), len(self.creates()))
        elif path.startswith("/api/v1/tasks/") and path != "/api/v1/tasks/":
            task_id = unquote(path.rsplit("/", 1)[1])
            with self._lock:
                n = self._queries[task_id] = self._queries.get(task_id, 0) + 1
            if self.on_query is not None:
                script = self.on_query(task_id, n)
        elif path.rstrip("/") == "/api/v1/tasks" and self.on_list is not None:
            script = self.on_list(query)
        elif path.startswith("/files/") and self.on_file is not None:
            with self._lock:
                n = self._files[path] = self._files.get(path, 0) + 1
            script = self.on_file(path, n)
        return script if script is not None else self.default(method, path, query, body)


def _handler(server: Hostile) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization") or ""
            headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
            seen = Seen(
                method,
                parts.path,
                query,
                headers,
                body,
                auth == f"Bearer {server.key}",
                time.time(),
            )
            with server._lock:
                server.requests.append(seen)
            reply = server.reply(method, parts.path, query, body)
            if reply.hold is not None:
                while not reply.hold.wait(0.05):
                    if server.closing.is_set():
                        return
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(reply)

        def _send(self, reply: Reply) -> None:
            data = reply.body
            if isinstance(data, dict | list):
                data = json.dumps(data).encode()  # allow_nan: NaN/Infinity go out as such
                reply.headers.setdefault("Content-Type", "application/json")
            elif isinstance(data, str):
                data = data.encode("utf-8", "surrogatepass")
            data = data or b""
            self.send_response(reply.status)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            counted = self.path.startswith("/files/")
            try:
                if reply.stream is not None:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    for chunk in reply.stream:
                        if server.closing.is_set():
                            return
                        self.wfile.write(chunk)
                        if counted:
                            server.bytes_sent += len(chunk)
                    return
                self.send_header(
                    "Content-Length", str(reply.length if reply.length is not None else len(data))
                )
                if reply.length is not None and reply.length != len(data):
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if reply.drip:
                    for i in range(len(data)):
                        if server.closing.wait(reply.drip):
                            return
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                    return
                self.wfile.write(data)
                if counted:
                    server.bytes_sent += len(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

    return Handler


def make_video(frames: int = 150, fps: int = 30, size: tuple[int, int] = (160, 96)) -> bytes:
    """A real H.264 MP4 (moov first, so a cut copy still opens and decodes its first frames)."""
    import os
    import tempfile

    import av
    import numpy as np

    fd, name = tempfile.mkstemp(suffix=".mp4")  # faststart rewrites the file: a real one
    os.close(fd)
    with av.open(name, "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(frames):
            img = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            img[:, : (i % size[0])] = 40
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    try:
        with open(name, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(name)
