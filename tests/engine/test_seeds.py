"""Every entry point draws and records a seed when none is given (the service never says which it
used), so every run can be repeated: generate, batches, compare (and the form, the CLI)."""

from __future__ import annotations

import random

import wanbook as wb
from wanbook._spec.request import Request, draw_seed, with_seed

T2V = dict(model="wan2.1-t2v-turbo", size="832*480", prompt_extend=False)


def test_draw_and_with_seed() -> None:
    assert draw_seed(random.Random(1)) == draw_seed(random.Random(1))
    assert with_seed(Request(prompt="p", seed=5, **T2V)).seed == 5
    assert isinstance(with_seed(Request(prompt="p", **T2V)).seed, int)


def test_generate_and_a_batch_without_seeds_log_the_seeds_they_drew() -> None:
    with wb.Session(quiet=True, emulator=True) as s:
        run = s.generate("a fox", **T2V)
        assert isinstance(run.seed, int)
        outcomes = s.submit_many([Request(prompt="a fox", **T2V), Request(prompt="a cat", **T2V)])
        seeds = [o.run.seed for o in outcomes if o.run is not None]
        assert len(seeds) == 2 and all(isinstance(x, int) for x in seeds)
        logged = s.runs()["seed"]
        assert logged.notna().all() and len(logged) == 3
