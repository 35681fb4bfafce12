"""Measures of a video without a model, from its decoded frames (PyAV + numpy).

Per video, on the luma (brightness) plane of frames decoded at a reduced width:

- **motion**: the mean absolute difference between consecutive frames (0-255), averaged over
  ``PAIRS`` pairs spread over the video: 0 is a still picture;
- **sharpness**: the variance of the Laplacian (the usual focus measure), averaged over the same
  frames: higher is crisper;
- **flicker**: the standard deviation of the frame-to-frame change of mean brightness, over every
  frame (0-255): a steady fade scores low, a strobing one high;
- **first_frame_psnr** (image-to-video): PSNR in dB of the first frame against the input image,
  fitted to the video's frame as the service fits it; **last_frame_psnr** (first+last-frame
  models, the ``last_frame`` of the logged media): of the last frame against the last image. A local input that is gone or changed
  (its hash no longer matches the log) gives NaN: the measure is never made against another
  picture.

Results are cached by the video's SHA-256 (and the inputs'), in ``<home>/metrics/``, so a report
over hundreds of runs measures each video once. ``measure`` is the pure-ish core; ``video_metrics``
reads runs from a DataFrame, a list of ids or ``Run`` objects.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wanbook._errors import DownloadError, WanbookError
from wanbook._reports.reproducibility import compare_frames

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from wanbook._engine.session import Session

__all__ = ["METRIC_COLUMNS", "Measures", "measure", "video_metrics"]

VERSION = 1  # bump when a measure changes: cached values of another version are not reused
WIDTH = 320  # frames are decoded at this width (aspect kept): measures compare across sizes
PAIRS = 12  # consecutive frame pairs sampled for motion and sharpness
METRIC_COLUMNS = ("motion", "sharpness", "flicker", "first_frame_psnr", "last_frame_psnr", "frames")


@dataclass(frozen=True)
class Measures:
    """The measures of one video (NaN where a measure does not apply or cannot be made)."""

    motion: float
    sharpness: float
    flicker: float
    first_frame_psnr: float
    last_frame_psnr: float
    frames: int


def _laplacian_variance(luma: np.ndarray) -> float:
    import numpy as np

    y = luma.astype(np.float32)
    lap = 4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]
    return float(lap.var())


def _decode(
    path: Path,
) -> tuple[list[np.ndarray], list[float], np.ndarray | None, np.ndarray | None]:
    """(sampled luma frames as consecutive pairs, mean luma of every frame, first and last RGB
    frames at full size)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = stream.frames or 0
        height = max(2, round(stream.codec_context.height * WIDTH / stream.codec_context.width))
        height += height % 2
        wanted: set[int] = set()
        if total > 1:
            step = max(1, (total - 1) // PAIRS)
            for start in range(0, total - 1, step)[:PAIRS]:
                wanted.update((start, start + 1))
        pairs: list[np.ndarray] = []
        means: list[float] = []
        first = last = None
        for i, frame in enumerate(container.decode(stream)):
            luma = frame.reformat(width=WIDTH, height=height, format="gray").to_ndarray()
            means.append(float(luma.mean()))
            if i in wanted or (total <= 1 and i < 2 * PAIRS):
                pairs.append(luma)
            if i == 0:
                first = frame.to_ndarray(format="rgb24")
            last = frame
        last_rgb = last.to_ndarray(format="rgb24") if last is not None else None
    return pairs, means, first, last_rgb


def _fitted(image_path: Path, width: int, height: int) -> np.ndarray:
    """The input image as the service frames it: aspect kept, edges trimmed, RGB."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(image_path) as img:
        fitted = ImageOps.fit(
            ImageOps.exif_transpose(img).convert("RGB"),
            (width, height),
            method=Image.Resampling.BICUBIC,
        )
        return np.asarray(fitted, dtype=np.uint8)


def _psnr(frame: np.ndarray | None, image: Path | None) -> float:
    if frame is None or image is None:
        return math.nan
    h, w = frame.shape[:2]
    return compare_frames(frame[None], _fitted(image, w, h)[None]).psnr


def measure(
    path: str | os.PathLike[str],
    *,
    first_image: str | os.PathLike[str] | None = None,
    last_image: str | os.PathLike[str] | None = None,
) -> Measures:
    """Measure one video file (see the module's docstring); images for the PSNR measures."""
    import av
    import numpy as np

    path = Path(path)
    try:
        pairs, means, first, last = _decode(path)
    except (av.FFmpegError, OSError, IndexError) as exc:
        raise DownloadError(f"video {path.name} could not be read ({exc})") from exc
    diffs = [
        float(np.abs(pairs[i + 1].astype(np.int16) - pairs[i]).mean())
        for i in range(0, len(pairs) - 1, 2)
    ]
    sharp = [_laplacian_variance(f) for f in pairs]
    steps = np.diff(np.asarray(means)) if len(means) > 1 else np.asarray([])
    return Measures(
        motion=float(np.mean(diffs)) if diffs else math.nan,
        sharpness=float(np.mean(sharp)) if sharp else math.nan,
        flicker=float(steps.std()) if len(steps) > 1 else math.nan,
        first_frame_psnr=_psnr(first, Path(first_image) if first_image else None),
        last_frame_psnr=_psnr(last, Path(last_image) if last_image else None),
        frames=len(means),
    )


# ------------------------------------------------------------------ runs -> measures, cached


Input = tuple[Path, str]  # a local input image and the SHA-256 of its bytes now


def _local_input(path: Any, sha256: Any) -> Input | None:
    """A logged local input that is still the same file (its hash matches), with its hash;
    None if it is not local, gone or changed."""
    if not isinstance(path, str) or not path or "://" in path or path.startswith("<"):
        return None
    p = Path(path)
    if not p.is_file():
        return None
    now = hashlib.sha256(p.read_bytes()).hexdigest()
    changed = isinstance(sha256, str) and bool(sha256) and sha256 != now
    return None if changed else (p, now)


def _inputs(record: Mapping[str, Any]) -> tuple[Input | None, Input | None]:
    """The first and last input images of a run (``image_source``, or the logged media of the
    first+last-frame models), where they are local files still unchanged."""
    params = record.get("params") if isinstance(record.get("params"), dict) else {}
    media = {
        m.get("type"): m
        for m in (params or {}).get("media") or []
        if isinstance(m, dict) and m.get("kind") == "image"
    }
    first = media.get("first_frame") or {}
    last = media.get("last_frame") or {}
    first_path = _local_input(record.get("image_source"), record.get("image_sha256"))
    if first_path is None:
        first_path = _local_input(first.get("source"), first.get("sha256"))
    return first_path, _local_input(last.get("source"), last.get("sha256"))


def _cache_key(video_sha: str, first: Input | None, last: Input | None) -> str:
    parts = [f"v{VERSION}", video_sha, *(image[1] if image else "-" for image in (first, last))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _measured(record: Mapping[str, Any], cache: Path) -> Measures | None:
    video = record.get("video_path")
    if record.get("status") != "SUCCEEDED" or not video or not Path(video).is_file():
        return None
    first, last = _inputs(record)
    video_sha = record.get("video_sha256") or hashlib.sha256(Path(video).read_bytes()).hexdigest()
    key = cache / f"{_cache_key(str(video_sha), first, last)}.json"
    try:
        return Measures(**json.loads(key.read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        pass  # not cached yet (or a cache file from elsewhere): measure
    found = measure(
        video, first_image=first[0] if first else None, last_image=last[0] if last else None
    )
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = key.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(found)), "utf-8")
        os.replace(tmp, key)
    except OSError:
        pass  # a cache that cannot be written is done without
    return found


def _here(session: Session, record: dict[str, Any]) -> dict[str, Any]:
    """The record with its video on this machine: a run of a shared log whose video is only in
    the team's store is measured from this home's checked copy (fetched once)."""
    video = record.get("video_path")
    if record.get("status") != "SUCCEEDED" or not record.get("video_uri"):
        return record
    if video and Path(video).is_file():
        return record
    try:
        return {**record, "video_path": str(session.video_file(record))}
    except WanbookError:
        return record  # not fetched: measured as a run without a video (NaN)


def video_metrics(runs: Any = None, *, session: Session | None = None) -> pd.DataFrame:
    """The measures of each run's video as a DataFrame indexed by run_id (columns
    ``METRIC_COLUMNS``; NaN for runs without a video). ``runs``: a DataFrame (``wb.runs()``, a
    comparison), run ids or ``Run`` objects; default: every run of the log."""
    import pandas as pd

    if session is None:
        from wanbook._engine.default_session import session as default_session

        session = default_session()
    if runs is None:
        runs = session.runs()
    cache = session.home / "metrics"
    rows = []
    for record in session.records(runs):
        found = _measured(_here(session, record), cache)
        values = asdict(found) if found else {c: math.nan for c in METRIC_COLUMNS}
        rows.append({"run_id": record["run_id"], **values})
    frame = pd.DataFrame(rows, columns=["run_id", *METRIC_COLUMNS]).set_index("run_id")
    frame["frames"] = frame["frames"].astype("Int64")
    return frame
