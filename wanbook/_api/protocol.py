"""The HTTP envelope of the DashScope task API, as pure functions: URLs, headers, list parameters,
and the translation of an answer (status + body + headers) or a failure into wanbook's exception
tree, with the key blanked out of anything quoted.

No I/O: ``_api.client`` sends what these build and raises what ``error_from_response``,
``parse_answer`` and ``ambiguous_create`` make.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import quote

from wanbook._api.retry import parse_retry_after
from wanbook._api.tasks import UTC8, TaskStatus, as_object, as_text
from wanbook._errors import (
    AmbiguousCreateError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    RateLimitError,
    ServerError,
)
from wanbook._secret import Secret

__all__ = [
    "CREATE_PATH",
    "PLACEHOLDER_KEY",
    "ambiguous_create",
    "as_utc",
    "build_headers",
    "describe_failure",
    "error_body",
    "error_from_response",
    "explain_placeholder_key",
    "format_list_time",
    "list_params",
    "names_oss",
    "normalize_base_url",
    "parse_answer",
    "parse_upload_policy",
    "scrub",
    "server_timed_out",
    "task_path",
]

CREATE_PATH = "/services/aigc/video-generation/video-synthesis"
#: The bearer key sent when no key is configured: the embedded emulator, or a local one at
#: WANBOOK_BASE_URL, accepts any key; a real service refuses it (see explain_placeholder_key).
PLACEHOLDER_KEY = "sk-emulator-local"
T = TypeVar("T")


# --------------------------------------------------------------------------- requests


def as_utc(when: datetime | float) -> datetime:
    """A time the caller gives (an aware datetime, or epoch seconds) in UTC; a naive datetime is
    refused: the service writes its times in UTC+8, the caller's clock may be anything."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError(f"times must be timezone-aware, got naive {when!r}")
        return when.astimezone(UTC)
    return datetime.fromtimestamp(float(when), UTC)


def format_list_time(when: datetime) -> str:
    """``YYYYMMDDhhmmss`` in UTC+8, the form the list endpoint's ``start_time``/``end_time`` take."""
    if when.tzinfo is None:
        raise ValueError(f"list window times must be timezone-aware, got naive {when!r}")
    return when.astimezone(UTC8).strftime("%Y%m%d%H%M%S")


def normalize_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; ConfigError unless it is an http(s) URL."""
    text = str(base_url or "").strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", text):
        raise ConfigError(
            f"base_url {base_url!r} is not an http(s) URL; expected e.g. "
            "'https://dashscope-intl.aliyuncs.com/api/v1'"
        )
    return text


def task_path(task_id: str, suffix: str = "") -> str:
    """``/tasks/{task_id}[/suffix]`` with the id escaped (an id is never a path)."""
    if not isinstance(task_id, str) or not task_id.strip():
        raise ValueError(f"task_id must be a non-empty string, got {task_id!r}")
    return f"/tasks/{quote(task_id.strip(), safe='')}" + (f"/{suffix}" if suffix else "")


def build_headers(
    api_key: Secret, *, user_agent: str, create: bool = False, oss: bool = False
) -> dict[str, str]:
    """The headers of one request. Only a create carries ``X-DashScope-Async: enable``; a create
    naming an ``oss://`` upload also ``X-DashScope-OssResourceResolve: enable`` (docs/dashscope-wan27.md §3)."""
    headers = {
        "Authorization": f"Bearer {api_key.reveal()}",
        "User-Agent": user_agent,
        "Accept": "application/json",
    }
    if create:
        headers["Content-Type"] = "application/json"
        headers["X-DashScope-Async"] = "enable"
    if create and oss:
        headers["X-DashScope-OssResourceResolve"] = "enable"
    return headers


_POLICY_KEYS = (
    "policy",
    "signature",
    "upload_dir",
    "upload_host",
    "oss_access_key_id",
    "x_oss_object_acl",
    "x_oss_forbid_overwrite",
)


def parse_upload_policy(content: bytes) -> dict[str, str]:
    """The ``data`` of a getPolicy answer: where and how to upload (ValueError if incomplete)."""
    data = as_object(as_object(content).get("data"))
    missing = [k for k in _POLICY_KEYS if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        raise ValueError(f"the upload policy lacks {', '.join(missing)}")
    return {k: str(data[k]) for k in _POLICY_KEYS}


def names_oss(body: Any) -> bool:
    """Whether a wire body names a temporary upload (an ``oss://`` URL) anywhere."""
    if isinstance(body, str):
        return body.startswith("oss://")
    if isinstance(body, Mapping):
        return any(names_oss(v) for v in body.values())
    if isinstance(body, list | tuple):
        return any(names_oss(v) for v in body)
    return False


def list_params(
    *,
    start_time: datetime | str | None = None,
    end_time: datetime | str | None = None,
    model_name: str | None = None,
    status: TaskStatus | str | None = None,
    task_id: str | None = None,
    page_no: int = 1,
    page_size: int = 10,
) -> dict[str, str]:
    """Query parameters of the list endpoint (window at most 24 h; the server defaults to the
    last 24 h). Datetimes must be timezone-aware; strings pass through as ``YYYYMMDDhhmmss``."""
    if page_no < 1 or page_size < 1:
        raise ValueError(f"page_no and page_size must be >= 1, got {page_no}, {page_size}")
    params: dict[str, str] = {"page_no": str(page_no), "page_size": str(page_size)}
    for key, when in (("start_time", start_time), ("end_time", end_time)):
        if when is not None:
            params[key] = format_list_time(when) if isinstance(when, datetime) else str(when)
    if model_name:
        params["model_name"] = model_name
    if status:
        params["status"] = TaskStatus.parse(status).value
    if task_id:
        params["task_id"] = task_id
    return params


# --------------------------------------------------------------------------- errors

_STATUS_CLASS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: BadRequestError,
    408: ServerError,
    413: BadRequestError,
    415: BadRequestError,
    429: RateLimitError,
}


def _class_for(status: int, code: str | None) -> type[APIError]:
    """The error class for an HTTP status, corrected by the vendor code where it is unambiguous."""
    if code and (code.startswith("Throttling") or code == "LimitRequests"):
        return RateLimitError
    if code and (code == "InvalidApiKey" or "AccessDenied" in code):
        return AuthenticationError
    if status in _STATUS_CLASS:
        return _STATUS_CLASS[status]
    if status >= 500:
        return ServerError
    return BadRequestError if status >= 400 else APIError


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header's value, whatever the case of its name (plain dicts are case-sensitive)."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def error_body(body: Any) -> Mapping[str, Any] | None:
    """The ``{"code", "message", "request_id"}`` object of an error answer, or None if the body is
    not a DashScope error (HTML from a proxy, empty, other JSON)."""
    try:
        data = as_object(body)
    except ValueError:
        return None
    return data if as_text(data.get("code")) or as_text(data.get("message")) else None


def error_from_response(
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
    *,
    secrets: Iterable[str] = (),
) -> APIError:
    """The wanbook error for a non-2xx answer. Never raises; a non-JSON body is quoted briefly.

    ``secrets`` are strings to blank out of the message (the key, should a proxy echo it).
    """
    parsed = error_body(body)
    code = as_text(parsed.get("code")) if parsed else None
    request_id = as_text(parsed.get("request_id")) if parsed else None
    message = as_text(parsed.get("message")) if parsed else None
    if message is None:
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", "replace")
        snippet = " ".join(str(body or "").split())[:200]
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "error"
        message = f"{reason}: {snippet}" if snippet else reason
    message = scrub(message, secrets)
    retry_after = parse_retry_after(_header(headers, "Retry-After"))
    return _class_for(status, code)(
        message, status_code=status, code=code, request_id=request_id, retry_after=retry_after
    )


def parse_answer(
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None,
    parser: Callable[[bytes], T],
    junk: Callable[[str], Exception],
    *,
    secrets: Sequence[str] = (),
) -> T:
    """``parser(body)`` of a 2xx answer. A 2xx carrying an error object raises that error;
    anything else unreadable raises ``junk(reason)``. A secret the server echoes (in a message,
    a video URL …) is blanked out of the body before it is read: nothing downstream sees it."""
    for secret in secrets:
        if secret:
            body = body.replace(secret.encode("utf-8", "replace"), b"********")
    try:
        return parser(body)
    except ValueError as exc:
        reason = scrub(f"unreadable HTTP {status} answer: {exc}", secrets)
    # Raised outside the except block: the parser's message may quote the body (and a key a
    # proxy echoed), so only the scrubbed copy travels on, with no chained original.
    if error_body(body) is not None:
        raise error_from_response(status, body, headers, secrets=secrets)
    raise junk(reason)


def server_timed_out(error: APIError) -> bool:
    """Whether the service answered that it ran out of time: 408 ``RequestTimeOut``, or a code
    naming a timeout (``InternalError.Timeout``).

    For a create this is an ambiguous answer (docs/dashscope-api.md §4, wanbook's rule): a
    service that timed out may have made the task before giving up, and the vendor asks clients
    not to create duplicate tasks, so the client never re-sends such a create and looks for the
    task through the list endpoint instead.
    """
    return error.status_code == 408 or "timeout" in (error.code or "").lower()


def explain_placeholder_key(error: APIError, base_url: str) -> APIError:
    """``error``, said plainly when the key refused was :data:`PLACEHOLDER_KEY`, sent because no
    key is configured (a base URL without a key: right for a local emulator, not for a proxy or
    the real service, whose bare 401 would otherwise be a puzzle)."""
    if not (isinstance(error, AuthenticationError) and error.code == "InvalidApiKey"):
        return error
    return AuthenticationError(
        f"{error.message}: no DASHSCOPE_API_KEY is set, so wanbook sent a placeholder key to "
        f"{base_url}, which only an emulator accepts; set DASHSCOPE_API_KEY",
        status_code=error.status_code,
        code=error.code,
        request_id=error.request_id,
        retry_after=error.retry_after,
    )


def ambiguous_create(body: Any, why: str, sent_at: float) -> AmbiguousCreateError:
    """The error of a create that may have reached the server (``why``): it is never re-sent."""
    model = body.get("model") if isinstance(body, Mapping) else None
    return AmbiguousCreateError(
        f"the create request for {model!r} may have reached the server ({why}); it was not "
        "re-sent, so as not to start (and pay for) a second task. Look for it with "
        f"Client.find_task({model!r}, sent_after, sent_before) or resume later.",
        sent_at=sent_at,
    )


def describe_failure(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """A short, key-free description of a failure for logs and messages."""
    text = str(error).strip()
    if not isinstance(error, APIError) and text:
        text = f"{type(error).__name__}: {text}"
    return scrub(text or type(error).__name__, secrets)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret blanked out, for anything that quotes what a server sent."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text
