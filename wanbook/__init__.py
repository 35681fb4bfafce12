"""wanbook: a Jupyter-first toolkit for Alibaba's Wan video models.

``import wanbook`` is cheap: it reads no environment, opens nothing and imports httpx, pandas and
PyAV only when a name that needs them is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from wanbook._errors import (
    AmbiguousCreateError,
    APIError,
    AuthenticationError,
    BadRequestError,
    BatchCancelled,
    BudgetExceededError,
    ConfigError,
    DownloadError,
    MediaError,
    Problem,
    RateLimitError,
    RequestTimeoutError,
    ResumeError,
    RunLogError,
    ServerError,
    TaskFailedError,
    TaskTimeoutError,
    TransportError,
    ValidationError,
    WanbookError,
)
from wanbook._request import Request
from wanbook._version import __version__

if TYPE_CHECKING:
    from wanbook._choose import cheapest_models
    from wanbook._compare import acompare, compare
    from wanbook._default import (
        agenerate,
        estimate,
        generate,
        models,
        rerun,
        resume,
        run,
        runs,
        session,
        submit_many,
    )
    from wanbook._form import form
    from wanbook._report import cost_report
    from wanbook._repro import reproducibility
    from wanbook._run import Run
    from wanbook._session import Session
    from wanbook._show import show

_LAZY = {
    "Session": "wanbook._session",
    "Run": "wanbook._run",
    "agenerate": "wanbook._default",
    "estimate": "wanbook._default",
    "generate": "wanbook._default",
    "models": "wanbook._default",
    "rerun": "wanbook._default",
    "resume": "wanbook._default",
    "run": "wanbook._default",
    "runs": "wanbook._default",
    "session": "wanbook._default",
    "submit_many": "wanbook._default",
    "acompare": "wanbook._compare",
    "cheapest_models": "wanbook._choose",
    "compare": "wanbook._compare",
    "form": "wanbook._form",
    "show": "wanbook._show",
    "cost_report": "wanbook._report",
    "reproducibility": "wanbook._repro",
}

# The public surface, sorted (tests/test_exported_members.py checks it against _LAZY).
__all__ = [
    "APIError",
    "AmbiguousCreateError",
    "AuthenticationError",
    "BadRequestError",
    "BatchCancelled",
    "BudgetExceededError",
    "ConfigError",
    "DownloadError",
    "MediaError",
    "Problem",
    "RateLimitError",
    "Request",
    "RequestTimeoutError",
    "ResumeError",
    "Run",
    "RunLogError",
    "ServerError",
    "Session",
    "TaskFailedError",
    "TaskTimeoutError",
    "TransportError",
    "ValidationError",
    "WanbookError",
    "__version__",
    "acompare",
    "agenerate",
    "cheapest_models",
    "compare",
    "cost_report",
    "estimate",
    "form",
    "generate",
    "models",
    "reproducibility",
    "rerun",
    "resume",
    "run",
    "runs",
    "session",
    "show",
    "submit_many",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wanbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
