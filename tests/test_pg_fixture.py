"""The PostgreSQL fixture itself: without a server it skips with the reason, and in CI
(WANBOOK_REQUIRE_PG=1 or CI set) it fails instead: a broken set-up cannot pass silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
def test_needs_postgres(pg_url):
    assert pg_url
"""


@pytest.mark.parametrize(
    ("extra", "outcome"),
    [({}, "1 skipped"), ({"WANBOOK_REQUIRE_PG": "1"}, "1 error"), ({"CI": "true"}, "1 error")],
)
def test_without_binaries_it_skips_or_fails_in_ci(
    tmp_path: Path, extra: dict[str, str], outcome: str
) -> None:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "WANBOOK_TEST_PG")}
    env |= {"WANBOOK_TEST_PG_BIN": str(tmp_path / "no-binaries"), "PYTHONPATH": str(ROOT), **extra}
    env.pop("WANBOOK_REQUIRE_PG", None) if "WANBOOK_REQUIRE_PG" not in extra else None
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "tests.conftest",
         f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml"), str(tmp_path / "test_probe.py")],
        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert outcome in done.stdout, done.stdout + done.stderr
    assert "no PostgreSQL binaries" in done.stdout  # the reason is said, in both cases
