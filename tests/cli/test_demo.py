"""The main job: ``make demo`` executes every notebook on the emulator and indexes playable pages."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY
from wanbook._cli.demo import (
    HOME_NAME,
    NotebookResult,
    demo_env,
    execution_order,
    index_html,
    video_sources,
)
from wanbook._media.videos import probe
from wanbook._runlog.store import RunLog

NOTEBOOKS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb")
)


# ------------------------------------------------------------------------------- pure parts
def test_demo_env_hides_every_key_and_setting(tmp_path: Path) -> None:
    environ = {
        "DASHSCOPE_API_KEY": TEST_API_KEY,
        "DASHSCOPE_HTTP_BASE_URL": "https://example.invalid",
        "WANBOOK_BASE_URL": "https://proxy.example/api/v1",
        "WANBOOK_REGION": "cn",
        "WANBOOK_HOME": "/elsewhere",
        "PATH": "/usr/bin",
    }
    env = demo_env(tmp_path, environ)
    assert env["WANBOOK_HOME"] == str(tmp_path) and env["PATH"] == "/usr/bin"
    assert not [k for k in env if k.startswith("DASHSCOPE_")]
    assert [k for k in env if k.startswith("WANBOOK_")] == ["WANBOOK_HOME"]
    # where the user's account-wide state lives is not a setting of the run: it is kept
    kept = demo_env(tmp_path, {**environ, "WANBOOK_STATE_DIR": "/state"})
    assert kept["WANBOOK_STATE_DIR"] == "/state"


def test_reports_run_after_the_notebooks_they_report_on() -> None:
    names = ["05_image_to_video", "04_cost_report", "01_quickstart", "03_x", "02_y"]
    got = [p.stem for p in execution_order(Path(f"{n}.ipynb") for n in names)]
    assert got == ["01_quickstart", "02_y", "03_x", "05_image_to_video", "04_cost_report"]


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ('<video src="wanbook-runs/videos/a.mp4"></video>', ["wanbook-runs/videos/a.mp4"]),
        ('<video controls><source src="v/b%20c.mp4" type="video/mp4"></video>', ["v/b c.mp4"]),
        ('<video src="x.mp4"></video><video src="x.mp4"></video>', ["x.mp4"]),  # once each
        ('<img src="p.jpg"><source src="not-in-a-video.mp4">', []),
        ('<video src="data:video/mp4;base64,AAAA"></video>', ["data:video/mp4;base64,AAAA"]),
    ],
)
def test_video_sources_resolve_from_the_page(
    tmp_path: Path, markup: str, expected: list[str]
) -> None:
    page = tmp_path / "page.html"
    page.write_text(f"<html><body>{markup}</body></html>", "utf-8")
    got = video_sources(page)
    want = [Path(e) if e.startswith("data:") else (tmp_path / e).resolve() for e in expected]
    assert got == want


def test_index_escapes_and_links_relatively(tmp_path: Path) -> None:
    result = NotebookResult(
        "01_x", "<b>title</b>", 1.5, tmp_path / "01_x.html", tmp_path / "01_x.ipynb", "Boom <x>"
    )
    page = index_html([result], tmp_path, tmp_path / HOME_NAME, 3.0)
    assert 'href="01_x.html"' in page and ">1.5 s<" in page
    assert "&lt;b&gt;title&lt;/b&gt;" in page and "failed: Boom &lt;x&gt;" in page


def test_the_index_shows_the_first_videos_of_each_notebook(tmp_path: Path) -> None:
    videos = [tmp_path / HOME_NAME / "videos" / f"{i} a.mp4" for i in range(6)]
    result = NotebookResult(
        "01_x", "x", 1.5, tmp_path / "01_x.html", tmp_path / "01_x.ipynb", videos=videos
    )
    poster = "data:image/jpeg;base64,AAAA"
    page = index_html([result], tmp_path, tmp_path / HOME_NAME, 3.0, posters={videos[0]: poster})
    srcs = re.findall(r'<video src="([^"]+)"', page)
    assert srcs == [f"{HOME_NAME}/videos/{i}%20a.mp4" for i in range(4)]
    assert page.count(f'poster="{poster}"') == 1


def test_exported_pages_load_no_script_from_the_internet() -> None:
    """The demo's pages work offline: no require.js, MathJax or widget manager from a CDN; a
    widget shows its own HTML picture (the form has one) instead of an empty box."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    from wanbook._cli.demo import offline_html

    nb = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("wb.form()")])
    bundle = {
        "text/plain": "<wanbook form>",
        "text/html": "<div>the form as it was</div>",
        "application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2},
    }
    nb.cells[1].outputs = [new_output("display_data", data=bundle)]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    page = offline_html(nbformat.from_dict(nb))
    assert not re.findall(r"<script[^>]+src=", page), re.findall(r"<script[^>]+src=[^>]+>", page)
    assert "cdnjs" not in page and "unpkg" not in page and "jsdelivr" not in page
    assert "<div>the form as it was</div>" in page


# ------------------------------------------------------------------------------- the real job
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One full demo (every notebook) through the command line, as ``make demo`` runs it, with a
    key and a base URL in the environment that it must ignore: the demo is a rehearsal."""
    out = tmp_path_factory.mktemp("demo-output")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANBOOK_", "DASHSCOPE_"))}
    env["WANBOOK_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))  # never the user's
    env |= {"DASHSCOPE_API_KEY": TEST_API_KEY, "WANBOOK_BASE_URL": "http://127.0.0.1:9/api/v1"}
    done = subprocess.run(
        [sys.executable, "-m", "wanbook", "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    return {"out": out, "code": done.returncode, "printed": done.stdout, "errors": done.stderr}


@pytest.mark.slow
def test_demo_runs_every_notebook_and_prints_the_index(demo: dict[str, Any]) -> None:
    out, printed = demo["out"], demo["printed"]
    assert demo["code"] == 0, printed + demo["errors"]
    index = out / "index.html"
    assert printed.strip().splitlines()[-1] == str(index) and index.is_file()
    page = index.read_text("utf-8")
    for name in NOTEBOOKS:
        assert f'href="{name}.html"' in page and f'href="{name}.ipynb"' in page
        assert (out / f"{name}.html").is_file()
    times = re.findall(r">(\d+\.\d) s<", page)
    assert len(times) == len(NOTEBOOKS)
    assert "failed" not in page
    assert re.search(r"would have cost on the real service: [^<]*\d+\.\d{4} USD", page)


@pytest.mark.slow
def test_every_video_in_the_pages_plays(demo: dict[str, Any]) -> None:
    out = demo["out"]
    counts = {}
    for name in NOTEBOOKS:
        videos = video_sources(out / f"{name}.html")
        counts[name] = len(videos)
        for video in videos:
            assert video.is_absolute() and video.is_relative_to(out), video  # a file beside it
            info = probe(video)  # raises if it is not a playable video
            assert info.frames > 0 and info.video_codec == "h264"
    assert all(counts[n] >= 1 for n in NOTEBOOKS if not n.startswith("04")), counts


@pytest.mark.slow
def test_demo_used_the_emulator_and_kept_no_key(demo: dict[str, Any]) -> None:
    out = demo["out"]
    with RunLog.open(out / HOME_NAME) as log:
        rows = log.runs()
    assert rows and {r["backend"] for r in rows} == {"emulator"}
    assert {r["experiment"] for r in rows} >= {"quickstart", "compare-models", "cost-study"}
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".ipynb", ".sqlite", ".log"):
            assert TEST_API_KEY.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_executed_notebooks_have_no_errors_and_no_embedded_video(demo: dict[str, Any]) -> None:
    for name in NOTEBOOKS:
        nb = json.loads((demo["out"] / f"{name}.ipynb").read_text("utf-8"))
        outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
        assert outputs, name
        assert not [o for o in outputs if o["output_type"] == "error"], name
        text = json.dumps(outputs)
        assert "data:video/" not in text and '"video/mp4"' not in text, name
        assert nb["metadata"]["wanbook_demo"]["seconds"] > 0


@pytest.mark.slow
def test_executed_notebooks_show_no_stderr_and_no_warnings(demo: dict[str, Any]) -> None:
    """What nbval --nbval-lax lets through: a warning or a traceback printed to stderr by a
    cell that still "passes". Nothing may be on stderr: the emulator notice is plain stdout."""
    from tests.notebook.test_example_notebooks import stray_outputs

    for name in NOTEBOOKS:
        nb = json.loads((demo["out"] / f"{name}.ipynb").read_text("utf-8"))
        assert stray_outputs(nb) == [], name


def test_a_failing_notebook_is_reported_and_the_rest_still_run(tmp_path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from wanbook._cli.demo import run_demo

    folder = tmp_path / "nbs"
    folder.mkdir()
    for name, source in [("01_bad", "raise ValueError('boom')"), ("02_good", "print('fine')")]:
        nb = new_notebook(cells=[new_markdown_cell(f"# {name}"), new_code_cell(source)])
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(nb, folder / f"{name}.ipynb")
    printed = io.StringIO()
    code = run_demo(out=tmp_path / "out", notebooks=folder, stream=printed)
    assert code == 1
    page = (tmp_path / "out" / "index.html").read_text("utf-8")
    assert "failed: ValueError: boom" in page and page.count(">ok<") == 1
    assert "1 notebook(s) failed: 01_bad" in printed.getvalue()
    assert (tmp_path / "out" / "01_bad.html").is_file()  # the failed page is kept, to read why


def test_no_notebooks_is_one_clear_error(tmp_path: Path) -> None:
    from wanbook import WanbookError
    from wanbook._cli.demo import find_notebooks

    with pytest.raises(WanbookError, match="no example notebooks found in"):
        find_notebooks(tmp_path)
