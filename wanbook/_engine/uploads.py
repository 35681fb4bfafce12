"""Local audio and video go through the vendor's temporary file store before the create.

A request that names a local clip or audio file carries ``wanbook-upload:<sha256>`` in its body
until it is sent (``media_inputs``). Just before the create, each such file is uploaded
(``Client.upload``: getPolicy, then the form POST) and its ``oss://`` URL replaces the placeholder;
the client then adds ``X-DashScope-OssResourceResolve: enable``. Uploads are recorded in the run
log (hash, size, path, URL, 48 h expiry): the same file sent again while its URL is still good is
not uploaded again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from wanbook._engine.media_inputs import upload_placeholder
from wanbook._engine.prepare import Prepared

if TYPE_CHECKING:
    from wanbook._api.client import Client
    from wanbook._runlog.store import RunLog

__all__ = ["UPLOAD_LIFETIME", "body_with_uploads"]

#: How long an ``oss://`` URL of the temporary store is valid (docs/dashscope-wan27.md §3).
UPLOAD_LIFETIME = timedelta(hours=48)
#: A recorded upload is reused only while this much of its life is left (the task still needs it).
REUSE_MARGIN = timedelta(hours=2)


async def body_with_uploads(
    client: Client, log: RunLog, prep: Prepared, *, backend: str
) -> dict[str, Any]:
    """``prep.body`` with every local file uploaded (or found uploaded) and named by its URL."""
    if not prep.media.uploads:
        return prep.body
    urls: dict[str, str] = {}
    now = datetime.now(UTC)
    model = str(prep.body["model"])
    for local in prep.media.uploads:
        placeholder = upload_placeholder(local.sha256)
        if placeholder in urls:
            continue
        found = log.find_upload(local.sha256, backend, prep.region, valid_until=now + REUSE_MARGIN)
        if found is None:
            found = await client.upload(model, local.filename, local.data, local.content_type)
            log.remember_upload(
                sha256=local.sha256,
                backend=backend,
                region=prep.region,
                size=local.size,
                source=local.source,
                oss_url=found,
                uploaded_at=now,
                expires_at=now + UPLOAD_LIFETIME,
            )
        urls[placeholder] = found
    return _replaced(prep.body, urls)


def _replaced(value: Any, urls: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return urls.get(value, value)
    if isinstance(value, Mapping):
        return {k: _replaced(v, urls) for k, v in value.items()}
    if isinstance(value, list):
        return [_replaced(v, urls) for v in value]
    return value
