"""Reading an input file (``img_url``, ``audio_url``) wherever it points, as the service does at
create time.

One reader for every kind of input, so images and audio are found, and fail, alike:

- ``data:{mime};base64,...``: decoded.
- ``oss://{key}``: a file uploaded to the emulator's own upload host (the vendor SDK uploads a
  local file and sends this); needs ``X-DashScope-OssResourceResolve: enable`` like the service.
- ``http(s)://`` on a loopback host (127.0.0.0/8, ::1, localhost): downloaded with a short
  timeout. A redirect that leaves loopback is refused, not followed.
- any other ``http(s)://`` URL is **never fetched** (tests never touch the internet):
  :func:`read_input` returns None and the caller puts a deterministic stand-in in its place.

A URL that cannot be downloaded is answered ``415 BadRequest.InputDownloadFailed`` (docs/dashscope-api.md
§4: "the image/audio URL could not be fetched or read"), naming the field.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["FETCH_TIMEOUT", "Rejected", "fetch", "is_loopback", "read_input", "shown_url"]

FETCH_TIMEOUT = 5.0  # seconds, per connect and per read: a loopback server answers at once
MAX_REDIRECTS = 5


class Rejected(Exception):
    """A create request the service refuses; carries the HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _LeftLoopback(Exception):
    """A redirect pointed off this machine: the emulator does not follow it."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (the only hosts the emulator downloads from)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shown_url(url: str) -> str:
    """``url`` fit for an error message: the query (often a signing token) is left out."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl() + ("?…" if parts.query else "")


def fetch(url: str, limit: int, field: str, what: str) -> bytes:
    """The body at ``url`` (a loopback http(s) URL): at most ``limit + 1`` bytes are read.

    Reading one byte past ``limit`` lets the caller refuse an oversized file with the service's
    size message instead of a download error. ``field`` (``img_url``) and ``what`` (``image``)
    name the input in the error; any failure raises :class:`Rejected` (415).
    """
    import httpx

    def stay_local(request: httpx.Request) -> None:
        if not is_loopback(request.url.host):
            raise _LeftLoopback("a redirect leaves loopback")

    def failed(reason: str) -> Rejected:
        return Rejected(
            415,
            "BadRequest.InputDownloadFailed",
            f"{field}: download of the {what} failed ({reason}): {shown_url(url)}",
        )

    try:
        with (
            httpx.Client(
                timeout=FETCH_TIMEOUT,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                trust_env=False,  # loopback: no proxy from the environment applies
                event_hooks={"request": [stay_local]},
            ) as client,
            client.stream("GET", url) as resp,
        ):
            if resp.status_code >= 400:
                raise failed(f"HTTP {resp.status_code}")
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
    except _LeftLoopback as exc:
        raise failed(str(exc)) from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, ValueError) as exc:
        raise failed(type(exc).__name__) from exc
    return b"".join(chunks)[: limit + 1]


def _data_uri(url: str, field: str) -> bytes:
    head, sep, payload = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise Rejected(
            400,
            "InvalidParameter",
            f"{field}: a data URI must look like data:{{mime}};base64,{{data}}",
        )
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise Rejected(400, "InvalidParameter", f"{field}: the base64 data is malformed") from exc


def read_input(
    url: str,
    *,
    field: str,
    what: str,
    limit: int,
    uploads: Mapping[str, bytes],
    oss_resolve: bool,
) -> bytes | None:
    """The bytes ``url`` points to, or None for a URL the emulator does not fetch (a stand-in).

    ``uploads`` holds the files uploaded to the emulator (``oss://`` keys); ``oss_resolve`` is
    whether the request carried ``X-DashScope-OssResourceResolve: enable``. Raises
    :class:`Rejected` naming ``field`` when the URL is malformed or cannot be read.
    """
    if url.startswith("data:"):
        return _data_uri(url, field)
    parts = urlsplit(url)
    if parts.scheme == "oss":
        if not oss_resolve:
            raise Rejected(
                400,
                "InvalidURL",
                f"{field}: oss:// URLs need the header X-DashScope-OssResourceResolve: enable",
            )
        key = url[len("oss://") :]
        if key not in uploads:
            raise Rejected(400, "InvalidURL", f"{field}: no uploaded file at {url}")
        return uploads[key]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Rejected(
            400,
            "InvalidURL",
            f"{field}: must be a public http(s) URL or a data:{{mime}};base64 URI",
        )
    if is_loopback(parts.hostname):
        return fetch(url, limit, field, what)
    return None
