"""Shared fixtures: a clean environment for every test, and a test key that must never leak."""

from __future__ import annotations

import os

import pytest

# A key-shaped secret used by tests. `tests/test_no_key_leak.py` greps everything a test run
# writes for it; it must never appear in a file, a log, a repr or an error message.
TEST_API_KEY = "sk-wanbooktest" + "0123456789abcdef0123"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's real settings; every test gets its own WANBOOK_HOME."""
    for name in list(os.environ):
        if name == "DASHSCOPE_API_KEY" or name.startswith("WANBOOK_") or name.startswith("DASHSCOPE_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path_factory.mktemp("wanbook-home")))


@pytest.fixture
def api_key() -> str:
    return TEST_API_KEY
