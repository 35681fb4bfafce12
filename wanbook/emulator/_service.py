"""The emulated service, free of sockets: a request (method, path, headers, body) in, a Reply out.

This is where the service's rules live (docs/dashscope-api.md §1-§4): authentication, the async header,
rate limits, fault injection, task creation, query, list, cancel, and the object-store side
(video files and SDK uploads). What a create body must be, and its image and audio, are
checked by ``_intake``. ``_server`` only moves bytes between a socket and :meth:`Service.handle`.
"""

from __future__ import annotations

import hmac
import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wanbook._spec.catalogue import ModelSpec, i2v_output_size
from wanbook._spec.prices import billed_seconds
from wanbook.emulator._clips import VideoSource
from wanbook.emulator._faults import FaultPlan, Faults
from wanbook.emulator._fetch import Rejected
from wanbook.emulator._intake import Intake, intake
from wanbook.emulator._limits import SlidingWindow
from wanbook.emulator._protocol import (
    ERROR_MESSAGES,
    actual_prompt,
    error_body,
    new_id,
    oss_error_xml,
    usage_for,
)
from wanbook.emulator._render import Renderer, RenderJob
from wanbook.emulator._tasks import DAY, Task, TaskStore, parse_list_query, timing, total_pages
from wanbook.emulator._uploads import UploadStore

__all__ = ["HiddenKey", "Reply", "Service"]

MSG = ERROR_MESSAGES
API = "/api/v1"
CREATE_PATH = f"{API}/services/aigc/video-generation/video-synthesis"
#: Every create path (wan2.1-2.7 on video-generation, the kf2v models on image2video).
CREATE_PATHS = frozenset({CREATE_PATH, f"{API}/services/aigc/image2video/video-synthesis"})
PURGE_EVERY = 1.0  # seconds of clock between sweeps of expired tasks


def _output_size(asked: Intake) -> tuple[int, int]:
    """The output's W×H (docs/dashscope-wan27.md §9): the size asked for (t2v's size; the ratio table), or
    the first frame's, else the clip's, aspect scaled to the tier's pixels."""
    res, spec = asked.resolved, asked.spec
    if res.size is not None:
        w, h = (int(v) for v in res.size.split("*"))
        return w, h
    follow = asked.image or asked.clip
    if follow is not None:
        return i2v_output_size(follow.width, follow.height, res.tier)
    w, h = (int(v) for v in spec.default.split("*"))  # a t2v model's default size
    return w, h


def _lengths(asked: Intake) -> tuple[float, float]:
    """(output seconds, input seconds reported in usage) of a task (docs/dashscope-wan27.md §5.4-§7, §10)."""
    res, spec, clip = asked.resolved, asked.spec, asked.clip
    if spec.kind == "videoedit" and clip is not None:
        out = min(float(res.duration), clip.seconds) if res.duration else clip.seconds
        return round(out, 2), round(out, 2)
    if clip is not None:  # a continuation: its length includes the clip, whose length is reported
        return float(res.duration), float(round(clip.seconds))
    if spec.billed_input == "references":
        videos = [r for r in asked.references if isinstance(r, VideoSource)]
        fields = [m.field for m in res.media if m.type == "reference_video"]
        lengths = {f: v.seconds for f, v in zip(fields, videos, strict=False)}
        billed = billed_seconds(spec, res.duration, res.media, lengths) or float(res.duration)
        return float(res.duration), round(billed - res.duration, 2)
    return float(res.duration), 0.0


def _keeps_clip_sound(asked: Intake) -> bool:
    """Whether the clip's own sound is kept: a continuation keeps its clip's (wanbook's choice,
    not documented); an edit with ``origin`` keeps it, with ``auto`` unless the prompt asks for
    new sound (the model decides from the prompt, docs/dashscope-wan27.md §7)."""
    if asked.spec.kind != "videoedit":
        return True
    if asked.request.audio_setting == "origin":
        return True
    prompt = (asked.request.prompt or "").lower()
    return not any(word in prompt for word in _SOUND_WORDS)


_SOUND_WORDS = ("music", "sound", "audio", "voice", "song", "配乐", "音乐", "声音", "音效")


def _first(items: tuple[Any, ...]) -> Any:
    return items[0] if items else None


class HiddenKey:
    """The key an emulator requires. Never shown: its repr is masked, only ``matches`` uses it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.encode()

    def matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self._value)

    def __repr__(self) -> str:
        return "HiddenKey('********')"

    __str__ = __repr__


@dataclass
class Reply:
    """What to answer: a status with a JSON body, raw bytes, a file, or nothing at all."""

    status: int
    body: Any = None  # dict (JSON) or bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None  # streamed instead of ``body``
    drop: bool = False  # close the connection without any response


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, error_body(code, message))


def _oss_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, oss_error_xml(code, message, new_id()), content_type="application/xml")


class Service:
    """One emulated DashScope account in one region."""

    def __init__(
        self,
        *,
        files_dir: Path,
        clock: Callable[[], float],
        time_scale: float,
        rate_limits: bool = True,
        faults: Faults | None = None,
        region: str = "intl",
        api_key: HiddenKey | None = None,
        query_rate: int | None = None,
        render_workers: int = 2,
    ) -> None:
        self.clock = clock
        self.time_scale = time_scale
        self.rate_limits = rate_limits
        self.region = region
        self._api_key = api_key
        self.plan = FaultPlan(faults)
        self.store = TaskStore()
        self.uploads = UploadStore()
        self.renderer = Renderer(files_dir, clock, render_workers)
        self._windows: dict[str, SlidingWindow] = {}
        self._query_window = SlidingWindow(query_rate) if query_rate else None
        self._create_lock = threading.Lock()
        self._last_purge = float("-inf")

    # ------------------------------------------------------------------ routing
    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        root: str,
    ) -> Reply:
        """Answer one request. ``headers`` must be case-insensitive; ``root`` is ``http://host:port``."""
        now = self.clock()
        self._purge(now)
        path = path.rstrip("/") or "/"
        parts = path.split("/")
        if path.startswith("/files/"):
            return self._file(method, path[len("/files/") :], query, now)
        if path == "/oss":
            return self._upload(method, headers, body)
        if path == "/":
            return Reply(
                200,
                b"wanbook emulator: a DashScope-compatible Wan video API at /api/v1\n",
                content_type="text/plain; charset=utf-8",
            )
        if not (path == API or path.startswith(API + "/")):
            return _error(404, "NotFound", f"No such path: {path}")
        route = self._route(method, path, parts)
        if route is None:
            return _error(404, "NotFound", f"No such path: {path}")
        want, handler = route
        if method != want and not (method == "HEAD" and want == "GET"):
            return _error(405, "MethodNotAllowed", f"{method} is not allowed on {path}")
        denied = self._authenticate(headers)
        if denied is not None:
            return denied
        if self.plan.request_error():
            return _error(500, "InternalError", MSG["internal"])
        limited = self._query_window is not None and path not in CREATE_PATHS
        if limited and not self._query_window.acquire(now):  # type: ignore[union-attr]
            return _error(429, "Throttling.RateQuota", MSG["rate"])
        return handler(now=now, query=query, headers=headers, body=body, root=root, parts=parts)

    def _route(
        self, method: str, path: str, parts: list[str]
    ) -> tuple[str, Callable[..., Reply]] | None:
        if path in CREATE_PATHS:
            return "POST", self._create
        if path == f"{API}/tasks":
            return "GET", self._list
        if path == f"{API}/uploads":
            return "GET", self._policy
        if len(parts) == 5 and path.startswith(f"{API}/tasks/"):
            return "GET", self._query
        if len(parts) == 6 and path.startswith(f"{API}/tasks/") and parts[5] == "cancel":
            return "POST", self._cancel
        return None

    def _authenticate(self, headers: Mapping[str, str]) -> Reply | None:
        auth = headers.get("Authorization") or ""
        scheme, _, key = auth.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return _error(401, "InvalidApiKey", MSG["no_key"])
        if self._api_key is not None and not self._api_key.matches(key):
            return _error(401, "InvalidApiKey", MSG["bad_key"])
        return None

    # ------------------------------------------------------------------ create
    def _create(
        self, *, now: float, headers: Mapping[str, str], body: bytes, parts: list[str], **_: Any
    ) -> Reply:
        if (headers.get("X-DashScope-Async") or "").strip().lower() != "enable":
            return _error(403, "AccessDenied", MSG["sync"])
        try:
            path = "/".join(parts)
            asked = intake(body, headers, self.region, self.uploads, path)  # may fetch media
        except Rejected as exc:
            return _error(exc.status, exc.code, exc.message)
        injected = self.plan.create_error()
        if injected == "unavailable":
            return _error(503, "ModelUnavailable", MSG["unavailable"])
        if injected == "throttle":
            return _error(429, "Throttling", MSG["throttle"])
        with self._create_lock:
            now = self.clock()  # after any media fetch: admission sees arrival order
            refused = self._admit(asked.spec, now)
            if refused is not None:
                return refused
            task = self._new_task(asked, now)
            self.store.add(task)
        if self.plan.lose_response():
            return Reply(0, drop=True)
        return Reply(
            200,
            {
                "output": {"task_status": "PENDING", "task_id": task.task_id},
                "request_id": task.request_id,
            },
        )

    def _admit(self, spec: ModelSpec, now: float) -> Reply | None:
        """Apply the rate limits of the model's rate group (docs/dashscope-api.md §4.1, per account: the
        families of a group share them, as the catalogue says); a Reply if the create is refused."""
        if not self.rate_limits:
            return None
        group = spec.rate_group or spec.family
        per_second, in_flight = spec.rate_limits(self.region)
        window = self._windows.setdefault(group, SlidingWindow(spec.rate_per_second))
        if not window.acquire(now, per_second):
            return _error(
                429,
                "Throttling.RateQuota",
                f"{MSG['rate']} (more than {per_second} task submissions per second "
                f"for {group} models)",
            )
        if self.store.in_flight(group, now) >= in_flight:
            window.release_last()
            return _error(
                429,
                "Throttling.RateQuota",
                f"{MSG['rate']} (more than {in_flight} {group} tasks in progress at once)",
            )
        return None

    def _new_task(self, asked: Intake, now: float) -> Task:
        spec, req, res, image = asked.spec, asked.request, asked.resolved, asked.image
        task_id = new_id()
        fate = self.plan.task_fate()
        seconds, input_seconds = _lengths(asked)
        queue, run = timing(res.tier, max(1, round(seconds)), task_id, self.time_scale, fate.slow)
        prompt = (req.prompt or "")[: spec.prompt_limit] if req.template is None else ""
        seed = res.seed if res.seed is not None else random.SystemRandom().randrange(2**31)
        variation = 1 + int(task_id.replace("-", ""), 16) % 999 if res.prompt_extend else 0
        w, h = _output_size(asked)
        artifact = None
        if fate.fail is None:
            clip = asked.clip
            job = RenderJob(
                kind=spec.kind,
                model=spec.name,
                width=w,
                height=h,
                duration=seconds,
                prompt=prompt,
                seed=seed,
                variation=variation,
                watermark=res.watermark,
                sound=res.sound,
                image=image,
                audio=asked.audio if asked.audio is not None else _first(asked.voices),
                last=asked.last,
                clip=clip,
                clip_sound=clip is not None and _keeps_clip_sound(asked),
                references=asked.references,
            )
            artifact = self.renderer.submit(job)
        rewritten = None
        rewrites = res.prompt_extend and spec.rewrite_visible
        if rewrites and req.template is None:  # an effect ignores the prompt: nothing to rewrite
            rewritten = actual_prompt(prompt, seed, from_image=not spec.is_t2v)
        return Task(
            task_id=task_id,
            request_id=new_id(),
            model=asked.model,
            spec=spec,
            region=self.region,
            submit=now,
            queue=queue,
            run=run,
            task_ttl=DAY * self.time_scale,
            url_ttl=DAY * self.time_scale,
            orig_prompt=prompt,
            actual_prompt=rewritten,
            usage=usage_for(
                spec,
                duration=seconds,
                tier=res.tier,
                size=f"{w}*{h}",
                sound=res.sound,
                input_seconds=input_seconds,
                ratio=res.ratio,
            ),
            fail=fate.fail,
            artifact=artifact,
        )

    # ------------------------------------------------------------------ query, list, cancel
    def _query(self, *, now: float, parts: list[str], root: str, **_: Any) -> Reply:
        task_id = parts[4]
        request_id = new_id()
        with self.store.lock:
            task = self.store.get(task_id)
            if task is None:
                return Reply(
                    200,
                    {
                        "request_id": request_id,
                        "output": {"task_id": task_id, "task_status": "UNKNOWN"},
                    },
                )
            expires = task.url_expires()
            url = f"{root}/files/{task_id}.mp4?Expires={math.ceil(expires or 0)}"
            output, usage = task.output(now, url)
        answer: dict[str, Any] = {"request_id": request_id, "output": output}
        if usage is not None:
            answer["usage"] = usage
        return Reply(200, answer)

    def _list(self, *, now: float, query: Mapping[str, list[str]], **_: Any) -> Reply:
        def arg(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values and values[-1] != "" else None

        try:
            q = parse_list_query(arg, now)
        except ValueError as exc:
            return _error(400, "InvalidParameter", str(exc))
        data, total = self.store.query(q, now)
        return Reply(
            200,
            {
                "request_id": new_id(),
                "data": data,
                "total": total,
                "total_page": total_pages(total, q.page_size),
                "page_no": q.page_no,
                "page_size": q.page_size,
            },
        )

    def _cancel(self, *, now: float, parts: list[str], **_: Any) -> Reply:
        if not self.store.cancel(parts[4], now):
            return _error(400, "UnsupportedOperation", MSG["cancel"])
        return Reply(200, {"request_id": new_id()})

    # ------------------------------------------------------------------ object store
    def _policy(self, *, query: Mapping[str, list[str]], root: str, **_: Any) -> Reply:
        if (query.get("action") or [""])[-1] != "getPolicy":
            return _error(400, "InvalidParameter", "action must be getPolicy")
        return Reply(200, {"request_id": new_id(), "data": self.uploads.policy(root)})

    def _upload(self, method: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if method != "POST":
            return _oss_error(405, "MethodNotAllowed", "The specified method is not allowed.")
        try:
            self.uploads.receive(headers.get("Content-Type") or "", body)
        except ValueError as exc:
            return _oss_error(400, "InvalidArgument", str(exc))
        return Reply(200, b"", content_type="text/plain")

    def _file(self, method: str, name: str, query: Mapping[str, list[str]], now: float) -> Reply:
        """A video, as a signed OSS link serves it: 403 once ``Expires`` has passed, like OSS."""
        if method not in ("GET", "HEAD"):
            return _oss_error(405, "MethodNotAllowed", "The specified method is not allowed.")
        signed = (query.get("Expires") or [""])[-1]
        if signed.isdigit() and now >= int(signed):
            return _oss_error(403, "AccessDenied", "Request has expired.")
        task = self.store.get(name[: -len(".mp4")]) if name.endswith(".mp4") else None
        with self.store.lock:
            done = task.success_time() if task is not None else None
            expires = task.url_expires() if task is not None else None
            artifact = task.artifact if task is not None else None
        if done is None or expires is None or artifact is None or now < done:
            return _oss_error(404, "NoSuchKey", "The specified key does not exist.")
        if now >= expires:
            return _oss_error(403, "AccessDenied", "Request has expired.")
        return Reply(200, content_type="video/mp4", file=artifact.path)

    # ------------------------------------------------------------------ housekeeping
    def set_faults(self, faults: Faults) -> None:
        self.plan.reset(faults)

    def _purge(self, now: float) -> None:
        if now - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = now
        if self.store.purge(now):
            self.renderer.discard(self.store.artifacts_in_use())

    def close(self) -> None:
        self.renderer.shutdown()
