"""The one exception tree of wanbook.

Every error wanbook raises is a :class:`WanbookError`. Lower-level errors (httpx, sqlite3, PyAV)
are translated once, at the boundary that meets them, with ``raise ... from exc``::

    WanbookError
    ├── ConfigError                 bad settings (region, base URL, workspace id)
    ├── ValidationError (ValueError) the request breaks the catalogue's rules; nothing was sent
    ├── MediaError (ValueError)     an input image/audio breaks a model's limits; nothing was sent
    ├── BudgetExceededError         the estimate would exceed the session's budget; nothing was sent
    ├── APIError                    the service answered with an error body
    │   ├── AuthenticationError     401/403: wrong/missing key, no access, wrong region
    │   ├── BadRequestError         400/404/413/415: never retried
    │   ├── RateLimitError          429: the task was not created
    │   └── ServerError             5xx and 408
    ├── TransportError              the connection failed (no HTTP answer)
    │   └── RequestTimeoutError (TimeoutError) no answer in time (connect/read/write/pool)
    ├── AmbiguousCreateError        a create may have reached the server; never re-sent blindly
    ├── TaskFailedError             the task ended FAILED / CANCELED / UNKNOWN
    ├── TaskTimeoutError (TimeoutError) waited past the deadline
    ├── BatchCancelled              a batch was cancelled before this request was sent
    ├── ResumeError                 resume could not finish some runs (the others it did)
    ├── DownloadError               a video could not be fetched or did not verify
    ├── StorageError                the team's video store (WANBOOK_MEDIA) refused or was unreachable
    └── RunLogError                 the run log could not be opened or written

No message, repr or attribute of these errors ever contains the API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
    "RequestTimeoutError",
    "ResumeError",
    "RunLogError",
    "ServerError",
    "StorageError",
    "TaskFailedError",
    "TaskTimeoutError",
    "TransportError",
    "ValidationError",
    "WanbookError",
]


class WanbookError(Exception):
    """Base of every error wanbook raises."""


class ConfigError(WanbookError, ValueError):
    """Settings that cannot work: unknown region, eu without a workspace id, a bad base URL."""


@dataclass(frozen=True)
class Problem:
    """One broken rule: which field, the value given, and a sentence saying what is allowed."""

    field: str
    value: Any
    message: str
    severity: str = "error"  # "error" blocks the request; "warning" is only said

    def __str__(self) -> str:
        return self.message


class ValidationError(WanbookError, ValueError):
    """The request breaks the model's rules. Carries every problem at once; nothing was sent."""

    def __init__(self, problems: Sequence[Problem], model: str | None = None) -> None:
        self.problems = [p for p in problems if p.severity == "error"]
        self.model = model
        head = f"invalid request for {model}" if model else "invalid request"
        lines = [f"{head} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):"]
        lines += [f"  - {p.field}: {p.message}" for p in self.problems]
        super().__init__("\n".join(lines))

    @property
    def fields(self) -> list[str]:
        return [p.field for p in self.problems]


class MediaError(WanbookError, ValueError):
    """An input file (image or audio) breaks a limit. The message names the file and the limit."""

    def __init__(self, message: str, field: str = "image") -> None:
        self.field = field
        super().__init__(message)


class BudgetExceededError(WanbookError):
    """The estimate plus what is spent or in flight would exceed the session's budget."""


class APIError(WanbookError):
    """The service answered with an error body ``{"code", "message", "request_id"}``."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        parts = [f"HTTP {status_code}" if status_code else None, code]
        prefix = " ".join(p for p in parts if p)
        suffix = f" (request_id {request_id})" if request_id else ""
        super().__init__(f"{prefix}: {message}{suffix}" if prefix else f"{message}{suffix}")


class AuthenticationError(APIError):
    """401/403: missing or wrong key, a key of another region, or no access to the model."""


class BadRequestError(APIError):
    """The service rejected the request (400, 404, 413, 415). Never retried."""


class RateLimitError(APIError):
    """429 throttling. The task was not created; safe to retry after a pause."""


class ServerError(APIError):
    """5xx or 408. A query may be retried; a create only if no task can have been made."""


class TransportError(WanbookError):
    """The request got no HTTP answer (connection refused, reset, timed out)."""


class RequestTimeoutError(TransportError, TimeoutError):
    """No answer came in time (httpx's connect, read, write or pool timeout), retries spent.

    Also a :class:`TimeoutError`, so ``except TimeoutError`` catches it as it catches
    :class:`TaskTimeoutError`. A create that timed out after it was sent is not this error but
    :class:`AmbiguousCreateError`: it may have made a task.
    """


class AmbiguousCreateError(WanbookError):
    """A create request may have reached the server, but no answer came back.

    Re-sending it could start a second paid task, so wanbook never does: the run is recorded as
    uncertain, and the task is looked for through the list endpoint instead.
    """

    def __init__(self, message: str, *, sent_at: float | None = None) -> None:
        self.sent_at = sent_at
        super().__init__(message)


class TaskFailedError(WanbookError):
    """The task ended without a video: FAILED (with the server's code and message), CANCELED or UNKNOWN."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self.task_id = getattr(task, "task_id", None)
        self.status = getattr(task, "status", None)
        self.code = getattr(task, "code", None)
        self.message = getattr(task, "message", None)
        status = getattr(self.status, "value", self.status)
        detail = f": {self.code}: {self.message}" if self.code or self.message else ""
        super().__init__(f"task {self.task_id} ended {status}{detail}")


class TaskTimeoutError(WanbookError, TimeoutError):
    """Waited for a task (or a request) past its deadline. The task may still finish: resume later."""


class ResumeError(WanbookError):
    """``resume`` could not carry some runs forward (each error is logged on its run); the
    others were. ``runs``: every run looked at, as logged now; ``failures``: run_id -> error."""

    def __init__(self, runs: Sequence[Any], failures: dict[str, BaseException]) -> None:
        self.runs = list(runs)
        self.failures = dict(failures)
        lines = [f"run {run_id}: {type(e).__name__}: {e}" for run_id, e in failures.items()]
        n = len(failures)
        super().__init__(
            f"{n} of {len(self.runs)} unfinished run(s) could not be finished (try resume "
            "again later):\n  " + "\n  ".join(lines)
        )


class BatchCancelled(WanbookError):
    """The batch was cancelled before this request's task was created: nothing was sent (or a
    create refused with 429 was not sent again), nothing is billed."""


class DownloadError(WanbookError):
    """A video could not be downloaded, or the file did not verify (size, MP4, decodable)."""


class StorageError(WanbookError):
    """The object store of ``WANBOOK_MEDIA`` could not be reached, refused the credentials, or
    holds something else under a video's key. A video kept on this machine is never lost to it:
    the run keeps its local file and the upload is tried again (``resume``)."""


class RunLogError(WanbookError):
    """The run log could not be opened, migrated or written."""
