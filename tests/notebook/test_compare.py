"""``wb.compare``: models × seeds concurrently on the emulator, a grid, and a DataFrame of runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import wanbook as wb

PROMPT = "a red fox <i>in</i> the snow"
MODELS = ["wan2.2-t2v-plus", "wan2.1-t2v-turbo"]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wb.Session]:
    home = tmp_path_factory.mktemp("compare-home")
    with wb.Session(home=home, quiet=True, emulator=True) as s:
        yield s


@pytest.fixture(scope="module")
def grid(session: wb.Session) -> Any:
    """2 models that take 832*480 and one that does not (wan2.6-t2v: 720P and up) × 2 seeds."""
    return wb.compare(
        PROMPT,
        models=[*MODELS, "wan2.6-t2v"],
        seeds=[1, 2],
        size="832*480",
        prompt_extend=False,
        session=session,
        experiment="fox",
    )


def test_the_result_is_a_dataframe_of_the_runs(grid: Any, session: wb.Session) -> None:
    assert isinstance(grid, pd.DataFrame) and len(grid) == 6
    assert list(grid["model"]) == [m for m in [*MODELS, "wan2.6-t2v"] for _ in (1, 2)]
    assert list(grid["seed"]) == [1, 2] * 3
    ok = grid[grid["status"] == "SUCCEEDED"]
    assert type(ok) is pd.DataFrame and len(ok) == 4  # derived frames are plain DataFrames
    costs = grid.groupby("model")["cost"].sum()
    assert costs["wan2.2-t2v-plus"] == pytest.approx(0.2)
    assert costs["wan2.1-t2v-turbo"] == pytest.approx(0.36)
    assert ok["seconds"].gt(0).all() and ok["video_path"].notna().all()
    logged = session.runs(experiment="fox")
    assert set(logged.index) == set(ok["run_id"])  # the invalid cells sent nothing


def test_partial_failures_stay_in_their_cells(grid: Any) -> None:
    bad = grid[grid["model"] == "wan2.6-t2v"]
    assert list(bad["status"]) == ["ERROR", "ERROR"] and bad["run_id"].isna().all()
    assert all("size '832*480' is not offered by wan2.6-t2v" in e for e in bad["error"])
    assert pd.isna(bad["cost"]).all()  # nothing ran: no cost, and never a made-up 0


def test_grid_html(grid: Any) -> None:
    html = grid._repr_html_()
    assert html.startswith('<table class="wanbook-grid"')
    assert len(re.findall(r"<video ", html)) == 4 and "data:video" not in html
    assert "<i>" not in html and "a red fox &lt;i&gt;in&lt;/i&gt; the snow" in html
    for label in (*MODELS, "seed 1", "seed 2", "model \\ seed", "0.1000 USD", "0.1800 USD"):
        assert label in html
    assert html.count("is not offered by wan2.6-t2v") == 2
    assert len(html) < 40_000  # four small inline posters (a few kB each), no video bytes


def test_grid_axes_can_be_swapped(grid: Any) -> None:
    html = grid.grid(rows="seed", cols="model")._repr_html_()
    header = html[html.index("<thead>") : html.index("</thead>")]
    assert all(m in header for m in MODELS) and "seed \\ model" in header
    assert wb.show(grid)._repr_html_().count("<video ") == 4


def test_default_seed_is_one_drawn_for_all_models(session: wb.Session) -> None:
    out = wb.compare("a fox", models=MODELS, size="832*480", session=session)
    assert out["seed"].nunique() == 1 and out["seed"].notna().all()
    assert (out["status"] == "SUCCEEDED").all()


def test_progress_line_in_plain_python(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with wb.Session(home=tmp_path, emulator=True, emulator_options={}) as s:
        s.endpoint()  # start the emulator first; its banner is not what is tested here
        capsys.readouterr()
        wb.compare("a fox", models=MODELS[:1], seeds=[1], size="832*480", session=s)
    err = capsys.readouterr().err
    assert re.fullmatch(r"compare: 1 of 1 done in \d+\.\d s\n", err)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(rows="size"), "'size' is not an axis"),
        (dict(models=[]), "models is empty"),
        (dict(seeds=[1, 1]), "some cells repeat"),
        (dict(vary={"colour": ["red"]}), "vary={'colour': ...} is not a request field"),
        (dict(vary={"size": "832*480"}), "must be a list of values"),
        (dict(vary={"seed": [1, 2]}), "give seed as its own argument"),
        (dict(vars={"model": ["x"]}), "clashes with the axis 'model'"),
    ],
)
def test_bad_layout_fails_before_anything_is_sent(
    session: wb.Session, kwargs: dict[str, Any], words: str
) -> None:
    args: dict[str, Any] = dict(prompt="p", models=MODELS, seeds=[1], session=session)
    args.update(kwargs)
    before = len(session.runs())
    with pytest.raises(ValueError, match=re.escape(words)):
        wb.compare(**args)
    assert len(session.runs()) == before


def test_prompts_as_an_axis(session: wb.Session) -> None:
    out = wb.compare(
        ["a fox", "a cat"],
        models=MODELS[:1],
        seeds=[3],
        rows="prompt",
        cols="model",
        size="832*480",
        session=session,
    )
    assert list(out["prompt"]) == ["a fox", "a cat"] and (out["status"] == "SUCCEEDED").all()
    html = out._repr_html_()
    assert "prompt \\ model" in html and html.count("<video ") == 2


def test_every_cell_invalid_sends_nothing(session: wb.Session) -> None:
    before = len(session.runs())
    out = wb.compare("p", models=["wan2.6-t2v"], seeds=[1, 2], size="832*480", session=session)
    assert list(out["status"]) == ["ERROR", "ERROR"] and len(session.runs()) == before
    assert out._repr_html_().count("nothing was sent") == 2


# ---------------------------------------------------------------- one size and tier for all
def test_without_a_size_every_model_gets_the_cheapest_size_they_share(
    session: wb.Session,
) -> None:
    """Like with like, and cheap: not each model's own (dearest) default."""
    out = wb.compare("a fox", models=["wan2.2-t2v-plus", "wan2.5-t2v-preview"], seeds=[1],
                     session=session, prompt_extend=False)  # fmt: skip
    assert set(zip(out["width"], out["height"], out["tier"], strict=True)) == {(832, 480, "480P")}
    assert "832*480 · 480P" in out._repr_html_()  # the grid says what it compares at


def test_the_grid_shows_a_given_size_and_its_tier(grid: Any) -> None:
    assert "832*480 · 480P" in grid._repr_html_()


def test_models_that_share_no_size_are_refused_with_the_choices(session: wb.Session) -> None:
    with pytest.raises(ValueError, match=r"share no size.*wan2\.1-t2v-plus: 720P\)"):
        wb.compare("a fox", models=["wan2.2-t2v-plus", "wan2.1-t2v-plus"], session=session)


@pytest.mark.parametrize(
    ("models", "want"),
    [
        (["wan2.2-t2v-plus", "wan2.1-t2v-turbo"], {"size": "832*480"}),
        (["wan2.6-t2v"], {"size": "1280*720"}),
        (["wan2.1-t2v-turbo", "wan2.6-t2v"], {"size": "1280*720"}),
        (["wan2.2-i2v-plus", "wan2.2-i2v-flash"], {"resolution": "480P"}),
        (["wan2.2-t2v-plus", "wan2.2-i2v-plus"], {}),  # mixed kinds: each its own default
        (["wan2.7-t2v"], {"resolution": "720P"}),  # a text-to-video model asked for a tier
        (["wan2.7-t2v", "wan2.6-t2v"], {}),  # one takes a size, one a tier
    ],
)
def test_shared_setting(models: list[str], want: dict[str, str]) -> None:
    from wanbook._spec.model_choice import shared_setting

    assert shared_setting(models) == want
