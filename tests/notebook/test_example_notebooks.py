"""The committed example notebooks: saved clean, parameterised, documented.

They are executed by ``make test`` (nbval, see the Makefile) and by ``make demo``; this file checks
what is committed: no outputs (so no stale errors and no embedded videos), a first markdown cell
saying what the notebook is for, and a papermill ``parameters`` cell of plain assignments.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "01_quickstart",
    "02_compare_models",
    "03_seeds_and_reproducibility",
    "04_cost_report",
    "05_image_to_video",
    "06_frames_clips_and_edits",
    "07_prompt_study",
]
# A data: URI of a video, a video MIME bundle, or base64 of an MP4's first box ("....ftyp").
EMBEDDED_VIDEO = re.compile(r"data:video/|\"video/(mp4|webm)\"|AAAA[A-Za-z0-9+/]GZ0eX")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text("utf-8"))


def test_the_examples_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name}: cell {cell.id} has outputs (clear them)"
        assert cell.execution_count is None, f"{path.name}: cell {cell.id} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_error_outputs_and_no_embedded_videos(path: Path) -> None:
    """Holds trivially while notebooks are saved clean; it is the rule if that ever changes."""
    for cell in _load(path)["cells"]:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{path.name}: a stale error output"
            text = json.dumps(output)
            assert not EMBEDDED_VIDEO.search(text), f"{path.name}: a video embedded in an output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_says_what_it_is_for_then_takes_parameters(path: Path) -> None:
    cells = _load(path)["cells"]
    first = cells[0]
    assert first["cell_type"] == "markdown"
    text = "".join(first["source"])
    assert text.startswith("# ") and "What this notebook is for" in text
    assert "DASHSCOPE_API_KEY" in text  # says how it runs with and without a key
    code = [c for c in cells if c["cell_type"] == "code"]
    params = code[0]
    assert params["metadata"].get("tags") == ["parameters"], "the first code cell is the parameters"
    assert sum("parameters" in c["metadata"].get("tags", []) for c in cells) == 1
    tree = ast.parse("".join(params["source"]))
    for node in tree.body:  # plain `name = literal` lines: papermill can override each one
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        assert isinstance(node.targets[0], ast.Name)
        ast.literal_eval(node.value)
    assert any(t.targets[0].id == "experiment" for t in tree.body)  # its runs are findable


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_on_the_python3_kernel_without_secrets(path: Path) -> None:
    nb = _load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    source = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert "sk-" not in source and "api_key" not in source  # the key comes from the environment
    assert "embed=True" not in source  # videos are referenced, never embedded


def test_readme_lists_every_example() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Run the examples", 1)[1].split("\n## ", 1)[0]
    for name in EXPECTED:
        assert f"{name}.ipynb" in section, name
    assert "papermill notebooks/" in section and " -p " in section


@pytest.mark.slow
def test_papermill_runs_a_notebook_with_other_parameters(tmp_path: Path) -> None:
    """The README's way of running an example with other parameters (-p and -y) works."""
    import os
    import subprocess
    import sys

    from wanbook._runlog.store import RunLog

    out = tmp_path / "out.ipynb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "01_quickstart.ipynb"),
            str(out),
        ]
        + ["-p", "seed", "3", "-y", "experiment: papermill-run", "--cwd", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    cells = _load(out)["cells"]
    injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "seed = 3" in "".join(injected[0]["source"])
    with RunLog.open(os.environ["WANBOOK_HOME"]) as log:
        (run,) = log.runs(experiment="papermill-run")
    assert run["seed"] == 3 and run["status"] == "SUCCEEDED" and run["backend"] == "emulator"


# Small parameters: the fewest runs that still go through every cell.
SMALL: dict[str, dict[str, Any]] = {
    "01_quickstart": {},
    "02_compare_models": {},
    "03_seeds_and_reproducibility": {"seeds": [1], "repeats": 2, "frame_samples": 2},
    "04_cost_report": {"seeds": [1]},
    "05_image_to_video": {},
    "06_frames_clips_and_edits": {"duration": 2, "continuation_duration": 3},
    "07_prompt_study": {"animals": ["fox"]},
}


def stray_outputs(nb: dict[str, Any]) -> list[str]:
    """Errors, stderr (Jupyter draws it as a pink error box; even the emulator notice is plain
    stdout), and warnings anywhere in the outputs."""
    stray = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", ""))
            if output["output_type"] == "error":
                stray.append(f"error: {output['ename']}: {output['evalue']}")
            elif output["output_type"] == "stream" and output["name"] == "stderr" and text.strip():
                stray.append(f"stderr: {text}")
            if re.search(r"\w+Warning\b", text):
                stray.append(f"a warning: {text}")
    return stray


@pytest.fixture(scope="module")
def region_us(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every example executed (papermill, small parameters) with ``WANBOOK_REGION=us``: a
    region that serves only the wan2.6 models and no video effects. Three kernels at once."""
    import os
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import yaml

    base = tmp_path_factory.mktemp("region-us")

    def one(name: str) -> dict[str, Any]:
        where = base / name
        where.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "WANBOOK_"))}
        env["WANBOOK_STATE_DIR"] = str(base / "state")  # never the user's
        env |= {"WANBOOK_REGION": "us", "WANBOOK_HOME": str(where / "runs")}
        out = where / f"{name}.ipynb"
        params = ["-y", yaml.safe_dump(SMALL[name])] if SMALL[name] else []
        done = subprocess.run(
            [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / f"{name}.ipynb")]
            + [str(out), "--cwd", str(where), *params],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return _load(out)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(EXPECTED, pool.map(one, EXPECTED), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_every_example_runs_in_region_us_cleanly(
    region_us: dict[str, dict[str, Any]], name: str
) -> None:
    """No cell errors, no stderr but the emulator notice, no warnings — in a region whose
    models differ from intl's: the notebooks choose their models from the session's region."""
    nb = region_us[name]
    assert stray_outputs(nb) == []
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    if name == "03_seeds_and_reproducibility":
        assert "4 runs" in printed  # not "0 runs": the study ran
    if name == "05_image_to_video":  # no model of us can switch sound off: said in one line
        assert "skipped: no image-to-video model of region 'us' can switch sound off" in printed
    if name == "06_frames_clips_and_edits":  # wan2.7 is not served in us: said in one line
        assert "skipped: wan2.7-i2v is not served in region 'us'" in printed


@pytest.mark.parametrize(
    ("outputs", "stray"),
    [
        ([{"output_type": "stream", "name": "stdout", "text": "ok\n"}], 0),
        (
            [
                {
                    "output_type": "stream",
                    "name": "stderr",
                    "text": "wanbook: no DASHSCOPE_API_KEY "
                    "set: using the embedded emulator at http://127.0.0.1:1/api/v1 (synthetic)\n",
                }
            ],
            1,  # a notice, but drawn as an error: it belongs on stdout
        ),
        (
            [
                {
                    "output_type": "stream",
                    "name": "stderr",
                    "text": "/x/_prepare.py:88: "
                    "UnknownPriceWarning: no price\n  est = estimate(...)\n",
                }
            ],
            2,
        ),
        ([{"output_type": "error", "ename": "ValueError", "evalue": "x", "traceback": []}], 1),
    ],
)
def test_stray_outputs_finds_what_a_reader_should_not_see(
    outputs: list[dict[str, Any]], stray: int
) -> None:
    assert len(stray_outputs({"cells": [{"outputs": outputs}]})) == stray
