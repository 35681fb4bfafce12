"""A notebook holding a 12-video comparison grid, executed unattended by nbclient, stays small.

The kernel runs the comparison on the embedded emulator (3 models × 4 seeds), the notebook is
saved with its outputs, and the file must be under 200 KB: videos and posters are referenced by
path, never embedded, and the progress bar is one HTML output updated in place (no widget state).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

LIMIT = 200_000  # bytes

CELLS = [
    "import wanbook as wb\ns = wb.Session(home='runs', emulator=True, quiet=True)",
    (
        "grid = wb.compare('a red fox running through fresh snow at dawn',\n"
        "                  models=['wan2.2-t2v-plus', 'wan2.1-t2v-turbo', 'wan2.5-t2v-preview'],\n"
        "                  seeds=[1, 2, 3, 4], size='832*480', prompt_extend=False,\n"
        "                  session=s, progress=True)\n"
        "grid"
    ),
    "grid.groupby('model')['cost'].sum()",
    "s.close()",
]


@pytest.mark.slow
def test_saved_notebook_with_a_12_video_grid_is_small(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    path = tmp_path / "compare.ipynb"
    nbformat.write(nb, path)
    size = path.stat().st_size
    print(f"\nsaved notebook with a 12-video comparison grid: {size} bytes ({size / 1024:.1f} KiB)")

    outputs = nb.cells[1].outputs
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    videos = re.findall(r'<video src="([^"]+)"', html)
    assert len(videos) == 12 and all(v.startswith("runs/videos/") for v in videos)
    assert all((tmp_path / v).is_file() for v in videos)  # relative to the notebook's folder
    assert "12 of 12 done" in html  # the progress bar, in its final state
    assert "data:video" not in path.read_text()  # only the small inline posters are bytes
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.outputs)
    assert size < LIMIT, f"{size} bytes"
