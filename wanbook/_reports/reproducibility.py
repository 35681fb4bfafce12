"""Reproducibility measures on the run log: do identical requests give identical videos?

Runs are grouped by identical request (the run log's ``fingerprint``: model, prompt, every
parameter, seed, prompt_extend, image and where it was sent). Within a group, videos are compared
byte for byte (``video_sha256``) and, when the bytes differ, frame by frame: sampled frames are
decoded small with PyAV and compared with numpy as a **mean absolute pixel difference** (0-255)
and a **PSNR** in dB (infinite when the pictures are equal). The same measure between runs that
differ only in their seed gives the scale to judge it by: a repeat that differs as much as a new
seed does is not reproducible.

The pure part works on DataFrames and arrays; decoding (``video_frames``) is the only I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wanbook._errors import DownloadError, WanbookError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "FrameDiff",
    "ReproReport",
    "compare_frames",
    "frame_difference",
    "request_groups",
    "reproducibility",
    "video_frames",
    "video_pairs",
]

SAMPLES = 8  # frames compared per video, spread evenly over it
WIDTH = 160  # frames are decoded this wide (aspect kept): enough to see a difference, and fast
_IGNORED_PARAMS = ("param_sent",)  # which fields were sent follows from the values themselves


@dataclass(frozen=True)
class FrameDiff:
    """How far apart two videos are: mean absolute pixel difference (0 = equal, 255 = opposite)
    and PSNR in dB over ``frames`` sampled frames (``inf`` when equal)."""

    mae: float
    psnr: float
    frames: int


# --------------------------------------------------------------------------------- frames
def video_frames(
    path: str | Path, *, samples: int = SAMPLES, width: int = WIDTH, height: int | None = None
) -> np.ndarray:
    """``samples`` frames spread evenly over the video, as RGB uint8 ``(n, height, width, 3)``.

    Frames are scaled while decoding (``height`` defaults to the aspect-kept even height), so two
    videos can be compared at one size even when they were made at different sizes.
    """
    import av

    if samples < 1 or width < 2:
        raise ValueError(f"samples={samples!r} and width={width!r} must be >= 1 and >= 2")
    try:
        return _decode(path, samples, width, height)
    except (av.FFmpegError, OSError, IndexError) as exc:  # IndexError: no video stream
        raise DownloadError(f"video {Path(path).name} could not be read ({exc})") from exc


def _decode(path: str | Path, samples: int, width: int, height: int | None) -> np.ndarray:
    import av
    import numpy as np

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = stream.frames or 0
        if height is None:
            height = max(
                2, round(stream.codec_context.height * width / stream.codec_context.width / 2) * 2
            )
        decoded = container.decode(stream)
        if total <= 0:  # the container does not say: keep every frame, sample afterwards
            frames = [f.to_ndarray(width=width, height=height, format="rgb24") for f in decoded]
            pick = _sample_indices(len(frames), samples)
            return (
                np.stack([frames[i] for i in pick])
                if frames
                else np.zeros((0, height, width, 3), np.uint8)
            )
        wanted = set(_sample_indices(total, samples))
        out = []
        for i, frame in enumerate(decoded):
            if i in wanted:
                out.append(frame.to_ndarray(width=width, height=height, format="rgb24"))
            if i >= max(wanted):
                break
    return np.stack(out) if out else np.zeros((0, height, width, 3), np.uint8)


def _sample_indices(total: int, samples: int) -> list[int]:
    """Evenly spread frame indices (first and last included), no repeats."""
    if total <= 0:
        return []
    if samples == 1 or total == 1:
        return [0]
    return sorted({round(i * (total - 1) / (samples - 1)) for i in range(samples)})


def compare_frames(a: np.ndarray, b: np.ndarray) -> FrameDiff:
    """Mean absolute difference and PSNR between two stacks of frames (the shorter one decides)."""
    import numpy as np

    n = min(len(a), len(b))
    if n == 0:
        return FrameDiff(math.nan, math.nan, 0)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"frames of shape {a.shape[1:]} and {b.shape[1:]} cannot be compared")
    diff = a[:n].astype(np.int16) - b[:n].astype(np.int16)
    mae = float(np.abs(diff).mean())
    mse = float((diff.astype(np.float64) ** 2).mean())
    psnr = math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
    return FrameDiff(mae, psnr, n)


def frame_difference(
    a: str | Path, b: str | Path, *, samples: int = SAMPLES, width: int = WIDTH
) -> FrameDiff:
    """How far apart two video files are (``b`` is decoded at ``a``'s reduced size)."""
    fa = video_frames(a, samples=samples, width=width)
    fb = video_frames(b, samples=samples, width=width, height=fa.shape[1] if len(fa) else None)
    return compare_frames(fa, fb)


# --------------------------------------------------------------------------------- grouping
def _fetched(runs: pd.DataFrame, session: Any) -> pd.DataFrame:
    """``runs`` with this machine's checked copy (``Session.video_file``) as the video of each
    run of a shared log whose video is only in the team's store; others as they are."""
    if "video_uri" not in runs.columns or "video_path" not in runs.columns:
        return runs
    wanted = [
        run_id
        for run_id, status, uri, path in zip(
            runs.index, runs["status"], runs["video_uri"], runs["video_path"], strict=True
        )
        if status == "SUCCEEDED" and isinstance(uri, str) and uri
        and not (isinstance(path, str) and Path(path).is_file())
    ]  # fmt: skip
    if not wanted:
        return runs
    runs = runs.copy()
    for run_id in wanted:
        with contextlib.suppress(WanbookError, KeyError):  # not fetched: left out
            runs.loc[run_id, "video_path"] = str(session.video_file(str(run_id)))
    return runs


def _prepared(runs: pd.DataFrame) -> pd.DataFrame:
    """Successful runs with a video, with ``sha`` (video hash) and ``request``/``sweep`` keys:
    ``request`` is the identical-request key, ``sweep`` the same key without the seed."""
    import numpy as np
    import pandas as pd

    for column in ("model", "status", "video_path"):
        if column not in runs.columns:
            raise ValueError(f"runs is missing column {column!r}; pass wb.runs() or Session.runs()")
    ok = runs[(runs["status"].astype(object) == "SUCCEEDED") & runs["video_path"].notna()].copy()
    ok = ok.loc[np.array([Path(str(p)).is_file() for p in ok["video_path"]], dtype=bool)]
    if "video_sha256" in ok.columns:
        sha = ok["video_sha256"].astype(object)
        missing = sha.isna()
        sha[missing] = [_sha256(p) for p in ok.loc[missing, "video_path"]]
    else:
        sha = pd.Series([_sha256(p) for p in ok["video_path"]], index=ok.index, dtype=object)
    ok["sha"] = sha
    sweep_cols = [
        c
        for c in ("backend", "region", "model", "prompt", "negative_prompt", "image_sha256")
        if c in ok.columns
    ] + sorted(c for c in ok.columns if c.startswith("param_") and c not in _IGNORED_PARAMS)
    seeds = ok["seed"].tolist() if "seed" in ok.columns else [None] * len(ok)
    sweeps = ["\x1f".join(map(repr, row)) for row in ok[sweep_cols].itertuples(index=False)]
    ok["sweep"] = [_short_hash(k) for k in sweeps]
    if "fingerprint" in ok.columns and ok["fingerprint"].notna().all():
        ok["request"] = ok["fingerprint"].astype(object)
    else:
        ok["request"] = [_short_hash(f"{k}\x1f{s!r}") for k, s in zip(sweeps, seeds, strict=True)]
    ok["prompt_extend"] = _prompt_extend(ok)
    return ok


def _prompt_extend(ok: pd.DataFrame) -> Any:
    if "param_prompt_extend" in ok.columns:
        return (
            ok["param_prompt_extend"]
            .astype(object)
            .map(lambda v: None if v is None or v != v else bool(v))
        )
    return None


def _sha256(path: Any) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def request_groups(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per identical request with at least one video: model, prompt_extend, seed, prompt,
    ``runs``, ``distinct_videos`` (by SHA-256) and ``byte_identical`` (every video the same; NA
    for a request made once)."""
    return _groups(_prepared(runs))


def _groups(ok: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    columns = [
        "model",
        "prompt_extend",
        "seed",
        "prompt",
        "runs",
        "distinct_videos",
        "byte_identical",
    ]
    if ok.empty:
        return pd.DataFrame(columns=["request", *columns]).set_index("request")
    rows = []
    for key, g in ok.groupby("request", sort=False):
        first = g.iloc[0]
        rows.append(
            {
                "request": str(key)[
                    :12
                ],  # the fingerprint's first characters: enough to tell apart
                "model": str(first["model"]),
                "prompt_extend": first["prompt_extend"],
                "seed": first.get("seed"),
                "prompt": first.get("prompt"),
                "runs": len(g),
                "distinct_videos": int(g["sha"].nunique()),
                "byte_identical": bool(g["sha"].nunique() == 1) if len(g) > 1 else None,
            }
        )
    out = pd.DataFrame(rows).set_index("request")[columns]
    return out.astype({"byte_identical": "boolean"})


def video_pairs(runs: pd.DataFrame, *, samples: int = SAMPLES, width: int = WIDTH) -> pd.DataFrame:
    """Pairs of videos compared: ``repeat`` (same request: each run vs the request's first run)
    and ``seed`` (same request but the seed: each seed's first run vs the sweep's first seed).

    Columns: model, prompt_extend, kind, run_a, run_b, seed_a, seed_b, byte_identical, mae, psnr.
    Byte-identical pairs are not decoded (mae 0, psnr inf).
    """
    return _pairs(_prepared(runs), samples, width)


def _pairs(ok: pd.DataFrame, samples: int, width: int) -> pd.DataFrame:
    import pandas as pd

    cache: dict[str, Any] = {}

    def frames(path: str, height: int | None = None) -> Any:
        key = f"{path}|{height}"
        if key not in cache:
            cache[key] = video_frames(path, samples=samples, width=width, height=height)
        return cache[key]

    rows: list[dict[str, Any]] = []

    def add(kind: str, a: Any, b: Any) -> None:
        same = a["sha"] == b["sha"]
        if same:
            diff = FrameDiff(0.0, math.inf, 0)
        else:
            try:
                fa = frames(str(a["video_path"]))
                diff = compare_frames(fa, frames(str(b["video_path"]), fa.shape[1]))
            except DownloadError:  # an unreadable file: its difference is unknown, not 0
                diff = FrameDiff(math.nan, math.nan, 0)
        rows.append(
            {
                "model": str(a["model"]),
                "prompt_extend": a["prompt_extend"],
                "kind": kind,
                "run_a": a.name,
                "run_b": b.name,
                "seed_a": a.get("seed"),
                "seed_b": b.get("seed"),
                "byte_identical": bool(same),
                "mae": diff.mae,
                "psnr": diff.psnr,
            }
        )

    for _, sweep in ok.groupby("sweep", sort=False):
        firsts = []
        for _, group in sweep.groupby("request", sort=False):
            first = group.iloc[0]
            firsts.append(first)
            for i in range(1, len(group)):
                add("repeat", first, group.iloc[i])
        for other in firsts[1:]:
            add("seed", firsts[0], other)
    columns = [
        "model",
        "prompt_extend",
        "kind",
        "run_a",
        "run_b",
        "seed_a",
        "seed_b",
        "byte_identical",
        "mae",
        "psnr",
    ]
    return pd.DataFrame(rows, columns=columns)


def summarize(groups: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (model, prompt_extend): requests repeated, the share of them byte-identical, and the
    mean frame difference of repeats next to that of different seeds (the scale to judge it by)."""
    import numpy as np
    import pandas as pd

    keys = ["model", "prompt_extend"]
    columns = [
        "requests_repeated",
        "byte_identical",
        "repeat_mae",
        "repeat_psnr_min",
        "seed_mae",
        "seed_psnr_median",
    ]
    repeated = groups[groups["runs"] > 1]
    rows: dict[tuple[Any, Any], dict[str, Any]] = {}
    for (model, extend), g in repeated.groupby(keys, sort=True, dropna=False):
        rows.setdefault((model, extend), {})
        rows[(model, extend)] |= {
            "requests_repeated": len(g),
            "byte_identical": float(g["byte_identical"].mean()),
        }
    for (model, extend, kind), g in pairs.groupby([*keys, "kind"], sort=True, dropna=False):
        row = rows.setdefault((model, extend), {})
        if kind == "repeat":
            row |= {"repeat_mae": g["mae"].mean(), "repeat_psnr_min": g["psnr"].min()}
        else:
            row |= {"seed_mae": g["mae"].mean(), "seed_psnr_median": g["psnr"].median()}
    if not rows:
        return pd.DataFrame(columns=[*keys, *columns]).set_index(keys)
    index = pd.MultiIndex.from_tuples(sorted(rows, key=str), names=keys)
    out = pd.DataFrame([rows[k] for k in index], index=index).reindex(columns=columns)
    out["requests_repeated"] = out["requests_repeated"].fillna(0).astype(int)
    return out.astype({c: np.float64 for c in columns[1:]})


# --------------------------------------------------------------------------------- the report
class ReproReport:
    """``groups`` (per identical request), ``pairs`` (videos compared) and ``summary`` (per model
    and prompt_extend); ``plot()`` draws the summary; it displays itself in a notebook."""

    def __init__(self, groups: pd.DataFrame, pairs: pd.DataFrame) -> None:
        self.groups = groups
        self.pairs = pairs
        self.summary = summarize(groups, pairs)

    def plot(self) -> Any:
        """Frame difference of repeats vs different seeds, and the byte-identical share, per
        model and prompt_extend setting."""
        from wanbook._reports.plots import plot_repro

        return plot_repro(self.summary)

    def __repr__(self) -> str:
        repeated = self.groups[self.groups["runs"] > 1]
        same = int(repeated["byte_identical"].sum()) if len(repeated) else 0
        return (
            f"<ReproReport {len(self.groups)} requests, {len(repeated)} repeated, "
            f"{same} of them byte-identical; {len(self.pairs)} video pairs compared>"
        )

    def _repr_html_(self) -> str:
        text = html.escape(repr(self)[1:-1])
        share = {"byte_identical": lambda v: "—" if v != v else f"{v:.0%}"}  # a share, not 1/0
        table = self.summary.to_html(
            float_format=lambda v: f"{v:.3g}", formatters=share, na_rep="—"
        )
        note = (
            "<p><small><code>byte_identical</code>: the share (%) of repeated requests whose videos are "
            "the same file; <code>*_mae</code>: mean absolute pixel difference (0-255) of sampled "
            "frames; <code>*_psnr</code>: dB (inf = equal). A repeat is reproducible when its "
            "difference is far below that between seeds.</small></p>"
        )
        return f"<h4>Reproducibility</h4><p>{text}</p>{table}{note}"


def reproducibility(
    runs: pd.DataFrame | None = None,
    *,
    session: Any = None,
    samples: int = SAMPLES,
    width: int = WIDTH,
) -> ReproReport:
    """Reproducibility of the runs (default: the whole run log of ``session`` or the default one):
    byte-identical counts per identical request and frame differences of repeats and of seeds."""
    if runs is None:
        if session is None:
            from wanbook._engine.default_session import session as default_session

            session = default_session()
        runs = session.runs(columns="all")
    if session is not None:
        runs = _fetched(runs, session)
    ok = _prepared(runs)
    return ReproReport(_groups(ok), _pairs(ok, samples, width))
