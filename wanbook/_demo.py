"""The main job (``make demo`` / ``wanbook demo``): a generation on the embedded emulator.

Until the example notebooks land, the demo is one text-to-video run, end to end, into a fresh
``WANBOOK_HOME``; it prints where the video and the run log are.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_demo"]


def run_demo(out: str | None = None) -> int:
    from wanbook._session import Session

    home = Path(out or "demo-output").resolve()
    with Session(home=home, emulator=True, experiment="demo") as session:
        run = session.generate(
            "a kitten running in the moonlight, cinematic",
            model="wan2.2-t2v-plus",
            size="832*480",
            seed=7,
            prompt_extend=False,
        )
        print(f"run log:  {home / 'runs.sqlite'}")
        print(f"video:    {run.video_path}")
        print(f"run:      {run.run_id} {run.status}, {run.width}x{run.height}, {run.duration:.1f} s, {run.cost_text()} (emulator, priced as region {session.region})")
    return 0
