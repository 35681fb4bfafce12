"""The browser tests' set-up, without a browser: why Chromium cannot be used is said in one line,
and outside CI a missing Chromium skips the browser tests (in CI it fails them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser import lab as L


def test_a_missing_chromium_is_named_with_the_command_that_installs_it(tmp_path: Path) -> None:
    problem = L.chromium_problem(str(tmp_path / "chromium"))
    assert problem is not None and str(tmp_path / "chromium") in problem
    assert "apt-get install -y chromium" in problem


def test_the_launch_flags_keep_chromium_off_the_network() -> None:
    for flag in ("--headless", "--no-sandbox", "--disable-background-networking"):
        assert flag in L.CHROMIUM_ARGS
    assert "--disable-component-update" in L.CHROMIUM_ARGS and "--disable-sync" in L.CHROMIUM_ARGS


def test_the_lab_has_no_key_and_its_own_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-not-for-the-lab")
    monkeypatch.setenv("WANBOOK_BASE_URL", "http://127.0.0.1:9/api/v1")
    env = L.lab_env(tmp_path / "home", tmp_path / "state")
    assert "DASHSCOPE_API_KEY" not in env and "WANBOOK_BASE_URL" not in env
    assert env["WANBOOK_HOME"] == str(tmp_path / "home")
    assert env["JUPYTER_CONFIG_DIR"].startswith(str(tmp_path / "state"))
    assert env["WANBOOK_STATE_DIR"].startswith(str(tmp_path / "state"))
    assert os.environ["DASHSCOPE_API_KEY"] == "sk-not-for-the-lab"  # the test's own env untouched


@pytest.mark.parametrize(
    ("png_color", "dark"), [((0, 0, 0), 1.0), ((17, 17, 17), 1.0), ((120, 90, 200), 0.0)]
)
def test_dark_share_of_a_screenshot(png_color: tuple[int, int, int], dark: float) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), png_color).save(buf, "PNG")
    assert L.dark_share(buf.getvalue()) == dark


def test_no_event_loop_is_left_running_on_the_main_thread() -> None:
    """Playwright's sync API runs a loop on the main thread while it is open: the browser is
    closed with its test module, so the tests after these can still call ``asyncio.run``."""
    import asyncio

    with pytest.raises(RuntimeError, match="no running event loop"):
        asyncio.get_running_loop()
