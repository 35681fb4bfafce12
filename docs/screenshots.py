"""Regenerate the README screenshots from a real JupyterLab page in headless Chromium.

A maintainer tool, built on the browser tests' own code (``tests/browser/lab.py``): the same
JupyterLab fixture, the same Chromium (Debian's, by path; Playwright's browser download is never
used), the same way of driving a notebook. ``make install`` puts JupyterLab and Playwright in the
venv (the ``test`` extra), so from the repository root:

    apt-get install -y chromium          # if /usr/bin/chromium is missing
    .venv/bin/python docs/screenshots.py

It starts JupyterLab on a free loopback port with a random token, in a temporary folder whose
``wanbook-runs/`` is ``WANBOOK_HOME`` and without ``DASHSCOPE_API_KEY`` (so the embedded emulator
renders the videos and nothing is billed), opens a notebook, drives it the way a person would
(Shift+Enter, typing, choosing from dropdowns, clicking Generate) and writes:

- ``docs/img/form.png``: ``wb.form()`` after a generation, with the status line and the video;
- ``docs/img/compare.png``: the grid of ``wb.compare(...)``, two models × two seeds;
- ``docs/img/judging.png``: a small study (a prompt template × two models) judged blind, a score
  clicked under each video;
- ``docs/img/study-report.png``: its ``wb.study_report``.

Videos are shown as the page draws them, with no seeking and no play: what a reader of the
notebook sees first. A video that shows no picture is named in a warning (and the screenshot shows
the black box: the README never hides it). Each image is the cell as shown, in a window only as
wide as its outputs need, palette-quantised if that is needed to stay under 400 kB.

Everything it starts (server, kernels, browser) is stopped, also when it fails; the temporary
folder is removed unless it fails (then it holds ``failure.png`` and ``jupyter/jupyter.log``) or
``--keep`` is given. ``--browser PATH`` picks another Chromium.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/browser/lab.py: the browser tests' code

from tests.browser import lab as L  # noqa: E402

IMG = ROOT / "docs" / "img"
MAX_BYTES = 400_000
WIDTH, HEIGHT = 1280, 2000  # tall: a cell is captured only as far as it is on screen

FORM_PROMPT = "a kitten running in the moonlight, soft blue light, shallow depth of field"
FORM_MODEL, FORM_SIZE = "wan2.5-t2v-preview", "832*480"
CELLS = [
    "import wanbook as wb",
    "wb.form()",
    'wb.compare("a red fox running through snow at dawn",\n'
    '           models=["wan2.2-t2v-plus", "wan2.5-t2v-preview"], seeds=[1, 2])',
    'study = wb.compare("a {animal} crossing a frozen lake", vars={"animal": ["fox", "heron"]},\n'
    '                   models=["wan2.2-t2v-plus", "wan2.5-t2v-preview"], seeds=[1],\n'
    '                   rows="model", cols="animal", experiment="frozen-lake", progress=False)\n'
    'study.judge(blind=True, rater="ann")',
    'wb.study_report("frozen-lake")',
]
STUDY_SCORES = ["4", "2", "5", "3"]  # clicked under the videos, in the order shown


def save_png(shot: bytes, path: Path) -> None:
    """Write a screenshot, quantised to a palette when that keeps it under MAX_BYTES."""
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


def check_frames(cell: Any) -> None:
    """Warn about every video of ``cell`` that shows no picture as the page draws it."""
    for i, video in enumerate(cell.locator("video").all()):
        shown, shot = L.frame_shown(video)
        L.still(video)  # no loading spinner in the picture
        if not shown:
            print(
                f"warning: video {i} shows no picture ({L.dark_share(shot):.0%} dark)",
                file=sys.stderr,
            )


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


def settled_width(page: Any, cell: Any, width: int) -> float:
    """The outputs' right edge once the page has laid out at ``width``."""
    page.set_viewport_size({"width": width, "height": HEIGHT})
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return float(cell.evaluate(RIGHT_EDGE))


def capture(page: Any, cell: Any, path: Path) -> None:
    """Screenshot ``cell`` as a reader would see it: no selection bar, no hover highlight, and
    the window only as wide as the outputs need (a README shows images about 880 px wide)."""
    natural = settled_width(page, cell, WIDTH)
    width = int(natural + WIDTH - cell.evaluate("c => c.getBoundingClientRect().right") + 16)
    while width < WIDTH:  # narrower, unless that makes the outputs reflow (a table's columns)
        if settled_width(page, cell, width) >= natural - 1:
            break
        width += 20
    page.keyboard.press("Escape")
    page.locator(L.NOTEBOOK_CELLS).first.locator(".jp-InputArea-prompt").click()
    page.mouse.move(0, 0)
    save_png(cell.screenshot(animations="disabled"), path)


def shoot(lab: L.Lab, browser_path: str, debug: Path) -> None:
    from playwright.sync_api import sync_playwright

    url = lab.write_notebook("shots.ipynb", CELLS)
    with sync_playwright() as pw:
        browser = L.launch(pw, browser_path)
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        L.offline(context)  # the page loads nothing from the internet
        page = context.new_page()
        try:
            L.open_notebook(page, url)
            L.wait_done(L.run_cell(page, 0))

            # (a) the form: type a prompt, choose model and size, Generate, wait for the video
            cell = L.run_cell(page, 1)
            prompt = L.widget(cell, "textarea", "Prompt")
            prompt.wait_for(timeout=120_000)
            L.widget(cell, "dropdown", "Model").select_option(label=FORM_MODEL)
            size = L.widget(cell, "dropdown", "Size")
            option = size.locator("option", has_text=f"{FORM_SIZE} ·")  # once the sizes follow
            option.wait_for(state="attached", timeout=30_000)
            size.select_option(label=option.inner_text())
            prompt.fill(FORM_PROMPT)
            prompt.press("Tab")  # a Textarea syncs on blur as well as on input
            cell.locator("button:has-text('Generate')").click()
            cell.locator("text=SUCCEEDED").wait_for(timeout=180_000)
            cell.locator(".jp-OutputArea-output video").first.wait_for(timeout=60_000)
            check_frames(cell)
            capture(page, cell, IMG / "form.png")

            # (b) the comparison grid (no size: the cheapest one both models offer)
            cell = L.run_cell(page, 2)
            L.wait_done(cell, timeout=300_000)
            check_frames(cell)
            capture(page, cell, IMG / "compare.png")

            # (c) a study judged blind: a score clicked under each video, as a person would
            cell = L.run_cell(page, 3)
            L.wait_done(cell, timeout=300_000)
            check_frames(cell)
            groups = cell.locator(".widget-toggle-buttons")
            for i, score in enumerate(STUDY_SCORES):
                groups.nth(i).locator("button", has_text=score).click()
                cell.locator(f"text=saved: {score} for").wait_for(timeout=30_000)
            capture(page, cell, IMG / "judging.png")

            # (d) its report
            cell = L.run_cell(page, 4)
            L.wait_done(cell, timeout=300_000)
            cell.locator("img[alt='study plots']").wait_for(timeout=60_000)
            capture(page, cell, IMG / "study-report.png")
        except Exception:
            page.screenshot(path=debug, full_page=True)  # what the page looked like
            print(f"failed; the page is in {debug}", file=sys.stderr)
            raise
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--browser", default=L.CHROMIUM, help="a Chromium executable")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    problem = L.chromium_problem(args.browser)
    if problem:
        print(f"screenshots: {problem}", file=sys.stderr)
        return 1
    IMG.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="wanbook-shots-"))
    try:
        root, state = tmp / "work", tmp / "jupyter"
        root.mkdir()
        state.mkdir()
        # inside the served folder, as a person's ./wanbook-runs/ beside the notebook is
        with L.jupyter_lab(root, root / "wanbook-runs", state) as lab:
            shoot(lab, args.browser, tmp / "failure.png")
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
