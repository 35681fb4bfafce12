"""The module-level API (``wb.generate`` …): one default session, made on first use.

The environment is read when that session is made, not at import. ``wb.session(...)`` replaces it
(e.g. to set an experiment name or a budget for the rest of a notebook).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from wanbook._engine.batch import Outcome
from wanbook._engine.session import Session
from wanbook._runlog.run import Run
from wanbook._spec.catalogue import catalogue
from wanbook._spec.prices import Estimate
from wanbook._spec.request import Request

__all__ = [
    "agenerate",
    "estimate",
    "generate",
    "models",
    "prefer",
    "preferences",
    "rate",
    "ratings",
    "rerun",
    "resume",
    "run",
    "runs",
    "session",
    "submit_many",
]

_lock = threading.Lock()
_default: Session | None = None


def session(**settings: Any) -> Session:
    """The default session; with arguments, a new default session made from them."""
    global _default
    with _lock:
        if settings or _default is None:
            if _default is not None:
                _default.close()
            _default = Session(**settings)
        return _default


def generate(prompt: str | None = None, **kwargs: Any) -> Run:
    """Generate one video with the default session (see :meth:`Session.agenerate`)."""
    return session().generate(prompt, **kwargs)


async def agenerate(prompt: str | None = None, **kwargs: Any) -> Run:
    return await session().agenerate(prompt, **kwargs)


def submit_many(requests: Sequence[Request], **kwargs: Any) -> list[Outcome]:
    """Run many requests with the default session, as fast as the account's limits allow; their
    outcomes in input order (see :meth:`Session.batch` for the options)."""
    return session().submit_many(requests, **kwargs)


def estimate(prompt: str | None = None, **kwargs: Any) -> Estimate:
    """What a generation would cost; sends nothing."""
    return session().estimate(prompt=prompt, **kwargs)


def runs(**filters: Any) -> Any:
    """The run log as a pandas DataFrame."""
    return session().runs(**filters)


def rerun(run_id: str, **changes: Any) -> Run:
    """Run the request of ``run_id`` again (with ``changes``) as a new run."""
    return session().rerun(run_id, **changes)


def rate(run_id: str, score: int, **kwargs: Any) -> dict[str, Any]:
    """Record a 1-5 score of a run (``note=``, ``rater=``, ``blind=``; see :meth:`Session.rate`)."""
    return session().rate(run_id, score, **kwargs)


def ratings(**filters: Any) -> Any:
    """The scores as a DataFrame (``experiment=``, ``rater=``, ``latest=``)."""
    return session().ratings(**filters)


def prefer(run_a: str, run_b: str, winner: str, **kwargs: Any) -> dict[str, Any]:
    """Record which of two runs is better (``winner``: either run_id or ``"tie"``)."""
    return session().prefer(run_a, run_b, winner, **kwargs)


def preferences(**filters: Any) -> Any:
    """The pairwise judgements as a DataFrame."""
    return session().preferences(**filters)


def run(run_id: str) -> Run:
    return session().run(run_id)


def resume(**kwargs: Any) -> list[Run]:
    """Finish every unfinished run younger than 24 hours; mark older ones expired (keyword
    arguments as :meth:`Session.aresume`, e.g. ``raise_on_failure=False``)."""
    return session().resume(**kwargs)


def models(kind: str | None = None, region: str | None = None) -> list[str]:
    """Model names wanbook knows (``kind`` "t2v"/"i2v"; ``region`` limits to those served there)."""
    return catalogue().names(kind=kind, region=region)
