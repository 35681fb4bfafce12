"""The sound track: custom audio (``audio_url``) checked and decoded, automatic sound synthesized,
and the per-frame loudness the picture follows.

What the emulator does with an ``audio_url`` (only when the resolved request has sound: the
precedence of ``audio`` and ``audio_url`` is ``wanbook._spec.request.resolve``'s, not decided here):

- on a loopback host, or uploaded by the vendor SDK (``oss://``): read at create time by the
  same reader as images (``_fetch``) and checked like the service (docs/dashscope-api.md §5: wav or mp3,
  3-30 s, at most 15 MB; the limits come from the catalogue's ``[audio_file]``). The video
  carries it as its AAC track, cut to the video's duration or padded with silence.
- any other URL is **never fetched** (tests never touch the internet): a deterministic stand-in,
  plucked notes on a beat derived from the URL, plays instead (as a picture stands in for an
  image URL).

Either way the video "follows the audio": :func:`levels` gives the loudness of each frame's
slice of sound, and the scenes draw with it (``_scene``). numpy and PyAV are imported inside
the functions, never at import.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wanbook._spec.catalogue import catalogue
from wanbook.emulator._fetch import Rejected, read_input

__all__ = [
    "AUDIO_RATE",
    "AudioSource",
    "automatic_sound",
    "custom_sound",
    "decode",
    "levels",
    "fit",
    "resolve_audio",
]

AUDIO_RATE = 48000  # every track is resampled to the output's rate
LENGTH_SLACK = 0.1  # s: encoders pad a few ms, so a "3 s" mp3 decodes to about 3.03 s
FLOOR_DB, TOP_DB = -48.0, -6.0  # loudness mapped to level 0 and 1
RELEASE = 0.8  # per frame: a level falls to 80 % of the previous one at most (no flicker)


@dataclass(frozen=True)
class AudioSource:
    """Accepted custom audio: its bytes (None for a stand-in) and what they were checked to be."""

    data: bytes | None
    ref: str  # the sha256 of the bytes; the URL for a stand-in
    seconds: float | None = None  # decoded length (None for a stand-in)

    @property
    def digest(self) -> str:
        """What identifies the sound in the render cache: content, not URL, for fetched audio."""
        return self.ref if self.data is not None else "url:" + self.ref


def decode(data: bytes, max_samples: int | None = None) -> tuple[str, Any]:
    """``(container format, samples)``: float32 ``(channels, n)`` at 48 kHz, mono or stereo.

    Decoding stops once ``max_samples`` are in hand (a render needs no more than the video's
    length). Raises ValueError if ``data`` holds no decodable audio.
    """
    import av
    import numpy as np

    try:
        with av.open(io.BytesIO(data), "r") as container:
            fmt = container.format.name
            if not container.streams.audio:
                raise ValueError("no audio stream")
            stream = container.streams.audio[0]
            layout = "mono" if stream.codec_context.channels == 1 else "stereo"
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=AUDIO_RATE)
            parts, have = [], 0
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray())
                    have += parts[-1].shape[1]
                if max_samples is not None and have >= max_samples:
                    break
            else:
                parts.extend(out.to_ndarray() for out in resampler.resample(None))
    except (av.FFmpegError, OSError, IndexError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    channels = 1 if layout == "mono" else 2
    if not parts:
        return fmt, np.zeros((channels, 0), np.float32)
    samples = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
    return fmt, samples[:, :max_samples] if max_samples is not None else samples


def _check(data: bytes, field: str, seconds_range: tuple[float, float] | None) -> AudioSource:
    """Accept ``data`` as the service would, or raise :class:`Rejected` naming ``field``."""
    rules = catalogue().audio_file
    allowed = " or ".join(rules["extensions"])
    if len(data) > rules["max_mb"] * 1024 * 1024:
        raise Rejected(
            400,
            "InvalidParameter",
            f"{field}: the audio file is larger than {rules['max_mb']} MB; at most "
            f"{rules['max_mb']} MB is accepted",
        )
    try:
        fmt, samples = decode(data)
    except Exception as exc:  # whatever the decoder trips on, the file is not readable audio
        raise Rejected(
            415,
            "BadRequest.UnsupportedFileFormat",
            f"{field}: the file is not readable {allowed} audio ({exc})",
        ) from exc
    names = set(fmt.split(","))
    if not names & set(rules["extensions"]):
        raise Rejected(
            415,
            "BadRequest.UnsupportedFileFormat",
            f"{field}: the file is {fmt} audio; the Wan models accept {allowed}",
        )
    seconds = samples.shape[1] / AUDIO_RATE
    lo, hi = seconds_range or (rules["min_seconds"], rules["max_seconds"])
    if not (lo - LENGTH_SLACK <= seconds <= hi + LENGTH_SLACK):
        raise Rejected(
            400,
            "InvalidParameter",
            f"{field}: the audio is {seconds:.1f} s long; it must be {lo}-{hi} s",
        )
    return AudioSource(data=data, ref=hashlib.sha256(data).hexdigest(), seconds=seconds)


def resolve_audio(
    audio_url: str,
    uploads: Mapping[str, bytes],
    oss_resolve: bool = False,
    *,
    field: str = "audio_url",
    seconds: tuple[float, float] | None = None,
) -> AudioSource:
    """Check custom audio as the service would at create time; raise :class:`Rejected`.

    The request's validation already made sure the URL names a .wav or .mp3 file. ``uploads``
    and ``oss_resolve`` serve the vendor SDK, which uploads a local file and sends ``oss://``.
    """
    url = audio_url.strip()
    limit = catalogue().audio_file["max_mb"] * 1024 * 1024
    data = read_input(
        url, field=field, what="audio", limit=limit, uploads=uploads, oss_resolve=oss_resolve
    )
    if data is None:
        return AudioSource(data=None, ref=url)
    return _check(data, field, seconds)


def fit(samples: Any, n: int) -> Any:
    """``samples`` cut to ``n``, or padded with silence to ``n`` (docs/dashscope-api.md §5)."""
    import numpy as np

    if samples.shape[1] >= n:
        return np.ascontiguousarray(samples[:, :n])
    out = np.zeros((samples.shape[0], n), np.float32)
    out[:, : samples.shape[1]] = samples
    return out


def _stand_in(ref: str, n: int) -> Any:
    """Plucked notes of a pentatonic scale on a steady beat, all derived from ``ref`` (mono)."""
    import numpy as np

    if n <= 0:
        return np.zeros((1, 0), np.float32)
    rng = random.Random(hashlib.sha256(f"audio:{ref}".encode()).digest())
    beat = 60.0 / (84 + rng.randrange(60))  # seconds per beat
    root = 196.0 * 2 ** (rng.randrange(7) / 12)
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE
    index = (t / beat).astype(np.int64)
    beats = int(index[-1]) + 1
    scale = np.array([0, 2, 4, 7, 9, 12, 14, 16])
    notes = np.array([scale[rng.randrange(len(scale))] for _ in range(beats)])
    gain = np.array([0.0 if rng.random() < 0.25 else 0.35 for _ in range(beats)])  # rests
    freq = root * 2.0 ** (notes[index] / 12)
    wave = np.sin(2 * math.pi * freq * t) + 0.3 * np.sin(4 * math.pi * freq * t)
    signal = wave * np.exp(-(t - index * beat) * 5.0) * gain[index]
    return signal.astype(np.float32).reshape(1, -1)


def custom_sound(source: AudioSource, duration: float) -> Any:
    """The track for custom audio: ``(channels, duration × 48000)`` float32, cut or padded."""
    n = round(duration * AUDIO_RATE)
    if source.data is None:
        return _stand_in(source.ref, n)
    return fit(decode(source.data, n)[1], n)


def automatic_sound(seed: int, variation: int, prompt: str, duration: float) -> Any:
    """The automatic sound (no ``audio_url``): a soft, deterministic chord with a little air,
    faded in and out, as ``(1, n)`` float32."""
    import numpy as np

    rng = random.Random(f"sound:{seed}:{variation}:{prompt}")
    n = round(duration * AUDIO_RATE)
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE
    root = 110.0 * 2 ** (rng.randrange(12) / 12)
    chord = (1.0, 1.25 if rng.random() < 0.5 else 1.2, 1.5, 2.0)
    wave = np.zeros(n)
    for k, ratio in enumerate(chord):
        wobble = 1 + 0.3 * np.sin(2 * math.pi * (0.15 + 0.1 * k) * t + rng.random() * 6.28)
        wave += np.sin(2 * math.pi * root * ratio * t) * wobble / (k + 1)
    noise = np.random.default_rng(rng.randrange(2**32)).standard_normal(n)
    air = np.convolve(noise, np.ones(32) / 32, mode="same") * 0.6
    signal = (wave / 2.5 + air) * 0.25
    fade = min(n // 2, int(0.3 * AUDIO_RATE))
    if fade:
        ramp = np.linspace(0, 1, fade)
        signal[:fade] *= ramp
        signal[-fade:] *= ramp[::-1]
    return signal.astype(np.float32).reshape(1, -1)


def levels(samples: Any, n_frames: int, fps: int) -> Any:
    """The loudness of each frame's slice of ``samples``, from 0 (below -48 dBFS) to 1 (-6 dBFS).

    RMS per frame on a dB scale, with a short release so a level falls smoothly between
    syllables or beats instead of flickering. float32, one value per frame.
    """
    import numpy as np

    per = AUDIO_RATE // fps
    mono = fit(samples.mean(axis=0, keepdims=True), n_frames * per)[0].astype(np.float64)
    rms = np.sqrt(np.mean(mono.reshape(n_frames, per) ** 2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-9))
    raw = np.clip((db - FLOOR_DB) / (TOP_DB - FLOOR_DB), 0.0, 1.0)
    out = np.empty(n_frames, np.float32)
    level = 0.0
    for i, value in enumerate(raw):
        level = max(float(value), level * RELEASE)
        out[i] = level
    return out
