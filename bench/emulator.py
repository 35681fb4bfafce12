"""Emulator render time per tier and duration, text-to-video and image-to-video.

For every (kind, tier, duration) some catalogue model offers, one MP4 is rendered with the
emulator's encoder (best of ``--repeat``) with the sound track that model would have. Two more
rows render 5 s at 480P with custom audio (sound "custom": an ``audio_url`` file, here a 4 s
WAV, decoded, padded and followed by the picture). The task time the emulator promises at its
default time scale is shown beside it: a render slower than that keeps the task RUNNING longer.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="renders per cell (best is kept)")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        encode(RenderJob("t2v", "warm-up", 320, 240, 1, "warm-up", 1, 0, True, True), path)
        audio = custom_audio()
        plain = [(*cell, None) for cell in cells()]
        custom = [(kind, "480P", 5, model, True, audio) for kind, model in CUSTOM]
        for kind, tier, seconds, model, sound, with_audio in plain + custom:
            job = job_for(kind, tier, seconds, sound, with_audio)
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                encode(job, path)
                times.append(time.perf_counter() - t)
            best = min(times)
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
