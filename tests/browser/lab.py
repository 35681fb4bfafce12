"""A real JupyterLab in headless Chromium: the browser code of the browser tests and of
``docs/screenshots.py``.

Plain functions over Playwright's sync API and the standard library (no pytest), so a maintainer
script can use them too. Nothing here downloads a browser: Chromium is Debian's
(``apt-get install chromium``), launched by path. Nothing waits a fixed time: every wait is for a
state of the page, with a generous timeout (the machine may be slow and shared).

- :func:`jupyter_lab` starts JupyterLab on 127.0.0.1 with a random token, in a folder of its
  own, without ``DASHSCOPE_*`` (so wanbook uses its embedded emulator) and with a given
  ``WANBOOK_HOME``; it stops the server and its kernels afterwards.
- :func:`launch` starts Chromium with flags that keep it off the network; :func:`offline`
  refuses every request that is not to 127.0.0.1 or a local file, and records it.
- :func:`open_notebook`, :func:`run_cell`, :func:`wait_idle` drive a notebook as a person would.
- :func:`frame_shown` says whether a ``<video>`` shows a picture *as it is on the page* (pixels
  of a screenshot of the element, no seeking, no play); :func:`plays` plays it (muted) and
  reports ``readyState``, ``duration`` and ``currentTime``.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that talks to the internet on its own (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_TIMEOUT = 120.0  # seconds for JupyterLab to answer (a shared, busy machine)


def notebook(cells: list[str]) -> dict[str, Any]:
    """A minimal nbformat 4 notebook of code cells (no outputs)."""
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab: its base URL, token and served folder."""

    base: str
    token: str
    root: Path
    log: Path

    def url(self, notebook_name: str) -> str:
        # reset: a fresh workspace, not the notebooks an earlier page had open
        return f"{self.base}/lab/tree/{notebook_name}?reset&token={self.token}"

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Write ``name`` (an .ipynb) into the served folder; return its URL."""
        (self.root / name).write_text(json.dumps(notebook(cells), indent=1))
        return self.url(name)

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(
            f"{self.base}/api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=30) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Stop every kernel (a finished notebook's kernel holds memory on a small machine)."""
        for kernel in self.api("kernels"):
            with suppress(OSError):
                self.api(f"kernels/{kernel['id']}", method="DELETE")


def lab_env(home: Path, state: Path) -> dict[str, str]:
    """The server's (and so its kernels') environment: no key, no wanbook setting but
    ``WANBOOK_HOME``, and Jupyter's (and wanbook's account-wide) state in ``state``, not the
    user's home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "WANBOOK_"))}
    env.update(
        WANBOOK_HOME=str(home),
        WANBOOK_STATE_DIR=str(state / "wanbook"),
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        IPYTHONDIR=str(state / "ipython"),
    )
    return env


@contextmanager
def jupyter_lab(root: Path, home: Path, state: Path) -> Iterator[Lab]:
    """JupyterLab serving ``root``, with wanbook's run log in ``home`` and its own state in
    ``state``; stopped (with its kernels) on exit, also on failure. Its log is ``state/jupyter.log``."""
    port, token = free_port(), secrets.token_hex(16)
    env = lab_env(home, state)
    # no "receive Jupyter news?" toast over the page
    announcements = state / "settings" / "@jupyterlab" / "apputils-extension"
    announcements.mkdir(parents=True, exist_ok=True)
    (announcements / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
        "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
    ]  # fmt: skip
    if os.geteuid() == 0:  # a container: Jupyter refuses root unless told
        cmd.append("--allow-root")
    log_path = state / "jupyter.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=log, stderr=log, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({server.returncode}); see {log_path}")
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not answer within {SERVER_TIMEOUT:.0f} s; see {log_path}"
                    ) from None
                time.sleep(0.2)  # polling the server's state, not waiting a fixed time
        yield Lab(base, token, root, log_path)
    finally:
        stop(server, f"{base}/api/shutdown?token={token}")


def stop(server: subprocess.Popen[bytes], shutdown_url: str) -> None:
    """Stop the server: politely first (it shuts its kernels down, which run in process groups
    of their own), then its process group by signal."""
    if server.poll() is None:
        with suppress(OSError):
            urllib.request.urlopen(urllib.request.Request(shutdown_url, method="POST"), timeout=10)
        with suppress(subprocess.TimeoutExpired):
            server.wait(30)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if server.poll() is not None:
            break
        with suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            server.wait(15)


def chromium_problem(path: str = CHROMIUM) -> str | None:
    """Why Chromium cannot be used from ``path`` (None when it can)."""
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        found = shutil.which("chromium")
        hint = f" (there is one at {found})" if found else ""
        return f"no Chromium at {path}{hint}: apt-get install -y chromium"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[test]'"
    return None


def launch(pw: Any, path: str = CHROMIUM) -> Any:
    """Debian's Chromium, headless, off the network (never Playwright's own browser)."""
    return pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)


@dataclass
class Offline:
    """Requests a page made to anything but 127.0.0.1 or a local file, refused."""

    refused: list[str] = field(default_factory=list)


def offline(context: Any) -> Offline:
    """Refuse (and record) every request of ``context`` that would leave the machine."""
    record = Offline()

    def route(r: Any) -> None:
        url = r.request.url
        parts = urlsplit(url)
        if parts.scheme in ("file", "data", "blob") or parts.hostname in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            record.refused.append(url)
            r.abort("internetdisconnected")

    context.route("**/*", route)
    return record


# ------------------------------------------------------------------------------ a notebook
def wait_idle(page: Any, timeout: float = 180_000) -> None:
    """Wait until the kernel is connected and idle (the status bar says so)."""
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=timeout)


def open_notebook(page: Any, url: str, *, fold_sidebar: bool = True) -> None:
    """Open a notebook and wait for its kernel; fold the file browser away."""
    page.goto(url, timeout=120_000)
    wait_idle(page)
    if fold_sidebar:
        tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if tab.count():
            tab.first.click()


# The cells of the notebook on show (not those of another tab).
NOTEBOOK_CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"


def run_cell(page: Any, index: int) -> Any:
    """Select cell ``index`` and run it with Shift+Enter (again if the page missed the keys);
    return its locator once the kernel has taken it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cell = page.locator(NOTEBOOK_CELLS).nth(index)
    prompt = cell.locator(".jp-InputArea-prompt")
    for _ in range(20):
        prompt.click()  # command mode, this cell selected
        page.keyboard.press("Shift+Enter")
        try:  # the prompt leaves "[ ]" once the kernel has the cell ("[*]", then "[1]")
            page.wait_for_function(
                "p => !/\\[\\s*\\]/.test(p.textContent)", arg=prompt.element_handle(), timeout=5000
            )
            return cell
        except PlaywrightTimeout:
            continue
    raise RuntimeError(f"cell {index} would not run")


def wait_done(cell: Any, timeout: float = 180_000) -> None:
    """Wait until ``cell`` has run (its prompt shows a number, not ``*``)."""
    prompt = cell.locator(".jp-InputArea-prompt")
    cell.page.wait_for_function(
        "p => /\\[\\d+\\]/.test(p.textContent)", arg=prompt.element_handle(), timeout=timeout
    )


def widget(cell: Any, kind: str, label: str) -> Any:
    """The input of an ipywidgets control by its label (kind: ``textarea``, ``dropdown``,
    ``text``, ``inttext`` ...)."""
    inner = {"textarea": "textarea", "dropdown": "select"}.get(kind, "input")
    return cell.locator(f".widget-{kind}:has(label:text-is('{label}')) {inner}")


# ------------------------------------------------------------------------------ videos
def dark_share(png: bytes) -> float:
    """The share of pixels of a screenshot that are nearly black (luminance under 24 of 255)."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    hist = img.histogram()
    return sum(hist[:24]) / max(1, img.width * img.height)


def frame_shown(video: Any, timeout: float = 60_000, settle: float = 10_000) -> tuple[bool, bytes]:
    """Whether ``video`` shows a picture as the page draws it (no play, no seeking): most of its
    screenshot is not black. First waits up to ``timeout`` ms until the page has loaded what it
    will (the video's metadata, or an error), then up to ``settle`` ms for a picture to be
    drawn. Returns the verdict and the last screenshot."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    video.scroll_into_view_if_needed()
    with suppress(PlaywrightTimeout):
        video.page.wait_for_function(
            # metadata loaded and the network idle (no loading spinner), or nothing to load
            "v => (v.readyState >= 1 && v.networkState !== 2) || v.error || v.networkState === 3",
            arg=video.element_handle(),
            timeout=timeout,
        )
    deadline = time.monotonic() + settle / 1000
    while True:
        shot = video.screenshot(animations="disabled")
        if dark_share(shot) < 0.5:
            return True, shot
        if time.monotonic() > deadline:
            return False, shot
        # the picture is drawn in its own time: poll the pixels, never sleep a fixed time
        video.page.wait_for_timeout(250)


def still(element: Any, timeout: float = 15_000) -> bool:
    """Wait until ``element`` looks the same in two screenshots in a row (a media control's
    loading spinner turns for a moment after a video has loaded); False if it never does."""
    deadline = time.monotonic() + timeout / 1000
    before = element.screenshot()
    while time.monotonic() < deadline:
        element.page.wait_for_timeout(300)  # polling the pixels, not waiting for a fixed time
        now = element.screenshot()
        if now == before:
            return True
        before = now
    return False


# Play a video (muted, so autoplay rules allow it) until its time moves; report its state.
PLAY = """async (v) => {
  v.muted = true;
  let error = null;
  try { await v.play(); } catch (e) { error = String(e); }
  return {error: error || (v.error && v.error.message) || null};
}"""
STATE = """v => ({readyState: v.readyState, duration: v.duration, currentTime: v.currentTime,
                 networkState: v.networkState, error: v.error && v.error.message,
                 src: v.currentSrc})"""


def plays(video: Any, timeout: float = 60_000) -> dict[str, Any]:
    """Play ``video`` and wait until its time has moved past 0.2 s (or ``timeout`` ms); return
    its ``readyState``, ``duration``, ``currentTime``, ``error`` and ``src``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    video.scroll_into_view_if_needed()
    started = video.evaluate(PLAY)
    with suppress(PlaywrightTimeout):
        video.page.wait_for_function(
            "v => v.error || v.currentTime > 0.2", arg=video.element_handle(), timeout=timeout
        )
    state = video.evaluate(STATE)
    state["play_error"] = started["error"]
    with suppress(Exception):
        video.evaluate("v => v.pause()")
    return state
