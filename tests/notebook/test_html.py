"""Display objects: run cards, grids and progress as HTML — escaped, by file reference, honest cost."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

import wanbook as wb
from wanbook._errors import (
    AmbiguousCreateError,
    BudgetExceededError,
    RateLimitError,
    TaskTimeoutError,
    TransportError,
    ValidationError,
)
from wanbook._notebook.display import run_card
from wanbook._notebook.html import (
    Cell,
    cost_words,
    duration_words,
    error_words,
    grid_html,
    key_params,
    progress_html,
    run_html,
    status_words,
)
from wanbook._notebook.progress import Progress, status_line

EVIL = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One real run on the embedded emulator (module-scoped: rendering it once is enough)."""
    home = tmp_path_factory.mktemp("html-home")
    with wb.Session(home=home, quiet=True, emulator=True) as s:
        yield s.generate(
            f"a fox {EVIL} in the snow",
            model="wan2.2-t2v-plus",
            size="832*480",
            seed=7,
            prompt_extend=False,
        )


def test_run_card_references_the_file_never_its_bytes(run: Any) -> None:
    out = run_card(run.record)
    assert "data:video" not in out
    (src,) = re.findall(r'<video src="([^"]+)"', out)
    assert not src.startswith("/") and src.endswith(f"{run.run_id}.mp4")
    poster = Path(run.video_path).with_name(f"{run.run_id}.jpg")
    assert poster.is_file() and poster.stat().st_size < 50_000
    assert f'href="{src}"' in out  # a link to the file
    for text in (run.run_id, "seed 7", "0.1000 USD", "832×480", "480P", "emulator"):
        assert text in out


def test_the_poster_is_inline_and_small(run: Any) -> None:
    """No poster URL a front end may leave unresolved (JupyterLab does not rewrite ``poster``):
    the poster is a data: URI of a few kilobytes, and it is the only inline bytes."""
    out = run_card(run.record)
    (poster,) = re.findall(r'poster="([^"]+)"', out)
    assert poster.startswith("data:image/jpeg;base64,")
    assert len(poster) < 16_000, len(poster)
    assert out.count("base64,") == 1


def test_a_video_outside_the_served_folder_says_what_to_do(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wanbook._notebook import display

    served = tmp_path / "served"
    served.mkdir()
    monkeypatch.setattr(display, "served_root", lambda: served)
    out = run_card(run.record)
    (line,) = re.findall(r"this video is outside the folder Jupyter serves[^<]*", out)
    assert str(served) in line and "embed=True" in line and "WANBOOK_HOME" in line
    assert "video file</a>" not in out  # no link that cannot resolve
    assert 'poster="data:image/jpeg;base64,' in out  # the picture shows all the same
    monkeypatch.setattr(display, "served_root", lambda: Path(run.video_path).parent.parent)
    assert "outside the folder" not in run_card(run.record)


def test_the_served_folder_is_unknown_outside_a_jupyter_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wanbook._notebook.display import served_root

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert served_root() is None


def test_relative_to_the_notebook_folder(run: Any) -> None:
    home = Path(run.video_path).parent.parent
    out = run_card(run.record, base=home)
    assert f'src="videos/{run.run_id}.mp4"' in out


def test_embedding_only_when_asked(run: Any) -> None:
    out = run_card(run.record, embed=True)
    assert out.count("data:video/mp4;base64,") == 1
    assert "data:image/jpeg;base64," in out  # the poster goes with it


def test_user_text_is_escaped(run: Any) -> None:
    out = run_card(run.record)
    assert "<script" not in out
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in out
    record = {
        "run_id": EVIL,
        "model": EVIL,
        "status": "FAILED",
        "error_code": EVIL,
        "error_message": EVIL,
        "prompt": EVIL,
        "negative_prompt": EVIL,
        "actual_prompt": EVIL + "!",
        "params": {"template": EVIL},
    }
    assert "<script" not in run_html(record, src=f'x.mp4"{EVIL}', link=EVIL, note=EVIL)
    cells = {(EVIL, 1): Cell(record, src="a.mp4", error=EVIL), ("m", 2): Cell(None, error=EVIL)}
    grid = grid_html(cells, [EVIL, "m"], [1, 2], row_title=EVIL, col_title="seed", title=EVIL)
    assert "<script" not in grid and grid.count("&lt;script&gt;") >= 4


@pytest.mark.parametrize(
    ("cost", "currency", "expected"),
    [
        (0.1, "USD", "0.1000 USD"),
        (0.0, "USD", "0.0000 USD"),  # a failed run: nothing billed
        (None, None, "unknown"),
        (math.nan, "USD", "unknown"),  # unknown is never shown as 0
        ("n/a", "USD", "unknown"),
    ],
)
def test_cost_words(cost: Any, currency: Any, expected: str) -> None:
    assert cost_words(cost, currency) == expected


def test_unknown_cost_in_a_card() -> None:
    out = run_html({"run_id": "r", "model": "m", "status": "SUCCEEDED", "cost": None}, src="v.mp4")
    assert "cost unknown" in out and "0.0000" not in out


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        ("PENDING", None, "waiting in the service's queue"),
        ("RUNNING", None, "rendering"),
        ("CANCELED", None, "canceled (not billed)"),
        ("FAILED", "DataInspectionFailed", "content check refused the prompt or the image"),
        ("FAILED", "SomethingNew", "failed at the service (not billed) — SomethingNew"),
        ("AMBIGUOUS", None, "no answer came back"),
        ("STARTING", None, "starting"),
    ],
)
def test_status_words(status: str, code: str | None, words: str) -> None:
    assert words in status_words(status, code, "msg" if code else None)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (ValidationError([wb.Problem("size", "1*1", "size '1*1' is bad")]), "nothing was sent"),
        (BudgetExceededError("refused"), "refused by your budget"),
        (RateLimitError("slow down", status_code=429), "try again shortly"),
        (TransportError("refused"), "could not reach the service"),
        (AmbiguousCreateError("lost"), "never sent twice"),
        (TaskTimeoutError("late"), "wb.resume() collects it"),
        (RuntimeError("boom"), "something went wrong (RuntimeError): boom"),
        (
            wb.BadRequestError(
                "Download failed", status_code=415, code="BadRequest.InputDownloadFailed"
            ),
            "the service refused the request (HTTP 415 BadRequest.InputDownloadFailed: "
            "Download failed); nothing was created or billed",
        ),
        (
            wb.APIError("odd", status_code=409, code="Conflict", request_id="rq-1"),
            "the service refused the request (HTTP 409 Conflict: odd; request_id rq-1)",
        ),
        (wb.AuthenticationError("no", status_code=401), "refused the API key"),
    ],
)
def test_error_words(exc: BaseException, words: str) -> None:
    said = error_words(exc)
    assert words in said
    if isinstance(exc, wb.APIError):
        assert "Error" not in said.replace("Errors", "")  # no Python class name jargon


def test_failed_run_card_says_why_in_plain_words() -> None:
    record = {
        "run_id": "r1",
        "model": "wan2.1-t2v-turbo",
        "status": "FAILED",
        "error_code": "InternalError",
        "error_message": "oops",
        "cost": 0.0,
        "currency": "USD",
    }
    out = run_html(record)
    assert "<video" not in out
    assert "the service failed internally; trying again usually works (InternalError: oops)" in out


def test_key_params_in_reading_order() -> None:
    record = {
        "seed": None,
        "width": 1280,
        "height": 720,
        "tier": "720P",
        "duration": 5.0,
        "has_audio": True,
        "params": {"prompt_extend": False, "shot_type": "multi"},
    }
    assert key_params(record) == [
        ("seed", "random (not recorded)"),
        ("size", "1280×720"),
        ("tier", "720P"),
        ("duration", "5 s"),
        ("audio", "sound"),
        ("prompt_extend", "false"),
        ("shot_type", "multi"),
    ]


def test_grid_labels_and_missing_cells() -> None:
    cells = {("wan2.2-t2v-plus", 1): Cell({"run_id": "a", "status": "SUCCEEDED"}, src="a.mp4")}
    out = grid_html(cells, ["wan2.2-t2v-plus", "wan2.1-t2v-turbo"], [1, None], col_title="seed")
    assert out.count("<tr>") == 3  # head + 2 rows
    assert "seed 1" in out and "seed random" in out and out.count("<video") == 1


@pytest.mark.parametrize(
    ("seconds", "words"), [(None, ""), (2.34, "2.3 s"), (42, "42 s"), (185, "3 min 05 s")]
)
def test_duration_words(seconds: Any, words: str) -> None:
    assert duration_words(seconds) == words


def test_progress_html_and_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert "<progress" in progress_html(3, 12, 1) and "3 of 12 done (1 failed)" in progress_html(
        3, 12, 1
    )
    bar = Progress(2, label="compare", notebook=False)
    bar.step()
    bar.step(failed=True)
    bar.close()
    assert capsys.readouterr().err.startswith("compare: 2 of 2 done (1 failed) in ")
    quiet = Progress(1, quiet=True, notebook=False)
    quiet.step()
    quiet.close()
    assert capsys.readouterr().err == ""


def test_status_line() -> None:
    record = {"seed": 11, "cost": 0.1, "currency": "USD", "run_id": "r"}
    line = status_line("SUCCEEDED", 42.0, record)
    assert line == "✔ SUCCEEDED · done · 42 s · seed 11 · cost 0.1000 USD"  # the card has the id
    assert "could not reach" in status_line("ERROR", 1.0, {}, error_words(TransportError("x")))


@pytest.mark.parametrize(
    ("state", "seen_ago", "line"),
    [
        ("", None, "… STARTING · checking the request and sending it · 1.0 s"),
        ("STARTING", 3.0, "… STARTING · checking the request and sending it · 1.0 s"),
        (
            "PENDING",
            4.0,
            "… PENDING · waiting in the service's queue (last seen 4.0 s ago) · 1.0 s",
        ),
        ("RUNNING", 12.4, "… RUNNING · rendering (last seen 12 s ago) · 1.0 s"),
        ("PENDING", None, "… PENDING · waiting in the service's queue · 1.0 s"),
        ("CANCELED", 4.0, "■ CANCELED · canceled (not billed) · 1.0 s"),
    ],
)
def test_status_line_says_how_old_a_polled_state_is(
    state: str, seen_ago: float | None, line: str
) -> None:
    assert status_line(state, 1.0, {}, seen_ago=seen_ago) == line


def test_ipython_draws_a_run_as_its_card(run: Any) -> None:
    """The run log has no notebook code: the notebook package registers the card with IPython."""
    from types import SimpleNamespace

    from IPython.core.formatters import DisplayFormatter

    from wanbook._notebook.display import register_formatter

    formatter = DisplayFormatter()
    assert register_formatter(SimpleNamespace(display_formatter=formatter))
    data, _ = formatter.format(run)
    assert data["text/html"] == run_card(run.record)
    assert "text/html" not in DisplayFormatter().format(run)[0]  # nothing without registering
