"""Studies with compare: any request field as an axis (vary), prompt templates (vars), facets,
the size and estimate said before sending, invalid cells reported without stopping the rest."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import wanbook as wb

MODEL = "wan2.2-t2v-plus"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wb.Session]:
    with wb.Session(home=tmp_path_factory.mktemp("axes-home"), quiet=True, emulator=True) as s:
        yield s


@pytest.fixture(scope="module")
def study(session: wb.Session) -> Any:
    """2 animals × 2 models × prompt_extend on/off, one seed: 8 cells, one invalid model-size."""
    return wb.compare(
        "a {animal} in the snow",
        vars={"animal": ["fox", "owl"]},
        models=[MODEL, "wan2.6-t2v"],
        vary={"prompt_extend": [False, True]},
        seeds=[5],
        size="832*480",
        rows="model",
        cols="prompt_extend",
        experiment="axes-study",
        session=session,
    )


def test_every_combination_is_a_cell_with_its_axes(study: Any) -> None:
    assert len(study) == 8
    assert set(study["animal"]) == {"fox", "owl"}
    assert set(study["prompt"]) == {"a fox in the snow", "a owl in the snow"}
    assert set(study["prompt_template"]) == {"a {animal} in the snow"}
    assert sorted(study["prompt_extend"].tolist()) == [False] * 4 + [True] * 4
    ok = study[study["status"] == "SUCCEEDED"]
    assert len(ok) == 4 and set(ok["model"]) == {MODEL}
    bad = study[study["model"] == "wan2.6-t2v"]
    assert bad["run_id"].isna().all() and bad["error"].str.contains("size").all()


def test_the_runs_carry_the_request_field_and_the_variables(
    session: wb.Session, study: Any
) -> None:
    runs = session.runs(experiment="axes-study")
    assert len(runs) == 4
    assert sorted(runs["param_prompt_extend"].tolist()) == [False, False, True, True]
    tags = {run_id: set(t) for run_id, t in runs["tags"].items()}
    for _, row in study.dropna(subset=["run_id"]).iterrows():
        assert f"var:animal={row['animal']}" in tags[row["run_id"]]


def test_more_than_two_axes_make_facets(study: Any) -> None:
    page = study._repr_html_()
    assert page.count('<table class="wanbook-grid"') == 2  # one per animal
    assert "animal=fox" in page and "animal=owl" in page
    assert page.count("<video ") == 4
    regrid = study.grid(rows="animal", cols="prompt_extend")._repr_html_()
    assert regrid.count('<table class="wanbook-grid"') == 2  # one per model


def test_the_study_is_said_before_anything_is_sent(
    session: wb.Session, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(session.runs())
    cells = wb.compare(
        "a {animal}",
        vars={"animal": ["fox", "owl", "cat"]},
        models=[MODEL, "wan2.1-t2v-turbo", "wan2.6-t2v"],
        vary={"duration": [5, 7]},
        seeds=[1],
        size="832*480",
        session=session,
        dry_run=True,
    )
    out = capsys.readouterr().out
    assert len(session.runs()) == before  # nothing sent
    assert "wanbook: compare: 18 cells (3 model × 3 animal × 2 duration)" in out
    assert re.search(r"estimate by model: wan2\.2-t2v-plus: \d+\.\d{4} USD", out)
    assert "estimate by duration: 5:" in out
    assert (
        "not sent: model=wan2.6-t2v, animal=fox, duration=5: size: size '832*480' is not offered"
        in out
    )
    not_sent = [line for line in out.splitlines() if "not sent:" in line]
    assert len(not_sent) == 3 * 2 + 2 * 3  # wan2.6-t2v (its size), and 7 s for the other two
    assert all("duration" in line or "size" in line for line in not_sent)
    assert isinstance(cells, pd.DataFrame) and len(cells) == 18
    assert cells["error"].notna().sum() == len(not_sent)
    assert cells.loc[cells["error"].isna(), "estimate"].gt(0).all()
