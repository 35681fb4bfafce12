"""The ``wanbook`` command: generate --json, exit codes, runs export, resume, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_API_KEY


def _wanbook(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("WANBOOK_", "DASHSCOPE_"))}
    full_env["WANBOOK_STATE_DIR"] = os.environ["WANBOOK_STATE_DIR"]  # conftest's, not the user's
    full_env["WANBOOK_HOME"] = str(home)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wanbook", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_generate_json_on_embedded_emulator(tmp_path: Path) -> None:
    out = _wanbook(
        "generate",
        "--model",
        "wan2.2-t2v-plus",
        "--prompt",
        "a fox",
        "--size",
        "832*480",
        "--seed",
        "3",
        "--no-prompt-extend",
        "--json",
        home=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    for key in (
        "run_id",
        "task_id",
        "status",
        "model",
        "seed",
        "video_path",
        "billed_seconds",
        "cost",
        "currency",
    ):
        assert key in record, key
    assert record["status"] == "SUCCEEDED" and record["seed"] == 3
    assert Path(record["video_path"]).is_file()
    assert "SUCCEEDED" in out.stderr and "embedded emulator" in out.stderr

    csv = _wanbook("runs", "--format", "csv", home=tmp_path)
    assert csv.returncode == 0 and record["run_id"] in csv.stdout
    rows = json.loads(_wanbook("runs", "--format", "json", home=tmp_path).stdout)
    assert [r["run_id"] for r in rows] == [record["run_id"]]
    table = _wanbook("runs", home=tmp_path)
    assert record["run_id"][:8] in table.stdout
    resumed = _wanbook("resume", home=tmp_path)
    assert resumed.returncode == 0 and "0 unfinished" in resumed.stderr


def test_generate_defaults_to_the_cheapest_tier_says_its_estimate_and_logs_a_seed(
    tmp_path: Path,
) -> None:
    """Like the form: the model's cheapest tier, not its dearest default; the estimate is said
    before anything is sent; a seed is drawn, said and logged, so the run can be repeated."""
    import re

    out = _wanbook(
        "generate", "--model", "wan2.2-t2v-plus", "--prompt", "a fox", "--json", home=tmp_path
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    first = out.stderr.splitlines()[0]
    said = re.fullmatch(
        r"wanbook: wan2\.2-t2v-plus 832\*480 · 480P · 5 s · seed (\d+); "
        r"estimate 0\.1000 USD on the emulator: nothing is billed",
        first,
    )
    assert said, first
    assert record["seed"] == int(said.group(1))
    assert (record["width"], record["height"], record["tier"]) == (832, 480, "480P")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["--model", "wan2.2-t2v-plus", "--prompt", "p", "--size", "1280*720"],
            "size '1280*720' is not offered by wan2.2-t2v-plus",
        ),
        (["--model", "wan9", "--prompt", "p"], "model 'wan9'"),
        (["--model", "wan2.6-i2v-flash", "--image", "/nonexistent/cat.png"], "cat.png"),
        (["--model", "wan2.2-t2v-plus", "--prompt", "p", "--duration", "10"], "duration 10"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_sends_nothing(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    # a key and an unreachable endpoint: had anything been sent, the error would be a transport one
    env = {"DASHSCOPE_API_KEY": TEST_API_KEY, "WANBOOK_BASE_URL": "http://127.0.0.1:9/api/v1"}
    out = _wanbook("generate", *args, home=tmp_path, env=env)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wanbook: error:") and needle in lines[0]
    assert TEST_API_KEY not in out.stderr + out.stdout


def test_other_failures_exit_1(tmp_path: Path) -> None:
    env = {"DASHSCOPE_API_KEY": TEST_API_KEY, "WANBOOK_BASE_URL": "http://127.0.0.1:9/api/v1"}
    out = _wanbook(
        "generate", "--model", "wan2.2-t2v-plus", "--prompt", "p", home=tmp_path, env=env
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("wanbook: error:")
    assert TEST_API_KEY not in out.stderr + out.stdout


# `wanbook demo` (every example notebook, minutes of work) is tested once, in tests/cli/test_demo.py.


def test_several_problems_are_one_line_each(tmp_path: Path) -> None:
    args = ["--model", "wan2.2-t2v-plus", "--prompt", "p", "--size", "1*1", "--duration", "10"]
    out = _wanbook("generate", *args, home=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[0] == "wanbook: error: invalid request for wan2.2-t2v-plus (2 problems):", lines
    assert lines[1].startswith("  - size: size '1*1'") and lines[2].startswith("  - duration:")
    assert len(lines) == 3 and all(len(line) < 200 for line in lines)


def test_runs_never_creates_a_missing_home(tmp_path: Path) -> None:
    home = tmp_path / "nowhere"
    out = _wanbook("runs", home=home)
    assert out.returncode == 0, out.stderr
    assert not home.exists()
    assert "no run log in" in out.stderr and str(home) in out.stderr
    as_json = _wanbook("runs", "--format", "json", home=home)
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == [] and not home.exists()
