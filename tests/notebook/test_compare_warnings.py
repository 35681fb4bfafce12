"""``wb.compare`` checks each request once and says a request warning as one plain line, never as
a Python warning pointing into wanbook's files (warnings are errors in this suite)."""

from __future__ import annotations

import warnings

import pytest

import wanbook as wb


def test_a_long_prompt_is_said_once_as_a_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    prompt = "a red fox in the snow, " * 200  # far beyond what the server keeps
    options = {"time_scale": 1 / 600}
    with wb.Session(quiet=True, emulator_options=options) as s, warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = wb.compare(
            prompt,
            ["wan2.2-t2v-plus", "wan2.1-t2v-turbo"],
            seeds=[1, 2],
            size="832*480",
            prompt_extend=False,
            session=s,
            progress=False,
        )
    assert list(grid["status"]) == ["SUCCEEDED"] * 4
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 2, lines  # once per model (the message names it), not once per seed
    for line, model in zip(lines, ["wan2.2-t2v-plus", "wan2.1-t2v-turbo"], strict=True):
        assert line.startswith(f"wanbook: compare: {model}: prompt:") and "keeps 800" in line
        assert "_batch.py" not in line and "Warning" not in line
