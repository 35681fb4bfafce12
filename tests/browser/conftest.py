"""Fixtures of the browser tests: Debian's Chromium under Playwright, and one headless
JupyterLab for the whole run, on 127.0.0.1 with a token, without a key (the embedded emulator)
and with a temporary ``WANBOOK_HOME`` inside the folder it serves.

Outside CI (``CI`` unset) a missing Chromium skips these tests and says why; in CI it fails them:
``.ci/run`` installs Chromium, so a missing one there is a broken set-up, not a reason to skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import lab as L
from tests.required import unavailable


@pytest.fixture(scope="session")
def chromium() -> str:
    problem = L.chromium_problem()
    if problem is not None:
        unavailable(f"browser tests need Chromium: {problem}")
    return L.CHROMIUM


@pytest.fixture(scope="session")
def lab_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("lab")
    dirs = {"root": base / "work", "state": base / "jupyter", "outside": base / "outside"}
    for d in dirs.values():
        d.mkdir()
    # inside the served folder, as a person's ./wanbook-runs/ beside their notebook is
    dirs["home"] = dirs["root"] / "wanbook-runs"
    return dirs


@pytest.fixture(scope="session")
def lab(chromium: str, lab_dirs: dict[str, Path]) -> Iterator[L.Lab]:
    with L.jupyter_lab(lab_dirs["root"], lab_dirs["home"], lab_dirs["state"]) as server:
        yield server


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """Playwright and Chromium for one test module. Not for the session: Playwright's sync API
    keeps an event loop running on the main thread while it is open, and the tests that run
    after the browser tests (``asyncio.run``, ``run_sync``) must not find one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = L.launch(pw, chromium)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def context(browser: Any) -> Iterator[tuple[Any, L.Offline]]:
    """A browser context of its own for a test module, with every request that would leave the
    machine refused and recorded (tests never touch the internet)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 1600})
    ctx.set_default_timeout(60_000)
    refused = L.offline(ctx)
    try:
        yield ctx, refused
    finally:
        ctx.close()
