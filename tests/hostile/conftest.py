"""Fixtures of the hostile-server suite: the server, a wanbook pointed at it, and the checks every
case ends with (final state in the run log, cost, files left, the key nowhere)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import wanbook as wb
from tests.conftest import TEST_API_KEY
from tests.hostile.server import Hostile, make_video

MODEL = "wan2.2-t2v-plus"  # 0.02 USD/s at 480P in intl: a 5 s video costs 0.10
SIZE = "832*480"
COST = 0.10
NAN = math.nan
LOG_FILES = {"runs.sqlite", "runs.sqlite-wal", "runs.sqlite-shm", "runs.frame.npz"}

_VIDEO: list[bytes] = []


def video_bytes() -> bytes:
    if not _VIDEO:
        _VIDEO.append(make_video())
    return _VIDEO[0]


@dataclass
class World:
    """One case's world: the hostile server, WANBOOK_HOME, and what the case said and raised."""

    srv: Hostile
    home: Path
    tmp: Path
    texts: list[str] = field(default_factory=list)  # everything shown: errors, CLI output

    def session(self, **settings: Any) -> wb.Session:
        """The default session (``wb.generate`` …), made now from the environment."""
        settings.setdefault("quiet", True)
        settings.setdefault("deadline", 30)
        return wb.session(**settings)

    def cli(
        self, *args: str | bytes, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        """``python -m wanbook ARGS`` in a subprocess with this world's environment."""
        proc = subprocess.run(
            [sys.executable, "-m", "wanbook", *args],
            capture_output=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        self.texts += [
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        ]
        return proc


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    with Hostile(key=TEST_API_KEY, video=video_bytes()) as srv:
        monkeypatch.setenv("WANBOOK_HOME", str(home))
        monkeypatch.setenv("WANBOOK_BASE_URL", srv.base_url)
        monkeypatch.setenv("DASHSCOPE_API_KEY", TEST_API_KEY)
        yield World(srv, home, tmp_path)
        wb.session(quiet=True).close()


def left_files(home: Path) -> set[str]:
    """Files under WANBOOK_HOME other than the run log's own."""
    if not home.exists():
        return set()
    return {
        p.relative_to(home).as_posix()
        for p in home.rglob("*")
        if p.is_file() and p.name not in LOG_FILES
    }


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-9


def check_end(
    w: World,
    statuses: Sequence[str],
    costs: Sequence[float],
    videos: Sequence[bool],
    error: BaseException | None,
) -> list[Any]:
    """Every case's ending: each run's final state and cost in the run log (read back through
    ``wb.runs()`` / ``wb.run(id)`` of a new session), the files left, and the key nowhere."""
    wb.session(quiet=True)
    frame = wb.runs()
    runs = [wb.run(run_id) for run_id in frame.index]
    if len(set(statuses)) > 1:  # several outcomes: matched by status, whatever the runs' order
        runs.sort(key=lambda r: list(statuses).index(r.status) if r.status in statuses else -1)
    assert [r.status for r in runs] == list(statuses), [
        (r.status, r.error_code, r.error_message) for r in runs
    ]
    assert all(same(r.cost, c) for r, c in zip(runs, costs, strict=True)), [r.cost for r in runs]
    want = {f"videos/{r.run_id}.mp4" for r, v in zip(runs, videos, strict=True) if v}
    assert left_files(w.home) == want
    for r, v in zip(runs, videos, strict=True):
        assert bool(r.video_path) == v
    shown = list(w.texts)
    if error is not None:
        shown += [str(error), repr(error), repr(getattr(error, "__cause__", None))]
    shown.append(frame.to_csv())
    shown += [repr(r) + repr(r.record) for r in runs]
    assert not [s for s in shown if TEST_API_KEY in s], "the key was shown"
    needle = TEST_API_KEY.encode()
    assert not [p for p in w.tmp.rglob("*") if p.is_file() and needle in p.read_bytes()]
    return runs
