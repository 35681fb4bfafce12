"""Two teammates on two "machines": one PostgreSQL run log (WANBOOK_DB), one S3 store
(WANBOOK_MEDIA, moto), each machine a process of its own with its own WANBOOK_HOME and state
folder, so only the database and the bucket join them.

A makes a video; B, which never downloaded it, lists the run, plays it (a copy fetched from the
store and checked by SHA-256), and reuses it without a new task; a run A was killed in the middle
of is finished by B's `resume`, whose download lands in the store, where A then finds it.
Both machines share this test's disk, so each one's video folder is moved away while the other
works: logged paths are absolute, and a teammate's file must not be found by chance.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY
from tests.engine.test_postgres_log import GENERATE_THEN_DIE
from wanbook.emulator import Emulator

from .conftest import BUCKET, S3_SECRET, Moto, s3_environment

GENERATE = ["generate", "--model", "wan2.2-t2v-plus", "--size", "832*480", "--no-prompt-extend"]

# What machine B does in a notebook: list the team's runs, show one it never downloaded (the card
# plays the copy fetched from the store), and generate the same request again with reuse=True.
NOTEBOOK_B = """
import json, sys, wanbook as wb
s = wb.session(quiet=True)
frame = s.runs()
run = s.run(frame.index[-1])
html = wb.show(run, session=s)._repr_html_()
again = s.generate(sys.argv[1], seed=int(sys.argv[2]), model="wan2.2-t2v-plus",
                   size="832*480", prompt_extend=False, reuse=True)
print(json.dumps({"runs": len(frame), "video": str(s.video_file(run)), "html": html,
                  "reused": again.reused, "same": again.run_id == run.run_id}))
"""


@pytest.fixture(scope="module")
def emu() -> Any:
    with Emulator(time_scale=1 / 20) as e:  # a task takes seconds: long enough to kill a process
        yield e


def _machine(emu: Emulator, root: Path, db: str, media: str, moto: Moto) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANBOOK_", "DASHSCOPE_"))}
    return (
        env
        | s3_environment(moto.url, media)
        | {
            "DASHSCOPE_API_KEY": TEST_API_KEY,
            "WANBOOK_BASE_URL": emu.base_url,
            "WANBOOK_HOME": str(root / "home"),
            "WANBOOK_STATE_DIR": str(root / "state"),
            "WANBOOK_DB": db,
        }
    )


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert S3_SECRET not in done.stdout + done.stderr
    assert TEST_API_KEY not in done.stdout + done.stderr
    return done


def _wanbook(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _run(env, sys.executable, "-m", "wanbook", *args)


def _runs(env: dict[str, str]) -> list[dict[str, Any]]:
    listed = _wanbook(env, "runs", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    return list(json.loads(listed.stdout))


@contextlib.contextmanager
def _away(root: Path) -> Any:
    """The videos of the machine at ``root`` are out of reach (on its own disk) meanwhile."""
    videos = root / "home" / "videos"
    videos.rename(videos.with_name("videos.away"))
    try:
        yield
    finally:
        videos.with_name("videos.away").rename(videos)


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_two_machines_share_the_log_and_the_videos(
    emu: Emulator, pg_url: str, s3: str, moto: Moto, tmp_path: Path
) -> None:
    a = _machine(emu, tmp_path / "a", pg_url, s3, moto)
    b = _machine(emu, tmp_path / "b", pg_url, s3, moto)

    made = _wanbook(a, *GENERATE, "--prompt", "a red fox", "--seed", "3", "--json")
    assert made.returncode == 0, made.stderr
    run = json.loads(made.stdout)
    assert run["status"] == "SUCCEEDED"
    assert Path(run["video_path"]).is_relative_to(tmp_path / "a")
    sha = _sha(run["video_path"])

    # B sees A's run, with its video's address in the team's store
    (seen,) = _runs(b)
    assert seen["run_id"] == run["run_id"]
    assert seen["video_uri"] == f"{s3}/videos/{sha[:2]}/{sha}.mp4"
    tasks_before = len(emu.service.store)

    with _away(tmp_path / "a"):
        shown = _run(b, sys.executable, "-c", NOTEBOOK_B, "a red fox", "3")
    assert shown.returncode == 0, shown.stderr
    out = json.loads(shown.stdout)
    assert out["runs"] == 1 and out["reused"] and out["same"]
    copy = Path(out["video"])
    assert copy.is_relative_to(tmp_path / "b") and _sha(copy) == sha  # B's checked copy
    assert "<video" in out["html"]
    assert len(emu.service.store) == tasks_before  # reuse sent nothing

    # A is killed once its second task is created; B's resume finishes it and stores the video
    killed = _run(a, sys.executable, "-c", GENERATE_THEN_DIE, *GENERATE, "--prompt", "a blue fox")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with _away(tmp_path / "a"):
        resumed = _wanbook(b, "resume")
    assert resumed.returncode == 0, resumed.stderr
    done = next(r for r in _runs(a) if r["prompt"] == "a blue fox")
    assert done["status"] == "SUCCEEDED" and done["video_uri"]
    # A never downloaded it: its notebook fetches B's upload from the store
    with _away(tmp_path / "b"):
        fetched = _run(
            a,
            sys.executable,
            "-c",
            "import sys, wanbook as wb; print(wb.session(quiet=True).video_file(sys.argv[1]))",
            done["run_id"],
        )
    assert fetched.returncode == 0, fetched.stderr
    path = Path(fetched.stdout.strip())
    assert path.is_relative_to(tmp_path / "a") and _sha(path) == done["video_sha256"]
    assert BUCKET in done["video_uri"]
