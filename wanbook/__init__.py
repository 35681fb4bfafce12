"""wanbook: a Jupyter-first toolkit for Alibaba's Wan video models.

``import wanbook`` is cheap: it reads no environment, opens nothing and imports httpx, pandas and
PyAV only when a name that needs them is first used.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

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
    StorageError,
    TaskFailedError,
    TaskTimeoutError,
    TransportError,
    ValidationError,
    WanbookError,
)
from wanbook._spec.media import Reference
from wanbook._spec.request import Request
from wanbook._version import __version__

if _TYPE_CHECKING:
    from wanbook._engine.default_session import (
        agenerate,
        estimate,
        generate,
        models,
        prefer,
        preferences,
        rate,
        ratings,
        rerun,
        resume,
        run,
        runs,
        session,
        submit_many,
    )
    from wanbook._engine.session import Session
    from wanbook._engine.shared_budget import budget_set, budgets
    from wanbook._notebook.compare import acompare, compare
    from wanbook._notebook.form.widget import form
    from wanbook._notebook.judging import judge
    from wanbook._notebook.show import show
    from wanbook._reports.costs import cost_report
    from wanbook._reports.reproducibility import reproducibility
    from wanbook._reports.study import study_report
    from wanbook._reports.video_metrics import video_metrics
    from wanbook._runlog.run import Run
    from wanbook._spec.model_choice import cheapest_models

_LAZY = {
    "Session": "wanbook._engine.session",
    "Run": "wanbook._runlog.run",
    "agenerate": "wanbook._engine.default_session",
    "budget_set": "wanbook._engine.shared_budget",
    "budgets": "wanbook._engine.shared_budget",
    "estimate": "wanbook._engine.default_session",
    "generate": "wanbook._engine.default_session",
    "models": "wanbook._engine.default_session",
    "prefer": "wanbook._engine.default_session",
    "preferences": "wanbook._engine.default_session",
    "rate": "wanbook._engine.default_session",
    "ratings": "wanbook._engine.default_session",
    "rerun": "wanbook._engine.default_session",
    "resume": "wanbook._engine.default_session",
    "run": "wanbook._engine.default_session",
    "runs": "wanbook._engine.default_session",
    "session": "wanbook._engine.default_session",
    "submit_many": "wanbook._engine.default_session",
    "acompare": "wanbook._notebook.compare",
    "cheapest_models": "wanbook._spec.model_choice",
    "compare": "wanbook._notebook.compare",
    "form": "wanbook._notebook.form.widget",
    "judge": "wanbook._notebook.judging",
    "show": "wanbook._notebook.show",
    "cost_report": "wanbook._reports.costs",
    "reproducibility": "wanbook._reports.reproducibility",
    "study_report": "wanbook._reports.study",
    "video_metrics": "wanbook._reports.video_metrics",
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
    "Reference",
    "Request",
    "RequestTimeoutError",
    "ResumeError",
    "Run",
    "RunLogError",
    "ServerError",
    "Session",
    "StorageError",
    "TaskFailedError",
    "TaskTimeoutError",
    "TransportError",
    "ValidationError",
    "WanbookError",
    "__version__",
    "acompare",
    "agenerate",
    "budget_set",
    "budgets",
    "cheapest_models",
    "compare",
    "cost_report",
    "estimate",
    "form",
    "generate",
    "judge",
    "models",
    "prefer",
    "preferences",
    "rate",
    "ratings",
    "reproducibility",
    "rerun",
    "resume",
    "run",
    "runs",
    "session",
    "show",
    "study_report",
    "submit_many",
    "video_metrics",
]


def _public(value: _Any) -> _Any:
    """Name the object ``wanbook.X`` (tracebacks, reprs, docs), as it is reached."""
    if getattr(value, "__module__", "").startswith("wanbook."):
        value.__module__ = "wanbook"
    return value


for _name in __all__:
    if _name in globals() and _name != "__version__":
        _public(globals()[_name])


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wanbook' has no attribute {name!r}")
    value = _public(getattr(_importlib.import_module(module), name))
    globals()[name] = value
    _show_runs_in_ipython()
    return value


def _show_runs_in_ipython() -> None:
    """Once, on first use of a lazy name: IPython draws a Run as its card (see
    ``wanbook._notebook.display.register_formatter``). Nothing is imported outside IPython."""
    global _formatter_registered
    if not _formatter_registered:
        _formatter_registered = True
        from wanbook._notebook.display import register_formatter

        register_formatter()


_formatter_registered = False


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
