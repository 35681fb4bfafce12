"""The ``wanbook`` command says what went wrong in one line: a FAILED task's code and message,
usage errors without the usage block, request warnings without Python's file:line format; and
``runs`` filters, ``resume``'s skipped and failed runs.

``main()`` runs in-process (each test has its own WANBOOK_HOME from conftest); the service is an
emulator on loopback reached through WANBOOK_BASE_URL and a test key, as a real user would.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import TEST_API_KEY
from wanbook._cli.main import main
from wanbook._runlog.store import RunLog
from wanbook.emulator import Emulator, Faults

FAST = 1 / 600  # a 5 s task takes well under a second; no outcome below depends on the pace


@pytest.fixture
def failing_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    faults = Faults(task_fail_rate=1.0, task_fail_code="DataInspectionFailed")
    with Emulator(time_scale=FAST, faults=faults, rate_limits=False) as emu:
        monkeypatch.setenv("WANBOOK_BASE_URL", emu.base_url)
        monkeypatch.setenv("DASHSCOPE_API_KEY", TEST_API_KEY)
        yield emu


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(time_scale=FAST, rate_limits=False) as emu:
        monkeypatch.setenv("WANBOOK_BASE_URL", emu.base_url)
        monkeypatch.setenv("DASHSCOPE_API_KEY", TEST_API_KEY)
        yield emu


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert TEST_API_KEY not in out + err
    return code, out, err


GENERATE = ["generate", "--model", "wan2.2-t2v-plus", "--prompt", "a fox", "--seed", "1"]


# --------------------------------------------------------------------------- a FAILED task


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_failed_task_says_its_code_and_message(
    failing_service: Emulator, capsys: pytest.CaptureFixture[str], json_flag: list[str]
) -> None:
    code, out, err = _cli(capsys, *GENERATE, *json_flag)
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(r"wanbook: error: task \S+ FAILED: DataInspectionFailed: \S.*", last), err
    if json_flag:
        record = json.loads(out)
        assert record["status"] == "FAILED" and record["task_id"] in last
        assert record["error_message"] in last
    else:
        assert "FAILED" in out


def test_a_succeeded_task_says_no_error(
    service: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, *GENERATE)
    assert code == 0 and "SUCCEEDED" in out
    assert "wanbook: error" not in err


# --------------------------------------------------------------------------- usage errors

USAGE_ERRORS = [
    (["generate", "--model", "wan2.2-t2v-plus", "--seed", "abc"], "--seed: invalid int value"),
    (
        ["generate", "--model", "wan2.6-t2v", "--size", "1280*720", "--resolution", "720P"],
        "not allowed with argument",
    ),
    (["generate", "--prompt", "p"], "required: --model"),
    (["generate", "--model", "m", "--shot-type", "triple"], "invalid choice: 'triple'"),
    ([], "required: COMMAND"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["runs", "--since", "yesterday"], "'yesterday' is not a time"),
    (["runs", "--limit", "ten"], "--limit: invalid int value"),
    (["runs", "--format", "xml"], "invalid choice: 'xml'"),
    (["runs", "--status", "DONE"], "status"),
]


@pytest.mark.parametrize(
    ("argv", "needle"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS]
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, out, err = _cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("wanbook: error: ") and needle in lines[0]
    assert "usage:" not in err and out == ""


@pytest.mark.parametrize("argv", [["--help"], ["generate", "--help"], ["runs", "--help"]])
def test_help_is_kept(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = _cli(capsys, *argv)
    assert code == 0 and out.startswith("usage: wanbook") and err == ""
    if argv[0] == "runs":
        for flag in ("--since", "--tag", "--backend", "--experiment", "--model", "--status"):
            assert flag in out


# --------------------------------------------------------------------------- warnings


def test_request_warnings_are_one_line_each(
    service: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    long_prompt = "a fox " * 300  # 1800 characters: wan2.2 keeps 800
    code, _, err = _cli(capsys, "generate", "--model", "wan2.2-t2v-plus", "--prompt", long_prompt)
    assert code == 0, err
    warned = [line for line in err.splitlines() if "warning" in line.lower()]
    assert warned == [
        "wanbook: warning: prompt: prompt has 1800 characters; wan2.2-t2v-plus keeps 800 and "
        "the server will silently cut it at 800 characters"
    ]
    assert "RequestWarning" not in err and ".py:" not in err


# --------------------------------------------------------------------------- runs filters


def _log_rows(home: Path) -> dict[str, str]:
    """Five runs of different backends, models, statuses, experiments, tags and ages."""
    now = datetime.now(UTC)
    rows = {
        "old": dict(backend="intl", model="wan2.2-t2v-plus", status="SUCCEEDED", cost=0.5,
                    currency="USD", created_at=now - timedelta(days=10), experiment="a",
                    tags=["x"]),
        "emu": dict(backend="emulator", model="wan2.2-t2v-plus", status="SUCCEEDED", cost=0.5,
                    currency="USD", created_at=now - timedelta(hours=1), experiment="a",
                    tags=["x", "y"]),
        "real": dict(backend="intl", model="wan2.6-t2v", status="SUCCEEDED", cost=1.0,
                     currency="USD", created_at=now - timedelta(hours=2), experiment="b",
                     tags=["y"]),
        "failed": dict(backend="intl", model="wan2.6-t2v", status="FAILED",
                       created_at=now - timedelta(minutes=5), experiment="b", tags=[]),
        "cn": dict(backend="cn", model="wan2.6-t2v", status="SUCCEEDED", cost=2.0,
                   currency="CNY", created_at=now - timedelta(minutes=1), experiment="a",
                   tags=["x"]),
    }  # fmt: skip
    with RunLog.open(home) as log:
        return {name: log.insert(**fields) for name, fields in rows.items()}


RUNS_FILTERS = [
    ([], ["old", "real", "emu", "failed", "cn"]),
    (["--backend", "intl"], ["old", "real", "failed"]),
    (["--backend", "intl", "--backend", "cn"], ["old", "real", "failed", "cn"]),
    (["--backend", "emulator"], ["emu"]),
    (["--model", "wan2.6-t2v"], ["real", "failed", "cn"]),
    (["--status", "failed"], ["failed"]),
    (["--status", "FAILED", "--status", "SUCCEEDED", "--backend", "cn"], ["cn"]),
    (["--experiment", "a"], ["old", "emu", "cn"]),
    (["--tag", "x"], ["old", "emu", "cn"]),
    (["--tag", "x", "--tag", "y"], ["emu"]),
    (["--since", "3h"], ["real", "emu", "failed", "cn"]),
    (["--since", "30m"], ["failed", "cn"]),
    (["--since", (datetime.now(UTC) - timedelta(days=2)).date().isoformat()], ["real", "emu", "failed", "cn"]),
    (["--since", "3h", "--backend", "intl", "--experiment", "b", "--tag", "y"], ["real"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "expected"), RUNS_FILTERS, ids=[" ".join(a) or "all" for a, _ in RUNS_FILTERS]
)
def test_runs_filters(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: list[str],
) -> None:
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path))
    ids = _log_rows(tmp_path)
    code, out, err = _cli(capsys, "runs", "--format", "json", *argv)
    assert code == 0, err
    got = [r["run_id"] for r in json.loads(out)]
    assert got == [ids[name] for name in expected]


def test_runs_table_shows_the_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path))
    ids = _log_rows(tmp_path)
    code, out, _ = _cli(capsys, "runs")
    assert code == 0
    head, *lines = out.splitlines()
    assert head.split()[:4] == ["run_id", "created", "(UTC)", "backend"]
    backend_of = {line.split()[0]: line.split()[3] for line in lines}
    assert backend_of[ids["emu"]] == "emulator" and backend_of[ids["real"]] == "intl"
    assert backend_of[ids["cn"]] == "cn"


# --------------------------------------------------------------------------- resume


def test_resume_without_a_key_says_which_real_runs_it_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path))
    now = datetime.now(UTC)
    with RunLog.open(tmp_path) as log:
        for backend, status in [("intl", "PENDING"), ("intl", "RUNNING"), ("cn", "AMBIGUOUS")]:
            log.insert(backend=backend, model="wan2.6-t2v", status=status, created_at=now)
        log.insert(backend="intl", model="wan2.6-t2v", status="SUCCEEDED", created_at=now,
                   video_path=str(tmp_path / "v.mp4"))  # fmt: skip
    code, _, err = _cli(capsys, "resume")
    assert code == 0, err
    warned = [line for line in err.splitlines() if line.startswith("wanbook: warning:")]
    assert warned == [
        "wanbook: warning: 3 unfinished run(s) of real backends skipped (1 of cn, 2 of intl): "
        "no DASHSCOPE_API_KEY is set; set it and run `wanbook resume` again"
    ]


def test_resume_with_nothing_skipped_says_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path))
    code, _, err = _cli(capsys, "resume")
    assert code == 0 and "0 unfinished run(s) looked at" in err
    assert "warning" not in err and "error" not in err


def test_resume_exits_1_and_says_which_runs_failed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    service: Emulator,
) -> None:
    """A run too old to ask about (over 24 h) cannot be finished: it is reported, exit 1."""
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path))
    with RunLog.open(tmp_path) as log:
        log.insert(
            backend="intl",
            model="wan2.6-t2v",
            status="PENDING",
            task_id="task-from-two-days-ago",
            created_at=datetime.now(UTC) - timedelta(days=2),
        )
    code, out, err = _cli(capsys, "resume")
    assert code == 1, err
    assert "EXPIRED" in out
    errors = [line for line in err.splitlines() if line.startswith("wanbook: error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "wanbook: error: task task-from-two-days-ago EXPIRED"
    ), err


def test_resume_reports_each_run_it_could_not_finish(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``Session.resume`` carries on past a run it cannot finish and raises ResumeError at the
    end: the command prints every run, one error line per failure, and exits 1."""
    from wanbook._engine.session import Session
    from wanbook._errors import DownloadError, ResumeError
    from wanbook._runlog.run import Run

    done = Run({"run_id": "r-done", "status": "SUCCEEDED", "video_path": "/v/1.mp4"})
    stuck = Run({"run_id": "r-stuck", "status": "SUCCEEDED", "task_id": "t-2", "video_path": None})

    def resume(self: Session, **kwargs: object) -> list[Run]:
        raise ResumeError([done, stuck], {"r-stuck": DownloadError("the video URL\nanswered 403")})

    monkeypatch.setattr(Session, "resume", resume)
    code, out, err = _cli(capsys, "resume")
    assert code == 1
    assert out.splitlines() == [
        "run r-done: SUCCEEDED; video: /v/1.mp4",
        "run r-stuck: SUCCEEDED; video: -",
    ]
    errors = [line for line in err.splitlines() if line.startswith("wanbook: error:")]
    assert errors == ["wanbook: error: run r-stuck: DownloadError: the video URL answered 403"]
    assert "2 unfinished run(s) looked at, 1 failed" in err
