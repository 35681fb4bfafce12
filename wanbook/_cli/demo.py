"""The main job (``make demo`` / ``wanbook demo``): every example notebook, run headless.

Each notebook in ``notebooks/`` is executed with nbclient on the embedded emulator (any key or
base URL in the environment is hidden from the kernel: the demo is a rehearsal and costs nothing)
into one fresh ``WANBOOK_HOME`` inside the output folder, then exported to HTML beside it. The
kernel works in the output folder, so the ``<video src="wanbook-runs/videos/...">`` the notebooks
write resolve from the HTML pages: the videos play straight from disk. An index page lists the
notebooks with their run times; its path is the last line printed. Two notebooks run at a time
(they mostly wait); the cost report runs last, so it reports on the runs of all the others.

Layout of the output folder (``demo-output/`` by default)::

    index.html                   the notebooks, their run times, links
    01_quickstart.html / .ipynb  each notebook, executed (HTML and the notebook itself)
    wanbook-runs/                the run log (runs.sqlite) and videos/ of the whole demo

nbclient, nbconvert and ipykernel are imported when the demo runs (``pip install wanbook[test]``).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from wanbook._errors import WanbookError
from wanbook._portal import run_sync
from wanbook._runlog.dataframe import runs_frame

__all__ = ["NotebookResult", "demo_env", "find_notebooks", "run_demo", "video_sources"]

HOME_NAME = "wanbook-runs"
KERNEL = "python3"  # the venv's kernel (the Makefile installs it with --sys-prefix)
CELL_TIMEOUT = 600.0  # seconds per cell; on the emulator a cell takes seconds
# Notebooks that report on what the others logged run after them (the index keeps name order).
_RUN_LAST = ("04_cost_report",)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colours in tracebacks


@dataclass
class NotebookResult:
    """One executed notebook: where its pages are, how long it took, and whether it failed."""

    name: str
    title: str
    seconds: float
    html: Path
    ipynb: Path
    error: str | None = None
    videos: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


# ------------------------------------------------------------------------------ pure parts
def demo_env(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: no key, no base URL, no other wanbook setting; ``home`` as
    ``WANBOOK_HOME``. Forcing the embedded emulator even when a key is set keeps the demo free.
    ``WANBOOK_STATE_DIR`` (where the user's account-wide state lives) is kept."""
    env = dict(os.environ if environ is None else environ)
    for name in list(env):
        if name.startswith(("DASHSCOPE_", "WANBOOK_")) and name != "WANBOOK_STATE_DIR":
            del env[name]
    env["WANBOOK_HOME"] = str(home)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def execution_order(paths: Iterable[Path]) -> list[Path]:
    """Name order, with the notebooks that report on the run log last."""
    return sorted(paths, key=lambda p: (p.stem in _RUN_LAST, p.name))


def title_of(nb: Any, default: str) -> str:
    """The first heading of the first markdown cell (``# 01 · Quickstart``)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
            break
    return default


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_video = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "video":
            self._in_video = True
        if tag == "video" or (tag == "source" and self._in_video):
            src = dict(attrs).get("src")
            if src:
                self.found.append(src)

    def handle_endtag(self, tag: str) -> None:
        if tag == "video":
            self._in_video = False


def video_sources(page: str | Path) -> list[Path]:
    """Every local video a page references (``<video src>``, ``<source src>``), resolved from
    the page's folder. A ``data:`` or remote source is returned as is, for the caller to refuse."""
    path = Path(page)
    parser = _Sources()
    parser.feed(path.read_text("utf-8"))
    out: list[Path] = []
    for src in dict.fromkeys(parser.found):
        parts = urlsplit(src)
        if parts.scheme in ("", "file"):
            local = Path(unquote(parts.path))
            out.append(local if local.is_absolute() else (path.parent / local).resolve())
        else:
            out.append(Path(src))
    return out


INDEX_VIDEOS = 4  # per notebook, on the index page


def index_html(
    results: Sequence[NotebookResult],
    out: Path,
    home: Path,
    total: float,
    spend: str = "",
    posters: Mapping[Path, str] | None = None,
) -> str:
    """The index page: each notebook with its run time, status and videos (the first few, each
    with its inline ``posters`` picture); the run log and what its runs would have cost
    (``spend``)."""
    from wanbook._notebook.html import video_html

    posters = posters or {}
    rows = []
    for r in results:
        status = "ok" if r.ok else f"failed: {html.escape(r.error or '')}"
        rows.append(
            "<tr>"
            f'<td><a href="{html.escape(_rel(r.html, out))}">{html.escape(r.title)}</a></td>'
            f'<td><a href="{html.escape(_rel(r.ipynb, out))}">{html.escape(r.ipynb.name)}</a></td>'
            f'<td style="text-align:right">{r.seconds:.1f} s</td>'
            f"<td>{len(r.videos)}</td><td>{status}</td></tr>"
        )
        shown = [v for v in dict.fromkeys(r.videos) if v.is_relative_to(out)][:INDEX_VIDEOS]
        if shown:
            strip = "".join(
                '<div style="display:inline-block;margin:0 8px 8px 0;vertical-align:top;'
                f'width:200px">{video_html(quote(_rel(v, out)), posters.get(v), width=200)}</div>'
                for v in shown
            )
            rows.append(f'<tr><td colspan="5">{strip}</td></tr>')
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>wanbook demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .35em .8em; border-bottom: 1px solid #ddd; }}
th {{ text-align: left; }} code {{ background: #f4f4f4; padding: 0 .2em; }}
</style></head><body>
<h1>wanbook demo</h1>
<p>The example notebooks, executed headless on wanbook's <b>embedded emulator</b> (synthetic
videos; nothing was sent to the real service and nothing was billed) on {when}, in
{total:.1f} s. The videos are files in <code>{html.escape(_rel(home, out))}/videos</code>,
referenced by the pages, so they play from this folder.</p>
<table><tr><th>notebook</th><th>executed</th><th>run time</th><th>videos</th><th>status</th></tr>
{"".join(rows)}
</table>
<p>What these runs would have cost on the real service: {html.escape(spend or "unknown")}
(prices as the region would bill them; see the cost report notebook).</p>
<p>Run log: <code>{html.escape(_rel(home / "runs.sqlite", out))}</code> — open it with
<code>WANBOOK_HOME={html.escape(str(home))} wanbook runs</code> or <code>wb.runs()</code>.</p>
</body></html>
"""


# JupyterLab's page without its internet scripts (require.js, MathJax, mermaid and the widget
# manager, all from CDNs): the demo's pages work offline and load nothing from elsewhere.
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""
# Widget views need the widget manager: a widget's own HTML picture (wb.form has one) or its
# text is shown instead.
_PRIORITY = ["text/html", "text/markdown", "image/svg+xml", "image/png", "image/jpeg", "text/plain"]


def offline_html(nb: Any) -> str:
    """``nb`` as a JupyterLab-styled HTML page that loads no script from the internet."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config({"NbConvertBase": {"display_data_priority": _PRIORITY}})
    exporter = HTMLExporter(
        config=config,
        template_name="lab",
        template_file="wanbook_offline.html.j2",
        extra_loaders=[DictLoader({"wanbook_offline.html.j2": _OFFLINE_TEMPLATE})],
    )
    body, _ = exporter.from_notebook_node(nb)
    return str(body)


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base).replace(os.sep, "/")


# ------------------------------------------------------------------------------ I/O
def find_notebooks(where: str | Path | None = None) -> Path:
    """The folder of example notebooks: ``where``, else ``./notebooks``, else the one beside the
    package (a source checkout or an editable install)."""
    candidates = (
        [Path(where)]
        if where is not None
        else [Path.cwd() / "notebooks", Path(__file__).resolve().parents[2] / "notebooks"]
    )
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    raise WanbookError(
        "no example notebooks found in "
        + " or ".join(str(c) for c in candidates)
        + "; run the demo from a wanbook checkout (make demo)"
    )


def _execute(source: Path, out: Path, env: dict[str, str]) -> NotebookResult:
    """Run one notebook in ``out`` (the kernel's working folder); write its .ipynb and .html."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(out)}},
    )
    error = None
    logs = out / ".kernel-logs"
    logs.mkdir(exist_ok=True)
    start = time.perf_counter()
    # The kernel's own stderr (its start-up chatter, a crash) goes to a log file, not the terminal.
    with open(logs / f"{source.stem}.log", "wb") as kernel_log:
        try:
            run_sync(client.async_execute(env=env, cwd=str(out), stderr=kernel_log))
        except CellExecutionError as exc:
            error = _first_line(exc)
        except Exception as exc:  # a kernel that died or never started: report it, go on
            error = f"{type(exc).__name__}: {_first_line(exc)}"
    seconds = time.perf_counter() - start
    nb.metadata.setdefault("wanbook_demo", {})["seconds"] = round(seconds, 2)
    ipynb, page = out / source.name, out / f"{source.stem}.html"
    nbformat.write(nb, ipynb)
    page.write_text(offline_html(nb), "utf-8")
    videos = [v for v in video_sources(page) if v.suffix.lower() in (".mp4", ".webm")]
    return NotebookResult(
        source.stem, title_of(nb, source.stem), seconds, page, ipynb, error, videos
    )


def _execute_all(
    sources: Sequence[Path], out: Path, env: dict[str, str], workers: int, stream: Any
) -> list[NotebookResult]:
    """Run the notebooks, ``workers`` at a time; the reports (``_RUN_LAST``) after all others.

    A notebook mostly waits (for tasks, polls, the emulator's clock), so two kernels at once
    roughly halve the wall time on two cores. Each kernel has its own embedded emulator; they
    share the run log, which several processes may write at once.
    """
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()

    def one(source: Path) -> NotebookResult:
        result = _execute(source, out, env)
        state = "ok" if result.ok else f"FAILED: {result.error}"
        with lock:
            print(
                f"  {result.name:<34} {result.seconds:6.1f} s  {len(result.videos):2d} videos  "
                f"{state}",
                file=stream,
                flush=True,
            )
        return result

    first = [s for s in sources if s.stem not in _RUN_LAST]
    last = [s for s in sources if s.stem in _RUN_LAST]
    # Always on worker threads: each runs its kernel client on a loop of its own, which also
    # works when the caller's thread already runs one (run_demo called from a notebook).
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="wanbook-demo") as pool:
        results = list(pool.map(one, first))
        return results + list(pool.map(one, last))


def _spend(home: Path) -> str:
    """The demo's runs priced as the region would bill them (text), from its run log."""
    from wanbook._reports.costs import cost_report
    from wanbook._runlog.store import RunLog
    from wanbook._spec.prices import PriceTable

    with RunLog.open(home) as log:
        runs = runs_frame(log)
    return cost_report(runs, prices=PriceTable.load()).total_text("emulator")


def _posters(videos: Iterable[Path]) -> dict[Path, str]:
    """A small inline poster (``data:`` URI) for each video that can be read."""
    from wanbook._notebook.display import ensure_poster, media_src

    out = {}
    for video in videos:
        poster = ensure_poster(video)
        if poster is not None:
            out[video] = media_src(poster, embed=True)
    return out


def _check_tools() -> None:
    """Fail with one clear line (not a traceback) when the notebook tools are not installed."""
    import importlib.util

    missing = [
        m for m in ("nbclient", "nbconvert", "ipykernel") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise WanbookError(
            f"wanbook demo needs {', '.join(missing)} to run the notebooks: "
            "pip install 'wanbook[test]' (make demo does)"
        )


def _first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc))
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # nbclient's message ends with the exception line ("ValueError: ..."); that says the most
    return (lines[-1] if lines else type(exc).__name__)[:300]


def run_demo(
    out: str | Path | None = None,
    *,
    notebooks: str | Path | None = None,
    only: Sequence[str] | None = None,
    workers: int = 2,
    stream: Any = None,
) -> int:
    """Execute the example notebooks on the emulator into ``out`` (default ``demo-output``),
    export them to HTML, write the index page and print its path. 0 if every notebook ran.

    ``only`` limits the run to notebooks whose names start with one of its items (tests);
    ``workers`` notebooks run at once.
    """
    stream = stream or sys.stdout
    _check_tools()
    folder = find_notebooks(notebooks)
    out_dir = Path(out or "demo-output").resolve()
    home = out_dir / HOME_NAME
    if home.exists():
        shutil.rmtree(home)  # a fresh run log: the index must describe this demo only
    home.mkdir(parents=True)
    env = demo_env(home)
    sources = [
        p
        for p in execution_order(folder.glob("*.ipynb"))
        if not only or any(p.stem.startswith(o) for o in only)
    ]
    if not sources:
        raise WanbookError(f"no notebook in {folder} matches {list(only or [])}")
    print(
        f"wanbook demo: {len(sources)} notebooks on the embedded emulator -> {out_dir}", file=stream
    )
    start = time.perf_counter()
    results = _execute_all(sources, out_dir, env, workers, stream)
    total = time.perf_counter() - start
    results.sort(key=lambda r: r.name)
    index = out_dir / "index.html"
    posters = _posters(v for r in results for v in r.videos[:INDEX_VIDEOS])
    index.write_text(index_html(results, out_dir, home, total, _spend(home), posters), "utf-8")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"wanbook demo: {len(failed)} notebook(s) failed: {', '.join(failed)}", file=stream)
    print(f"wanbook demo: done in {total:.1f} s; open the index page:", file=stream)
    print(index, file=stream, flush=True)
    return 1 if failed else 0
