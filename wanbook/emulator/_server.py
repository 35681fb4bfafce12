"""The emulator's HTTP shell: a threaded stdlib server on loopback, and the :class:`Emulator` handle.

The handler only moves bytes: it reads the request, asks :meth:`Service.handle` for a Reply and
writes it (JSON, bytes, or a file with ``Range`` support). Keep-alive HTTP/1.1, like the service.
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from wanbook._spec.catalogue import catalogue
from wanbook.emulator._faults import Faults
from wanbook.emulator._protocol import error_body
from wanbook.emulator._scratch import make_scratch
from wanbook.emulator._service import HiddenKey, Reply, Service

__all__ = ["DEFAULT_TIME_SCALE", "Emulator"]

log = logging.getLogger("wanbook.emulator")

# At 1/60 a 5 s 480P task takes about a second (the real service: about a minute), a 15 s 1080P
# task about five seconds, and task ids and video URLs expire after 24 min instead of 24 h.
DEFAULT_TIME_SCALE = 1 / 60
MAX_BODY = 32 * 1024 * 1024  # a 20 MB image as base64 fits; more is answered 413
MAX_UPLOAD = 101 * 1024 * 1024
COPY_CHUNK = 256 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    service: Service
    log_requests: bool


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wanbook-emulator"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if self.server.log_requests:
            sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")

    def _read_body(self, path: str) -> bytes | None:
        """The request body, or None if it is too large (answered 413 by the caller)."""
        limit = MAX_UPLOAD if path.rstrip("/") == "/oss" else MAX_BODY
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        try:
            body = self._read_body(split.path)
        except (ValueError, OSError):
            self.close_connection = True
            self._send(Reply(400, error_body("InvalidParameter", "Malformed request body.")))
            return
        if body is None:
            self.close_connection = True
            self._send(
                Reply(413, error_body("BadRequest.TooLarge", "The request body is too large."))
            )
            return
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        try:
            reply = self.server.service.handle(
                self.command,
                split.path,
                parse_qs(split.query, keep_blank_values=True),
                cast(Mapping[str, str], self.headers),  # a Message: read-only, case-insensitive
                body,
                f"http://{host}",
            )
        except Exception:  # a bug in the emulator must still answer like a server would
            log.exception("emulator error on %s %s", self.command, split.path)
            reply = Reply(500, error_body("InternalError", "An internal error has occured."))
        if reply.drop:
            self.close_connection = True  # the task exists; the client never hears of it
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.file is not None:
            self._send_file(reply)
            return
        if isinstance(reply.body, bytes | bytearray):
            data = bytes(reply.body)
        else:
            import json

            data = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        ctype = reply.content_type
        if ctype == "application/json":
            ctype = "application/json; charset=utf-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_file(self, reply: Reply) -> None:
        assert reply.file is not None
        try:
            f = reply.file.open("rb")
        except OSError:
            self._send(Reply(404, b"", content_type="application/xml"))
            return
        with f:
            size = reply.file.stat().st_size
            start, end = 0, size - 1
            status = 200
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes=") and "," not in rng:
                first, _, last = rng[len("bytes=") :].partition("-")
                try:
                    if first:
                        start, end = int(first), min(int(last) if last else size - 1, size - 1)
                    else:
                        start, end = max(0, size - int(last)), size - 1
                except ValueError:
                    start, end = 0, size - 1
                else:
                    status = 206
                if status == 206 and start > end:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            self.send_response(status)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            f.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = f.read(min(COPY_CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


def _hide(key: Any) -> HiddenKey | None:
    """The key to require, from a str or a Secret-like object, kept out of every repr."""
    if key is None:
        return None
    value = key.reveal() if hasattr(key, "reveal") else key
    if not isinstance(value, str) or not value.strip():
        raise ValueError("api_key must be a non-empty string (or None to accept any key)")
    return HiddenKey(value.strip())


class Emulator:
    """A DashScope-compatible Wan video service on loopback, rendering real MP4s.

    Use it as a context manager (it starts on a free port in a background thread)::

        with Emulator() as emu:
            httpx.post(emu.base_url + "/services/aigc/video-generation/video-synthesis", ...)

    ``time_scale`` scales every duration of the real service (queue, render, the 24 h task and URL
    lifetimes); ``rate_limits=False`` switches off the per-family 429s; ``faults`` injects
    failures; ``api_key`` makes the emulator require that key (else any non-empty key works);
    ``clock`` (epoch seconds) replaces the wall clock, for tests; ``query_rate`` applies the
    vendor's shared query/list/cancel limit (20/s) when set; ``files_dir`` keeps the videos (a
    temporary directory, removed at stop, by default; see ``_scratch`` for those left by killed
    processes).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = DEFAULT_TIME_SCALE,
        rate_limits: bool = True,
        faults: Faults | None = None,
        region: str = "intl",
        api_key: Any = None,
        clock: Callable[[], float] | None = None,
        files_dir: str | Path | None = None,
        query_rate: int | None = None,
        render_workers: int = 2,
        log_requests: bool = False,
    ) -> None:
        if not (
            isinstance(time_scale, int | float) and math.isfinite(time_scale) and time_scale > 0
        ):
            raise ValueError(
                f"time_scale {time_scale!r} must be a positive number (1.0 = real time)"
            )
        if region not in catalogue().regions:
            raise ValueError(
                f"region {region!r} is unknown; choose one of {', '.join(catalogue().regions)}"
            )
        if faults is not None and not isinstance(faults, Faults):
            raise TypeError("faults must be a wanbook.emulator.Faults")
        if query_rate is not None and query_rate < 1:
            raise ValueError(f"query_rate {query_rate!r} must be at least 1 (or None for no limit)")
        self.host, self._port = host, port
        self.time_scale, self.rate_limits, self.region = float(time_scale), rate_limits, region
        self._faults = faults or Faults()
        self._api_key = _hide(api_key)
        self._clock = clock or time.time
        self._files_dir = Path(files_dir) if files_dir is not None else None
        self._query_rate, self._workers, self._log = query_rate, render_workers, log_requests
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.service: Service | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._server else "stopped"
        return f"Emulator({state}, time_scale={self.time_scale:g}, region={self.region!r})"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The server's root, ``http://HOST:PORT``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL, ``http://HOST:PORT/api/v1``, as a client or the vendor SDK wants it."""
        return self.url + "/api/v1"

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        """Switch faults on a running emulator; the seeded plan restarts from the beginning."""
        self._faults = faults
        if self.service is not None:
            self.service.set_faults(faults)

    def start(self) -> Emulator:
        """Bind and serve in a background thread. Returns self."""
        if self._server is not None:
            return self
        if self._files_dir is None:
            self._tmp = make_scratch()  # and removes those left by processes now gone
            files = Path(self._tmp.name)
        else:
            files = self._files_dir
            files.mkdir(parents=True, exist_ok=True)
        self.service = Service(
            files_dir=files,
            clock=self._clock,
            time_scale=self.time_scale,
            rate_limits=self.rate_limits,
            faults=self._faults,
            region=self.region,
            api_key=self._api_key,
            query_rate=self._query_rate,
            render_workers=self._workers,
        )
        try:
            server = _Server((self.host, self._port), _Handler)
        except OSError:
            self._cleanup()
            raise
        server.service, server.log_requests = self.service, self._log
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"wanbook-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wait for renders in progress, and remove the temporary files."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._cleanup()

    def _cleanup(self) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
