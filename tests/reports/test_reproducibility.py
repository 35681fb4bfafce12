"""Reproducibility measures: grouping by identical request, byte-identical counts, frame differences."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import wanbook as wb
from wanbook._reports.reproducibility import (
    _sample_indices,
    compare_frames,
    frame_difference,
    request_groups,
    video_frames,
    video_pairs,
)

FOX = dict(model="wan2.2-t2v-plus", size="832*480")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Real emulator runs: seed 1 twice and seed 2 once with prompt_extend off, seed 1 twice on."""
    home = tmp_path_factory.mktemp("repro-home")
    with wb.Session(home=home, emulator=True, quiet=True) as s:
        for seed, extend in [(1, False), (1, False), (2, False), (1, True), (1, True)]:
            s.generate("a red fox in the snow", seed=seed, prompt_extend=extend, **FOX)
        return s.runs(columns="all")


# ------------------------------------------------------------------------------- pure parts
@pytest.mark.parametrize(
    ("total", "samples", "expected"),
    [
        (150, 8, [0, 21, 43, 64, 85, 106, 128, 149]),
        (150, 1, [0]),
        (3, 8, [0, 1, 2]),
        (1, 8, [0]),
        (0, 8, []),
    ],
)
def test_sample_indices_spread_over_the_video(
    total: int, samples: int, expected: list[int]
) -> None:
    assert _sample_indices(total, samples) == expected


@pytest.mark.parametrize(
    ("a", "b", "mae", "psnr"),
    [
        (0, 0, 0.0, math.inf),
        (0, 10, 10.0, 10 * math.log10(255**2 / 100)),
        (200, 0, 200.0, 10 * math.log10(255**2 / 200**2)),
    ],
)
def test_compare_frames_mae_and_psnr(a: int, b: int, mae: float, psnr: float) -> None:
    fa = np.full((4, 6, 8, 3), a, np.uint8)
    fb = np.full((3, 6, 8, 3), b, np.uint8)  # the shorter stack decides how many are compared
    diff = compare_frames(fa, fb)
    assert diff.frames == 3 and diff.mae == pytest.approx(mae) and diff.psnr == pytest.approx(psnr)


def test_compare_frames_refuses_different_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(6, 8, 3\) and \(6, 9, 3\)"):
        compare_frames(np.zeros((1, 6, 8, 3), np.uint8), np.zeros((1, 6, 9, 3), np.uint8))
    assert compare_frames(np.zeros((0, 2, 2, 3)), np.zeros((1, 2, 2, 3))).frames == 0


# ------------------------------------------------------------------------------- real videos
def test_video_frames_are_small_and_sampled(study: pd.DataFrame) -> None:
    path = study["video_path"].iloc[0]
    frames = video_frames(path, samples=5, width=160)
    assert frames.shape == (5, 92, 160, 3) and frames.dtype == np.uint8  # 832x480 -> 160x92
    assert frames.std() > 1  # a picture, not a blank
    with pytest.raises(ValueError, match="samples=0"):
        video_frames(path, samples=0)


def test_frame_difference_of_real_videos(study: pd.DataFrame) -> None:
    paths = study["video_path"].tolist()
    same = frame_difference(paths[0], paths[1])
    assert (same.mae, same.psnr) == (0.0, math.inf)
    other_seed = frame_difference(paths[0], paths[2])
    assert other_seed.frames == 8 and 1.0 < other_seed.mae < 255 and other_seed.psnr < 40


def test_groups_count_byte_identical_repeats(study: pd.DataFrame) -> None:
    groups = request_groups(study)
    got = sorted(
        zip(
            groups["seed"],
            groups["prompt_extend"],
            groups["runs"],
            groups["distinct_videos"],
            groups["byte_identical"],
            strict=True,
        )
    )
    assert got == [
        (1, False, 2, 1, True),  # same seed, no rewrite: the same file twice
        (1, True, 2, 2, False),  # prompt_extend rewrites differ per task
        (2, False, 1, 1, pd.NA),  # made once: nothing to say
    ]


def test_pairs_compare_repeats_and_seeds(study: pd.DataFrame) -> None:
    pairs = video_pairs(study)
    kinds = sorted(zip(pairs["prompt_extend"], pairs["kind"], pairs["byte_identical"], strict=True))
    assert kinds == [(False, "repeat", True), (False, "seed", False), (True, "repeat", False)]
    repeat_on = pairs[(pairs["kind"] == "repeat") & pairs["prompt_extend"]].iloc[0]
    assert repeat_on["mae"] > 0 and math.isfinite(repeat_on["psnr"])
    repeat_off = pairs[(pairs["kind"] == "repeat") & ~pairs["prompt_extend"].astype(bool)].iloc[0]
    assert (repeat_off["mae"], repeat_off["psnr"]) == (0.0, math.inf)


def test_summary_plot_and_html(study: pd.DataFrame) -> None:
    report = wb.reproducibility(study)
    summary = report.summary
    off = summary.loc[("wan2.2-t2v-plus", False)]
    on = summary.loc[("wan2.2-t2v-plus", True)]
    assert off["requests_repeated"] == 1 and off["byte_identical"] == 1.0 and off["repeat_mae"] == 0
    assert off["seed_mae"] > 0
    assert on["byte_identical"] == 0.0 and on["repeat_mae"] > 0 and math.isnan(on["seed_mae"])
    fig = report.plot()
    assert len(fig.axes) == 2
    fig.savefig(io.BytesIO(), format="png")
    share = fig.axes[1]  # the "100%" label stands clear: no legend over it, room above
    assert "100%" in [t.get_text() for t in share.texts]
    assert share.get_legend() is None and share.get_ylim()[1] > 110
    page = report._repr_html_()
    assert "3 requests, 2 repeated, 1 of them byte-identical" in page
    # the byte-identical share is a share beside the count, not a bare 1 or 0
    assert "<td>100%</td>" in page and "<td>0%</td>" in page


def test_default_view_without_hashes_or_fingerprint(study: pd.DataFrame) -> None:
    """The default wb.runs() view has no video_sha256: hashes are read from the files; without a
    fingerprint column the request key is built from the columns."""
    df = study.drop(columns=["video_sha256", "fingerprint"])
    got = request_groups(df)
    assert sorted(got["runs"]) == [1, 2, 2]
    assert sorted(got["distinct_videos"]) == [1, 1, 2]


def test_missing_videos_and_failures_are_left_out(study: pd.DataFrame, tmp_path: Path) -> None:
    df = study.copy()
    df.loc[df.index[4], "video_path"] = str(tmp_path / "missing.mp4")
    df["status"] = df["status"].astype(object)
    df.loc[df.index[3], "status"] = "FAILED"
    groups = request_groups(df)
    assert groups["runs"].sum() == 3  # two of five runs have no video to compare
    with pytest.raises(ValueError, match="missing column 'video_path'"):
        request_groups(df.drop(columns=["video_path"]))


def test_reproducibility_reads_the_session_log(study: pd.DataFrame, tmp_path: Path) -> None:
    with wb.Session(home=tmp_path, emulator=True, quiet=True) as s:
        report = wb.reproducibility(session=s)
    assert report.groups.empty and report.pairs.empty and report.summary.empty
    report.plot().savefig(io.BytesIO(), format="png")
    assert "0 requests" in repr(report)


def test_an_unreadable_video_has_an_unknown_difference(study: pd.DataFrame, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(wb.DownloadError, match="broken.mp4 could not be read"):
        video_frames(broken)
    df = study.iloc[[0, 1]].copy()
    df.loc[df.index[1], "video_path"] = str(broken)
    df["video_sha256"] = None  # hashed from the files: they differ
    (pair,) = video_pairs(df).to_dict("records")
    assert pair["kind"] == "repeat" and not pair["byte_identical"]
    assert math.isnan(pair["mae"]) and math.isnan(pair["psnr"])
