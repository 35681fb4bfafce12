"""Emulator render time per tier and duration, text-to-video and image-to-video, and the newer kinds.

For every (kind, tier, duration) some catalogue model offers, one MP4 is rendered with the
emulator's encoder (best of ``--repeat``) with the sound track that model would have. Two more
rows render 5 s at 480P with custom audio (sound "custom": an ``audio_url`` file, here a 4 s
WAV, decoded, padded and followed by the picture). The task time the emulator promises at its
default time scale is shown beside it: a render slower than that keeps the task RUNNING longer.
Six rows render the wan2.7 and kf2v kinds (docs/dashscope-wan27.md) at 720P (kf2v 480P): first+last
frame, driving audio, continuation of a 2 s clip, an edit of a 5 s clip keeping its sound, a
reference video with an image and a clip, and kf2v (silent, 5 s).
The table is printed and appended to ``bench/RESULTS.md`` under "Emulator render time".
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import platform
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import headline, record  # noqa: E402
from wanbook._spec.catalogue import catalogue, i2v_output_size  # noqa: E402
from wanbook.emulator import DEFAULT_TIME_SCALE  # noqa: E402
from wanbook.emulator._audio import AudioSource  # noqa: E402
from wanbook.emulator._clips import VideoSource  # noqa: E402
from wanbook.emulator._media import ImageSource  # noqa: E402
from wanbook.emulator._render import RenderJob, encode  # noqa: E402
from wanbook.emulator._tasks import timing  # noqa: E402

TIERS = ("480P", "720P", "1080P")
DURATIONS = (5, 10, 15)
T2V_SIZE = {"480P": "832*480", "720P": "1280*720", "1080P": "1920*1080"}
CUSTOM = (("t2v", "wan2.5-t2v-preview"), ("i2v", "wan2.5-i2v-preview"))  # 480P, with audio_url
PROMPT = "a red fox trotting through fresh snow at dusk, soft light, gentle wind"


def cells() -> list[tuple[str, str, int, str, bool]]:
    """(kind, tier, duration, model, sound) for every combination some model offers."""
    out = []
    for kind in ("t2v", "i2v"):
        for tier in TIERS:
            for seconds in DURATIONS:
                for spec in catalogue().models.values():
                    if spec.kind == kind and tier in spec.tiers and spec.duration.allows(seconds):
                        out.append((kind, tier, seconds, spec.name, spec.has_sound(None, None)))
                        break
    return out


def custom_audio(seconds: float = 4.0, rate: int = 44100) -> AudioSource:
    """A mono WAV: a 440 Hz tone pulsing twice a second, as the emulator accepts it."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    gate = np.where((t * 2).astype(int) % 2 == 0, 1.0, 0.1)
    pcm = (12000 * gate * np.sin(2 * math.pi * 440 * t)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    data = buf.getvalue()
    return AudioSource(data=data, ref=hashlib.sha256(data).hexdigest(), seconds=seconds)


def job_for(
    kind: str, tier: str, seconds: int, sound: bool, audio: AudioSource | None = None
) -> RenderJob:
    if kind == "t2v":
        w, h = (int(v) for v in T2V_SIZE[tier].split("*"))
        return RenderJob(
            "t2v", "wan2.5-t2v-preview", w, h, seconds, PROMPT, 7, 0, True, sound, None, audio
        )
    w, h = i2v_output_size(1280, 720, tier)  # a 16:9 picture (the emulator's stand-in)
    image = ImageSource(data=None, ref="https://example.com/bench.jpg", width=1280, height=720)
    return RenderJob(
        "i2v", "wan2.5-i2v-preview", w, h, seconds, PROMPT, 7, 0, True, sound, image, audio
    )


def clip(directory: Path, seconds: int, width: int = 1104, height: int = 816) -> VideoSource:
    """A rendered i2v video (sound on) of ``seconds``, as an input clip."""
    path = directory / f"clip-{seconds}.mp4"
    image = ImageSource(data=None, ref="https://example.com/clip.jpg", width=1280, height=720)
    encode(RenderJob("i2v", "clip", width, height, seconds, PROMPT, 3, 0, False, True, image), path)
    data = path.read_bytes()
    return VideoSource(data, hashlib.sha256(data).hexdigest(), width, height, seconds, True)


def wan27_jobs(directory: Path, audio: AudioSource) -> list[tuple[str, str, str, str, RenderJob]]:
    """(kind, tier, sound, model, job) for each newer kind, as the emulator renders it."""
    first = ImageSource(data=None, ref="https://example.com/first.jpg", width=1280, height=720)
    last = ImageSource(data=None, ref="https://example.com/last.jpg", width=1280, height=720)
    w, h = i2v_output_size(1280, 720, "720P")
    short, five = clip(directory, 2), clip(directory, 5)
    base = {"prompt": PROMPT, "seed": 7, "variation": 0, "watermark": True, "sound": True}
    return [
        ("i2v first+last", "720P", "yes", "wan2.7-i2v",
         RenderJob("i2v", "wan2.7-i2v", w, h, 5, image=first, last=last, **base)),
        ("i2v driving audio", "720P", "custom", "wan2.7-i2v",
         RenderJob("i2v", "wan2.7-i2v", w, h, 5, image=first, audio=audio, **base)),
        ("i2v continuation (2 s clip)", "720P", "clip + yes", "wan2.7-i2v",
         RenderJob("i2v", "wan2.7-i2v", 1104, 816, 5, clip=short, clip_sound=True, **base)),
        ("videoedit (5 s, origin)", "720P", "clip", "wan2.7-videoedit",
         RenderJob("videoedit", "wan2.7-videoedit", 1104, 816, 5.0, clip=five, clip_sound=True,
                   references=(first,), **base)),
        ("r2v (image + clip)", "720P", "yes", "wan2.7-r2v",
         RenderJob("r2v", "wan2.7-r2v", 1280, 720, 5, references=(first, short), **base)),
        ("kf2v first+last", "480P", "no", "wan2.2-kf2v-flash",
         RenderJob("kf2v", "wan2.2-kf2v-flash", *i2v_output_size(1280, 720, "480P"), 5,
                   PROMPT, 7, 0, True, False, first, last=last)),
    ]  # fmt: skip


def best_of(repeat: int, job: RenderJob, path: Path) -> float:
    """The fastest of ``repeat`` renders of ``job`` into ``path``, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        encode(job, path)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="renders per cell (best is kept)")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument(
        "--only-new", action="store_true", help="only the wan2.7 and kf2v rows (a quick run)"
    )
    args = parser.parse_args()
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        encode(RenderJob("t2v", "warm-up", 320, 240, 1, "warm-up", 1, 0, True, True), path)
        audio = custom_audio()
        plain = [] if args.only_new else [(*cell, None) for cell in cells()]
        custom = [] if args.only_new else [(kind, "480P", 5, m, True, audio) for kind, m in CUSTOM]
        for kind, tier, seconds, model, sound, with_audio in plain + custom:
            job = job_for(kind, tier, seconds, sound, with_audio)
            best = best_of(args.repeat, job, path)
            queue, run = timing(tier, seconds, "bench", DEFAULT_TIME_SCALE)
            rows.append(
                (
                    kind,
                    tier,
                    f"{job.width}x{job.height}",
                    f"{seconds} s",
                    "custom" if with_audio else "yes" if sound else "no",
                    model,
                    f"{best:.2f} s",
                    f"{seconds * 30 / best:.0f}",
                    f"{path.stat().st_size / 1e6:.2f} MB",
                    f"{run:.2f} s",
                )
            )
            print(" | ".join(rows[-1]), flush=True)
        for kind, tier, sound_label, model, job in wan27_jobs(Path(tmp), audio):
            best = best_of(args.repeat, job, path)
            frames = job.n_frames
            queue, run = timing(tier, round(job.duration), "bench", DEFAULT_TIME_SCALE)
            rows.append(
                (
                    kind,
                    tier,
                    f"{job.width}x{job.height}",
                    f"{job.duration:g} s",
                    sound_label,
                    model,
                    f"{best:.2f} s",
                    f"{frames / best:.0f}",
                    f"{path.stat().st_size / 1e6:.2f} MB",
                    f"{run:.2f} s",
                )
            )
            print(" | ".join(rows[-1]), flush=True)
    head = ("kind", "tier", "size", "video", "sound", "model", "render (best)", "frames/s",
            "file", "run time at default scale")  # fmt: skip
    table = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    env = (
        f"Python {platform.python_version()}, {platform.machine()}, {platform.system()}, "
        f"{len(os.sched_getaffinity(0))} cores; x264 ultrafast/zerolatency, 1 thread per render; "
        f"best of {args.repeat}; default time scale {DEFAULT_TIME_SCALE:.5f}; "
        f"1-min load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    text = "\n".join(table)
    print(text)
    print(env)
    if not args.no_record:
        record("## Emulator render time", f"{headline(env)}\n\n{text}")


if __name__ == "__main__":
    main()
