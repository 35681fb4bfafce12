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
    BudgetExceededError,
    ConfigError,
    DownloadError,
    MediaError,
    Problem,
    RateLimitError,
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
    from wanbook._default import agenerate, estimate, generate, models, resume, run, runs, session
    from wanbook._run import Run
    from wanbook._session import Session

_LAZY = {
    "Session": "wanbook._session",
    "Run": "wanbook._run",
    "agenerate": "wanbook._default",
    "estimate": "wanbook._default",
    "generate": "wanbook._default",
    "models": "wanbook._default",
    "resume": "wanbook._default",
    "run": "wanbook._default",
    "runs": "wanbook._default",
    "session": "wanbook._default",
}

__all__ = sorted(
    [
        "APIError",
        "AmbiguousCreateError",
        "AuthenticationError",
        "BadRequestError",
        "BudgetExceededError",
        "ConfigError",
        "DownloadError",
        "MediaError",
        "Problem",
        "RateLimitError",
        "Request",
        "RunLogError",
        "ServerError",
        "TaskFailedError",
        "TaskTimeoutError",
        "TransportError",
        "ValidationError",
        "WanbookError",
        "__version__",
        *_LAZY,
    ]
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wanbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
