"""Rendering: real H.264 MP4 files (30 fps, yuv420p, AAC sound when the model makes sound).

Each video is described by a :class:`RenderJob`; its hash names the file, so identical requests
share one render (a second task with the same inputs reuses the file, or waits for the render in
progress). Custom audio enters the hash by its content, so new audio at an old URL renders anew.
With custom audio the sound track is that audio (``_audio``) and the picture follows its
loudness; otherwise the model's automatic sound, if any, is synthesized. Renders run in a small
thread pool; PyAV, numpy and Pillow are imported there, never when the emulator is imported.

Output is byte-identical for identical jobs: x264 runs with a fixed thread count and no
timestamps or varying metadata are written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from wanbook.emulator._audio import AUDIO_RATE, AudioSource, automatic_sound, custom_sound, levels
from wanbook.emulator._clips import VideoSource, clip_frames, clip_planes, clip_sound
from wanbook.emulator._media import ImageSource, decode_rgb
from wanbook.emulator._tasks import Artifact

__all__ = ["FPS", "Aborted", "RenderJob", "Renderer", "encode"]

log = logging.getLogger("wanbook.emulator")
T = TypeVar("T")

FPS = 30
AUDIO_CHUNK = 1024  # samples per AAC frame
RENDER_VERSION = 2  # bump when the picture or sound changes, so old cache files are not reused
X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency", "crf": "26"}
X264_THREADS = 1  # fixed: x264 output depends on its thread count
PREFETCH = 6  # frames drawn ahead of the encoder


@dataclass(frozen=True)
class RenderJob:
    """Everything that decides the pixels and samples of one video."""

    kind: str  # "t2v" | "i2v" | "r2v" | "videoedit" | "kf2v"
    model: str  # the model's own name: two models given the same seed do not make the same video
    width: int
    height: int
    duration: float  # seconds (whole, except an edit keeping its input's length); × 30 frames
    prompt: str
    seed: int
    variation: int  # 0 = none; otherwise a per-task change (prompt_extend rewrites differ)
    watermark: bool
    sound: bool
    image: ImageSource | None = None
    audio: AudioSource | None = None  # custom audio; used only when ``sound``
    last: ImageSource | None = None  # a last frame the video ends on
    clip: VideoSource | None = None  # a clip the video continues, or the video it edits
    clip_sound: bool = False  # keep the clip's own sound (a continuation's clip; edit "origin")
    references: tuple[ImageSource | VideoSource, ...] = ()  # shown as thumbnails

    @property
    def n_frames(self) -> int:
        return max(1, round(self.duration * FPS))

    @property
    def look(self) -> int:
        """The seed the picture and sound are drawn from: the request's seed, told apart by model."""
        digest = hashlib.sha256(f"{self.model}\x00{self.seed}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def key(self) -> str:
        fields = asdict(self)
        fields["image"] = self.image.digest if self.image is not None else None
        if self.audio is None:
            del fields["audio"]  # keys of videos without custom audio stay as they were
        else:
            fields["audio"] = self.audio.digest
        for name in ("last", "clip", "clip_sound", "references"):
            value = getattr(self, name)
            if not value:
                del fields[name]  # keys of videos without input media stay as they were
            elif name == "references":
                fields[name] = [r.digest for r in value]
            elif name != "clip_sound":
                fields[name] = value.digest
        fields["version"] = RENDER_VERSION
        blob = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:32]


def _sound(job: RenderJob) -> Any:
    """The sound track as ``(channels, duration × 48000)`` float32, or None for a silent video.

    A clip's own sound is kept where asked (an edit with ``audio_setting: origin``; the clip part
    of a continuation, then the generated sound); a driving or custom audio is the track."""
    import numpy as np

    if not job.sound:
        return None
    if job.audio is not None:
        return custom_sound(job.audio, job.duration)
    made = automatic_sound(job.look, job.variation, job.prompt, job.duration)
    if job.clip is None or not job.clip_sound:
        return made
    own = clip_sound(job.clip, min(job.duration, job.clip.seconds), AUDIO_RATE)
    if own is None:
        return made if job.kind != "videoedit" else np.zeros_like(made)  # origin: its silence
    out = np.zeros((max(own.shape[0], made.shape[0]), made.shape[1]), np.float32)
    out[:] = made
    out[:, : own.shape[1]] = own
    return out


def _scene(job: RenderJob, loudness: Any = None) -> Any:
    """The picture; with ``loudness`` (one level per frame) it follows the custom audio."""
    from wanbook.emulator._compose import ClipScene, EditScene, FadeScene, Thumbnails, WithExtras
    from wanbook.emulator._scene import ImageScene, TextScene

    n = job.n_frames
    w, h = job.width, job.height
    thumbs = [Thumbnails([_thumbnail(r) for r in job.references], w, h)] if job.references else []
    if job.clip is not None and job.kind == "videoedit":
        marks = [_Mark(w, h)] if job.watermark else []
        return EditScene(clip_planes(job.clip, w, h, FPS), job.prompt, job.look, [*thumbs, *marks])
    last = decode_rgb(job.last, w, h) if job.last is not None else None

    def from_image(rgb: Any, frames: int) -> Any:
        scene = ImageScene(rgb, job.look, job.variation, job.watermark, frames, FPS, loudness)
        return FadeScene(scene, last, frames) if last is not None else scene

    if job.clip is not None:  # a continuation: the clip, then a scene from its final frame
        n_clip = min(n, round(job.clip.seconds * FPS))
        frames = clip_planes(job.clip, w, h, FPS)
        scene: Any = ClipScene(frames, n_clip, lambda rgb: from_image(rgb, max(1, n - n_clip)))
    elif job.image is not None:
        scene = from_image(decode_rgb(job.image, w, h), n)
    else:
        scene = TextScene(w, h, job.prompt, job.look, job.variation, job.watermark, FPS, loudness)
    return WithExtras(scene, thumbs) if thumbs else scene


def _thumbnail(source: ImageSource | VideoSource) -> Any:
    """A reference as a small RGB picture: the image, or a video's first frame."""
    if isinstance(source, VideoSource):
        return next(clip_frames(source, 160, 160, FPS))
    return decode_rgb(source, 160, 160)


class _Mark:
    """The "AI Generated" mark as an overlay (for scenes that do not draw it themselves)."""

    def __init__(self, width: int, height: int) -> None:
        from wanbook.emulator._overlay import watermark_sprite

        self.mark = watermark_sprite(width, height)

    def draw(self, planes: Any) -> None:
        if self.mark is not None:
            sprite, x, y = self.mark
            sprite.blit(planes, x, y)


def _video_frames(
    make_scene: Callable[[], Any], n_frames: int, width: int, height: int
) -> Iterator[Any]:
    """The frames, drawn straight into a ring of buffers that PyAV wraps without copying.

    The scene is built here, in the helper thread of :class:`_Prefetch`, so its set-up (image
    decode, colour conversion, landscape) overlaps the sound synthesis in the encoding thread.
    A buffer is drawn into again only ``len(ring)`` frames later; by then the frame that used it
    has been encoded (x264 copies its input when it is handed over) — see :class:`_Prefetch`.
    """
    import av

    from wanbook.emulator._yuv import Planes

    scene = make_scene()
    ring = [Planes(width, height) for _ in range(PREFETCH + 3)]
    for i in range(n_frames):
        buf = scene.frame(i, ring[i % len(ring)])
        frame = av.VideoFrame.from_numpy_buffer(buf, format="yuv420p")
        frame.pts = i
        yield frame


class _Prefetch(Generic[T]):
    """Iterate ``items`` produced by a helper thread a few ahead: synthesis overlaps encoding.

    The thread starts at construction (so work before the first frame overlaps too); always
    :meth:`close` it. At most ``depth + 2`` items are alive at once: the one the caller holds,
    ``depth`` queued and the one being produced, which is queued only once the caller has
    taken another.

    numpy and x264 release the GIL, so on two cores drawing frame n+1 costs little while frame
    n is encoded. The order is kept, so the output stays byte-identical.
    """

    def __init__(self, items: Iterator[T], depth: int = PREFETCH) -> None:
        self._box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._quit = threading.Event()
        self._items = items
        self._worker = threading.Thread(target=self._produce, name="wanbook-frames", daemon=True)
        self._worker.start()

    def _put(self, kind: str, value: Any) -> bool:
        while not self._quit.is_set():
            try:
                self._box.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put("item", item):
                    return
            self._put("end", None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put("error", exc)

    def __iter__(self) -> Iterator[T]:
        while True:
            kind, value = self._box.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stop the helper thread (it drops what it has not handed over) and wait for it."""
        self._quit.set()
        self._worker.join()


class Aborted(Exception):
    """The emulator is stopping: the render was abandoned and no file was written."""


def encode(job: RenderJob, path: Path, stop: Callable[[], bool] = lambda: False) -> None:
    """Render ``job`` into ``path`` (written to a temporary name, then renamed into place).

    ``stop`` is polled once per frame; when it returns True the render is abandoned (Aborted).
    """
    import av
    import numpy as np

    n_frames = job.n_frames
    follow = job.sound and job.audio is not None  # the picture follows the custom audio
    samples = _sound(job) if follow else None
    loudness = levels(samples, n_frames, FPS) if follow else None
    frames = _Prefetch(
        _video_frames(lambda: _scene(job, loudness), n_frames, job.width, job.height)
    )
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.part")
    try:
        if not follow:
            samples = _sound(job)  # while the helper thread sets the scene up
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = out.add_stream("libx264", rate=FPS)
            video.width, video.height, video.pix_fmt = job.width, job.height, "yuv420p"
            video.options = dict(X264_OPTIONS)
            video.codec_context.thread_count = X264_THREADS
            audio = None
            if samples is not None:
                layout = "mono" if samples.shape[0] == 1 else "stereo"
                audio = out.add_stream("aac", rate=AUDIO_RATE, layout=layout)
                audio.bit_rate = 96000 * samples.shape[0]
            total = samples.shape[1] if samples is not None else 0
            sent = 0  # audio samples encoded so far
            chunk = AUDIO_CHUNK
            for i, frame in enumerate(frames):
                if stop():
                    raise Aborted(path.name)
                out.mux(video.encode(frame))
                if audio is not None and samples is not None:
                    upto = min(total, (i + 1) * AUDIO_RATE // FPS)
                    while sent + chunk <= upto or (i == n_frames - 1 and sent < total):
                        part = samples[:, sent : sent + chunk]
                        af = av.AudioFrame.from_ndarray(
                            np.ascontiguousarray(part), format="fltp", layout=layout
                        )
                        af.sample_rate, af.pts = AUDIO_RATE, sent
                        out.mux(audio.encode(af))
                        sent += part.shape[1]
            out.mux(video.encode(None))
            if audio is not None:
                out.mux(audio.encode(None))
        os.replace(tmp, path)
    finally:
        frames.close()
        if tmp.exists():
            tmp.unlink()


class Renderer:
    """Renders jobs in worker threads into ``directory``; one file per distinct job."""

    def __init__(self, directory: Path, clock: Callable[[], float], workers: int = 2) -> None:
        self.directory = directory
        self._clock = clock
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, workers), thread_name_prefix="wanbook-render"
        )
        self._artifacts: dict[str, Artifact] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def submit(self, job: RenderJob) -> Artifact:
        """The artifact for ``job``: already there, being rendered, or queued now."""
        key = job.key()
        with self._lock:
            art = self._artifacts.get(key)
            if art is not None and art.error is None:
                return art
            art = Artifact(key=key, path=self.directory / f"{key}.mp4")
            self._artifacts[key] = art
            if art.path.exists():
                art.ready_at = self._clock()
                return art
            self._pool.submit(self._run, job, art)
            return art

    def _run(self, job: RenderJob, art: Artifact) -> None:
        try:
            encode(job, art.path, self._stopping.is_set)
        except Aborted:
            art.error = "the emulator stopped before the video was rendered"
            return
        except Exception as exc:  # the task reports it as FAILED InternalError
            log.exception("rendering %s failed", art.key)
            art.error = f"{type(exc).__name__}: {exc}"
            return
        art.ready_at = self._clock()

    def discard(self, in_use: set[str]) -> None:
        """Delete finished files no task refers to any more (their URLs have expired)."""
        with self._lock:
            for key in [k for k in self._artifacts if k not in in_use]:
                art = self._artifacts[key]
                if art.ready_at is None and art.error is None:
                    continue  # still rendering
                del self._artifacts[key]
                art.path.unlink(missing_ok=True)

    def shutdown(self) -> None:
        """Drop queued renders, abandon running ones, and wait for the workers to finish."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
