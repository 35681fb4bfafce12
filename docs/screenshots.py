"""Regenerate the README screenshots from a real JupyterLab page in headless Chromium.

A maintainer tool: the tests never run it and wanbook does not depend on anything it uses. It
needs JupyterLab, Playwright and wanbook (editable) in a venv of their own, kept out of the
project's dependencies, and Debian's Chromium (Playwright's own browser download is not used):

    apt-get install -y chromium
    python3 -m venv /work/tools/shotvenv
    /work/tools/shotvenv/bin/pip install jupyterlab playwright -e .
    /work/tools/shotvenv/bin/python docs/screenshots.py      # from the repository root

It starts JupyterLab on a free loopback port with a random token, in a temporary folder whose
``wanbook-runs/`` is ``WANBOOK_HOME`` and without ``DASHSCOPE_API_KEY`` (so the embedded emulator
renders the videos and nothing is billed), opens a notebook in Chromium, drives it the way a
person would (Shift+Enter, typing, choosing from dropdowns, clicking Generate) and writes:

- ``docs/img/form.png``: ``wb.form()`` after a generation, with the status line and the video;
- ``docs/img/compare.png``: the grid of ``wb.compare(...)``, two models × two seeds.

Each video is shown at 2 s, as after a click on its timeline (a more telling frame than the first,
which is what the page shows before play); a video the page cannot load is left as it is and named
in a warning. Each image is the cell as shown, in a window
only as wide as its outputs need, palette-quantised if that is needed to stay under 400 kB.

Everything it starts (server, kernels, browser) is stopped, also when it fails; the temporary
folder is removed unless it fails (then it holds ``failure.png``, the page, and ``jupyter.log``)
or ``--keep`` is given. ``--browser PATH`` picks another Chromium.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

IMG = Path(__file__).resolve().parent / "img"
MAX_BYTES = 400_000
WIDTH, HEIGHT = 1280, 2000  # tall: a cell is captured only as far as it is on screen

FORM_PROMPT = "a kitten running in the moonlight, soft blue light, shallow depth of field"
FORM_MODEL, FORM_SIZE = "wan2.5-t2v-preview", "832*480"
CELLS = [
    "import wanbook as wb",
    "wb.form()",
    'wb.compare("a red fox running through snow at dawn",\n'
    '           models=["wan2.2-t2v-plus", "wan2.5-t2v-preview"], seeds=[1, 2],\n'
    '           size="832*480")',
]


def notebook(cells: list[str]) -> dict:
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


@contextmanager
def jupyter_lab(root: Path, home: Path) -> Iterator[str]:
    """JupyterLab serving ``root`` with wanbook's run log in ``home``; yields the notebook's URL."""
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "WANBOOK_"))}
    state = root.parent / "jupyter"
    env.update(
        WANBOOK_HOME=str(home),
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
    )
    # no "receive Jupyter news?" toast over the page
    announcements = state / "settings" / "@jupyterlab" / "apputils-extension"
    announcements.mkdir(parents=True)
    (announcements / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
        "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    if os.geteuid() == 0:  # a container: Jupyter refuses root unless told
        cmd.append("--allow-root")
    log = (root.parent / "jupyter.log").open("wb")
    server = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=log, stderr=log, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({server.returncode}); see jupyter.log")
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("jupyter lab did not answer within 60 s") from None
                time.sleep(0.3)
        yield f"{base}/lab/tree/shots.ipynb?token={token}"
    finally:
        stop(server, f"{base}/api/shutdown?token={token}")
        log.close()


def stop(server: subprocess.Popen, shutdown_url: str) -> None:
    """Stop the server: politely first (it shuts its kernels down, which run in process groups
    of their own), then its process group by signal."""
    with suppress(OSError):
        urllib.request.urlopen(urllib.request.Request(shutdown_url, method="POST"), timeout=5)
    with suppress(subprocess.TimeoutExpired):
        server.wait(20)
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            server.wait(15)
            return


def save_png(shot: bytes, path: Path) -> None:
    """Write a screenshot, quantised to a palette when that keeps it under MAX_BYTES."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(shot)).convert("RGB")
    for colors in (None, 256, 128):
        buf = io.BytesIO()
        out = img if colors is None else img.quantize(colors, method=Image.Quantize.MEDIANCUT)
        out.save(buf, "PNG", optimize=True)
        if buf.tell() <= MAX_BYTES:
            break
    path.write_bytes(buf.getvalue())
    print(f"{path}: {img.width}x{img.height}, {buf.tell() // 1000} kB")


def run_cell(page: Any, index: int) -> Any:
    """Select cell ``index`` and run it with Shift+Enter (again if the page missed the keys);
    return its locator once the kernel has taken it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputArea-prompt")
    for _ in range(10):
        prompt.click()  # command mode, this cell selected
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(
                "p => !/\\[\\s*\\]/.test(p.textContent)", arg=prompt.element_handle(), timeout=3000
            )
            return cell
        except PlaywrightTimeout:
            continue
    raise RuntimeError(f"cell {index} would not run")


def wait_idle(page: Any, timeout: float = 120_000) -> None:
    """Wait until the kernel is connected and idle (the status bar says so)."""
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=timeout)


# Load a <video> and move it to FRAME_AT seconds, as a click on its timeline would; returns
# null, or why the video cannot be shown.
SEEK = """async (v, t) => {
  const answer = await fetch(v.src, {method: 'HEAD'}).catch(e => null);
  const type = (answer && answer.headers.get('content-type')) || '';
  if (!answer || !answer.ok || !type.startsWith('video/'))
    return `${v.src} answers ${answer ? answer.status + ' ' + type : 'nothing'}, not a video`;
  const once = (ev) => new Promise(r => { v.addEventListener(ev, r, {once: true});
                                          v.addEventListener('error', r, {once: true});
                                          setTimeout(r, 10000); });
  if (v.readyState < 2) { v.preload = 'auto'; const ready = once('loadeddata'); v.load(); await ready; }
  if (v.error) return `${v.getAttribute('src')}: ${v.error.message}`;
  const seeked = once('seeked'); v.currentTime = t; await seeked;
  return v.readyState < 2 ? `${v.getAttribute('src')}: no frame at ${t} s` : null;
}"""
FRAME_AT = 2.0


def show_frames(cell: Any) -> None:
    """Show a frame in every video of ``cell`` (headless Chromium shows no frame until played)."""
    for video in cell.locator("video").all():
        problem = video.evaluate(SEEK, FRAME_AT)
        if problem:
            print(f"warning: a video shows no frame: {problem}", file=sys.stderr)


# The right edge of what the outputs of a cell show (text, controls, media), in page pixels.
RIGHT_EDGE = """c => {
  let right = 0;
  const out = c.querySelector('.jp-Cell-outputWrapper');
  for (const e of out.querySelectorAll('video, img, button, input, select, textarea, canvas'))
    right = Math.max(right, e.getBoundingClientRect().right);
  const walk = document.createTreeWalker(out, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (walk.nextNode()) {
    if (!walk.currentNode.textContent.trim()) continue;
    range.selectNodeContents(walk.currentNode);
    right = Math.max(right, range.getBoundingClientRect().right);
  }
  return right;
}"""


def capture(page: Any, cell: Any, path: Path) -> None:
    """Screenshot ``cell`` as a reader would see it: no selection bar, no hover highlight, and
    the window only as wide as the outputs need (a README shows images about 880 px wide)."""
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.wait_for_timeout(300)
    natural = cell.evaluate(RIGHT_EDGE)
    width = int(natural + WIDTH - cell.evaluate("c => c.getBoundingClientRect().right") + 16)
    while width < WIDTH:  # narrower, unless that makes the outputs reflow (a table's columns)
        page.set_viewport_size({"width": width, "height": HEIGHT})
        page.wait_for_timeout(300)
        if cell.evaluate(RIGHT_EDGE) >= natural - 1:
            break
        width += 20
    page.keyboard.press("Escape")
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-prompt").click()
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)
    save_png(cell.screenshot(animations="disabled"), path)


def shoot(url: str, browser_path: str, debug: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        try:
            page.goto(url)
            wait_idle(page)
            # fold the file browser away: the notebook gets the whole width
            page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
            run_cell(page, 0)
            wait_idle(page)

            # (a) the form: type a prompt, choose model and size, Generate, wait for the video
            cell = run_cell(page, 1)
            prompt = cell.locator(".widget-textarea:has(label:text-is('Prompt')) textarea")
            prompt.wait_for(timeout=60_000)
            model = cell.locator(".widget-dropdown:has(label:text-is('Model')) select")
            model.select_option(label=FORM_MODEL)
            size = cell.locator(".widget-dropdown:has(label:text-is('Size')) select")
            option = size.locator("option", has_text=f"{FORM_SIZE} ·")  # once the sizes follow
            option.wait_for(state="attached", timeout=30_000)
            size.select_option(label=option.inner_text())
            prompt.fill(FORM_PROMPT)
            prompt.press("Tab")  # a Textarea syncs on blur as well as on input
            cell.locator("button:has-text('Generate')").click()
            cell.locator("text=SUCCEEDED").wait_for(timeout=120_000)
            cell.locator("video").wait_for(timeout=60_000)
            show_frames(cell)
            capture(page, cell, IMG / "form.png")

            # (b) the comparison grid
            cell = run_cell(page, 2)
            cell.locator(".jp-OutputArea-output video").nth(3).wait_for(timeout=180_000)
            wait_idle(page)
            show_frames(cell)
            capture(page, cell, IMG / "compare.png")
        except Exception:
            page.screenshot(path=debug, full_page=True)  # what the page looked like
            print(f"failed; the page is in {debug}", file=sys.stderr)
            raise
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--browser", default="/usr/bin/chromium", help="a Chromium executable")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    IMG.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wanbook-shots-"))
    try:
        root = tmp / "work"
        root.mkdir()
        # inside the served folder, so the page can load the videos and posters it references
        home = root / "wanbook-runs"
        (root / "shots.ipynb").write_text(json.dumps(notebook(CELLS), indent=1))
        with jupyter_lab(root, home) as url:
            shoot(url, args.browser, tmp / "failure.png")
    except BaseException:
        args.keep = True  # for failure.png and jupyter.log
        raise
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
