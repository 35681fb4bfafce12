"""Shared helpers for the emulator tests: a fake clock, condition waits, request bodies, probing."""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.conftest import TEST_API_KEY

T = TypeVar("T")

CREATE = "/services/aigc/video-generation/video-synthesis"
DEADLINE = 60.0  # generous: a loaded 2-core CI machine may render slowly


def wait_for(check: Callable[[], T], timeout: float = DEADLINE, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def auth(key: str = TEST_API_KEY, *, create: bool = True) -> dict[str, str]:
    h = {"Authorization": f"Bearer {key}"}
    if create:
        h["X-DashScope-Async"] = "enable"
    return h


def t2v(
    model: str = "wan2.1-t2v-turbo", prompt: str = "a red fox in the snow", **params: Any
) -> dict:
    params.setdefault("size", "832*480")
    return {"model": model, "input": {"prompt": prompt}, "parameters": params}


def i2v(model: str, img_url: str, prompt: str | None = None, **params: Any) -> dict:
    inp: dict[str, Any] = {"img_url": img_url}
    if prompt is not None:
        inp["prompt"] = prompt
    return {"model": model, "input": inp, "parameters": params}


def create(client: httpx.Client, base: str, body: dict, **headers: str) -> httpx.Response:
    return client.post(base + CREATE, json=body, headers={**auth(), **headers})


def create_id(client: httpx.Client, base: str, body: dict) -> str:
    r = create(client, base, body)
    assert r.status_code == 200, r.text
    return r.json()["output"]["task_id"]


def query(client: httpx.Client, base: str, task_id: str) -> dict:
    r = client.get(f"{base}/tasks/{task_id}", headers=auth(create=False))
    assert r.status_code == 200, r.text
    return r.json()


def wait_done(client: httpx.Client, base: str, task_id: str, timeout: float = DEADLINE) -> dict:
    """The query answer once the task has ended (SUCCEEDED, FAILED, CANCELED or UNKNOWN)."""

    def ended() -> dict | None:
        answer = query(client, base, task_id)
        done = answer["output"]["task_status"] not in ("PENDING", "RUNNING")
        return answer if done else None

    return wait_for(ended, timeout, f"task {task_id} to end")


def png_data_uri(width: int, height: int, seed: int = 0) -> str:
    """A structured RGB test picture (gradients and blocks) as a PNG data URI."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack(
        [x * 255 // width, y * 255 // height, (x + y) * 127 // (width + height)], axis=-1
    )
    for _ in range(6):
        x0, y0 = rng.integers(0, width - width // 4), rng.integers(0, height - height // 4)
        img[y0 : y0 + height // 5, x0 : x0 + width // 5] = rng.integers(0, 256, 3)
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def probe(data: bytes) -> dict[str, Any]:
    """What a person's player would see: codec, fps, size, frame count, duration, audio."""
    import av

    with av.open(io.BytesIO(data)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(video=0))
        return {
            "codec": v.codec_context.name,
            "fps": float(v.average_rate),
            "width": v.width,
            "height": v.height,
            "pix_fmt": v.codec_context.pix_fmt,
            "frames": frames,
            "duration": float(c.duration / 1_000_000) if c.duration else None,
            "audio": len(c.streams.audio),
        }


def frames(data: bytes, *indices: int) -> list[Any]:
    """Decoded RGB frames (numpy arrays) at ``indices``."""
    import av

    wanted, out = set(indices), {}
    with av.open(io.BytesIO(data)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if len(out) == len(wanted):
                break
    return [out[i] for i in indices]


class Referee:
    """What an emulator answered to creates (their HTTP statuses), and how many of its tasks were
    in flight at once: the account-wide tests and ``bench/account.py`` read it."""

    def __init__(self, emu: Any) -> None:
        self.service = emu.service
        self.answers: list[int] = []
        self._lock = threading.Lock()
        handle = self.service.handle

        def spy(method: str, path: str, *rest: Any) -> Any:
            reply = handle(method, path, *rest)
            if path.rstrip("/").endswith("/video-synthesis"):
                with self._lock:
                    self.answers.append(reply.status)
            return reply

        self.service.handle = spy

    def reset(self) -> None:
        """Forget the answers and the tasks: the next scenario starts with an idle account."""
        with self._lock:
            self.answers = []
        self.service.store._tasks.clear()

    def tasks(self) -> list[Any]:
        return list(self.service.store._tasks.values())

    def peak_in_flight(self) -> int:
        """The most tasks that were queued or running at one moment (by the emulator's clock)."""
        now = time.time()
        edges = []
        for t in self.tasks():
            edges += [(t.submit, 1), (t.end_time(now) or now, -1)]
        peak = busy = 0
        for _, step in sorted(edges):
            busy += step
            peak = max(peak, busy)
        return peak
