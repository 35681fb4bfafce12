"""Shared fixtures: a clean environment for every test, and a test key that must never leak."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# A key-shaped secret used by tests. `pytest_sessionfinish` below greps everything a test run
# writes for it; it must never appear in a file, a log, a repr or an error message.
TEST_API_KEY = "sk-wanbooktest" + "0123456789abcdef0123"


_STATE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Sessions made before a test's own environment (module-scoped fixtures) keep their
    account-wide state here too, never in the user's real state folder."""
    _STATE.append(tempfile.mkdtemp(prefix="wanbook-test-state-"))
    os.environ["WANBOOK_STATE_DIR"] = _STATE[-1]


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.pop("WANBOOK_STATE_DIR", None)
    while _STATE:
        shutil.rmtree(_STATE.pop(), ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's real settings; every test gets its own WANBOOK_HOME and its
    own account-wide state (WANBOOK_STATE_DIR: never the user's real one)."""
    for name in list(os.environ):
        if (
            name == "DASHSCOPE_API_KEY"
            or name.startswith("WANBOOK_")
            or name.startswith("DASHSCOPE_")
            or name.startswith("AWS_")  # never the developer's own object store or keys
        ):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path_factory.mktemp("wanbook-home")))
    monkeypatch.setenv("WANBOOK_STATE_DIR", str(tmp_path_factory.mktemp("wanbook-state")))


@pytest.fixture
def api_key() -> str:
    return TEST_API_KEY


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the whole run: grep everything the tests wrote for the test key. It must be absent."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    try:
        base = factory.getbasetemp()
    except (OSError, ValueError):
        return
    needle = TEST_API_KEY.encode()
    leaks = [
        str(path)
        for path in base.rglob("*")
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes()
    ]
    if leaks:
        session.config.get_terminal_writer().line(
            f"THE TEST API KEY LEAKED into {len(leaks)} file(s): {leaks[:5]}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
