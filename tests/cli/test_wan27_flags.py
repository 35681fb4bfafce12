"""The ``wanbook generate`` flags of the newer models: frames, clips, audio, references, edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wanbook._cli.main import split_reference


def _wanbook(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANBOOK_", "DASHSCOPE_"))}
    env["WANBOOK_HOME"] = str(home)
    env["WANBOOK_STATE_DIR"] = os.environ["WANBOOK_STATE_DIR"]  # the test's, never the user's
    return subprocess.run(
        [sys.executable, "-m", "wanbook", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("cat.png", ("cat.png", None)),
        ("cat.png=voice.wav", ("cat.png", "voice.wav")),
        ("cat.png=/tmp/v.mp3", ("cat.png", "/tmp/v.mp3")),
        ("https://e.com/a.mp4=https://e.com/v.mp3", ("https://e.com/a.mp4", "https://e.com/v.mp3")),
        (
            "https://e.com/a.mp4?Expires=1&Signature=x",
            ("https://e.com/a.mp4?Expires=1&Signature=x", None),
        ),
        (
            "https://e.com/a.mp4?Expires=1&Signature=x=https://e.com/v.wav?t=2",
            ("https://e.com/a.mp4?Expires=1&Signature=x", "https://e.com/v.wav?t=2"),
        ),
    ],
)
def test_reference_and_its_voice(value: str, want: tuple) -> None:
    assert split_reference(value) == want


def test_first_and_last_frame_from_the_command_line(tmp_path: Path) -> None:
    from PIL import Image

    first, last = tmp_path / "first.png", tmp_path / "last.png"
    Image.new("RGB", (320, 240), (200, 40, 40)).save(first)
    Image.new("RGB", (320, 240), (40, 40, 200)).save(last)
    out = _wanbook(
        "generate",
        "--model",
        "wan2.7-i2v",
        "--first-frame",
        str(first),
        "--last-frame",
        str(last),
        "--resolution",
        "720P",
        "--duration",
        "2",
        "--json",
        home=tmp_path / "home",
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["status"] == "SUCCEEDED" and record["billed_seconds"] == 2
    logged = [m["field"] for m in record["params"]["media"]]
    assert logged == ["first_frame", "last_frame"]
    assert record["params"]["media"][0]["source"] == str(first)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (
            ["--model", "wan2.7-t2v", "--prompt", "p", "--reference-image", "cat.png"],
            "reference_images",
        ),
        (
            ["--model", "wan2.7-i2v", "--first-clip", "https://e.com/c.mp4", "--ratio", "16:9"],
            "ratio",
        ),
        (
            [
                "--model",
                "wan2.7-videoedit",
                "--video",
                "https://e.com/c.mp4",
                "--audio-setting",
                "keep",
            ],
            "audio_setting",
        ),
        (["--model", "wan2.7-r2v", "--prompt", "p"], "media"),
    ],
)
def test_bad_input_exits_2_naming_the_field(args: list[str], field: str, tmp_path: Path) -> None:
    out = _wanbook("generate", *args, home=tmp_path)
    assert out.returncode == 2, out.stderr
    assert field in out.stderr
