"""``wb.show(x)``: a run, a run id, a video path, a DataFrame of runs, or a list of them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import wanbook as wb
from wanbook._notebook.show import View

T2V = dict(model="wan2.2-t2v-plus", size="832*480", prompt_extend=False)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A session with three runs: two that succeeded and one that failed at the service."""
    from wanbook.emulator import Faults

    home = tmp_path_factory.mktemp("show-home")
    faults = Faults(task_fail_rate=1.0, task_fail_code="InternalError")
    options = {"faults": faults}
    with wb.Session(home=home, quiet=True, emulator=True, emulator_options=options) as failing:
        failing.generate("never", seed=3, raise_on_failure=False, **T2V)
    with wb.Session(home=home, quiet=True, emulator=True) as s:
        s.generate("a red fox", seed=1, **T2V)
        s.generate("a <b>blue</b> fox", seed=2, **T2V)
        yield s


def _videos(html: str) -> list[str]:
    return re.findall(r'<video src="([^"]+)"', html)


def test_show_a_run_and_its_id(session: Any) -> None:
    run = session.run(session.runs().index[1])
    by_run, by_id = wb.show(run), wb.show(run.run_id, session=session)
    assert isinstance(by_run, View) and len(by_run) == 1
    assert by_run._repr_html_() == by_id._repr_html_()
    (src,) = _videos(by_run._repr_html_())
    assert src.endswith(f"{run.run_id}.mp4") and "data:video" not in by_run._repr_html_()


def test_show_a_path(session: Any) -> None:
    path = Path(session.runs()["video_path"].iloc[1])
    for x in (path, str(path)):
        out = wb.show(x)._repr_html_()
        (src,) = _videos(out)
        assert not src.startswith("/") and src.endswith(path.name)
        assert path.name in out and "MB" in out


def test_show_a_dataframe_of_runs(session: Any) -> None:
    df = session.runs()
    view = wb.show(df, session=session)
    assert len(view) == len(df) == 3
    out = view._repr_html_()
    assert len(_videos(out)) == 2 and "&lt;b&gt;blue&lt;/b&gt;" in out and "<b>blue" not in out
    assert "the service failed internally" in out  # the failed run says so in its card
    one = wb.show(df[df["seed"] == 2], session=session)._repr_html_()
    assert len(_videos(one)) == 1 and "seed 2" in one


def test_show_one_row_of_a_frame(session: Any) -> None:
    """``wb.show(grid.iloc[0])``: a row (a Series) is one run, not an AttributeError."""
    df = session.runs()
    row = df[df["seed"] == 2].iloc[0]
    view = wb.show(row, session=session)
    assert len(view) == 1 and "seed 2" in view._repr_html_()
    assert len(_videos(view._repr_html_())) == 1


def test_dataframe_rows_not_in_this_log_still_show(session: Any, tmp_path: Path) -> None:
    df = session.runs()
    with wb.Session(home=tmp_path, quiet=True, emulator=True) as other:  # an empty log
        out = wb.show(df.reset_index(), session=other)._repr_html_()
    assert len(_videos(out)) == 2 and "seed 1" in out and "832×480" in out
    assert "prompt_extend false" in out  # param_* columns folded back into the parameters


def test_show_a_list_and_embed_on_request(session: Any) -> None:
    runs = [session.run(rid) for rid in session.runs().index[1:]]
    out = wb.show(runs, embed=True)._repr_html_()
    assert out.count("data:video/mp4;base64,") == 2


@pytest.mark.parametrize(
    ("x", "error", "words"),
    [
        ("not-a-run-or-file.mp4", ValueError, "neither a run id"),
        (Path("missing.mp4"), FileNotFoundError, "no video file"),
        (42, TypeError, "cannot show a int"),
    ],
)
def test_bad_input_is_named(session: Any, x: Any, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        wb.show(x, session=session)


def test_unknown_run_id(session: Any) -> None:
    with pytest.raises(KeyError, match="no run"):
        wb.show("0" * 26, session=session)
