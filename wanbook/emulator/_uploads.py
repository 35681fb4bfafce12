"""The upload path of the vendor SDK, so ``img_url="file://..."`` works against the emulator.

The SDK asks ``GET {base}/uploads?action=getPolicy&model=M`` for an upload policy, posts the
file as ``multipart/form-data`` to the policy's ``upload_host`` (here: the emulator's ``/oss``),
and then sends ``img_url="oss://{key}"`` with ``X-DashScope-OssResourceResolve: enable``.
Uploaded files live in memory for the emulator's lifetime.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email import policy as email_policy
from email.parser import BytesParser
from typing import Any

__all__ = ["UploadStore", "parse_multipart"]

MAX_UPLOAD_MB = 100


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` body, by name (values as bytes)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=email_policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise ValueError("not a multipart/form-data body")
    fields: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields


class UploadStore(Mapping[str, bytes]):
    """Files uploaded through the emulator's object-store stand-in, by object key."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def policy(self, root_url: str) -> dict[str, Any]:
        """The ``data`` of a getPolicy answer: where and how to upload."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        return {
            "policy": "d2FuYm9vay1lbXVsYXRvcg==",
            "signature": "wanbook-emulator",
            "upload_dir": f"wanbook-emulator/{uuid.uuid4().hex}/{day}",
            "upload_host": f"{root_url}/oss",
            "expire_in_seconds": 300,
            "max_file_size_mb": MAX_UPLOAD_MB,
            "capacity_limit_mb": 999999999,
            "oss_access_key_id": "wanbook-emulator",
            "x_oss_object_acl": "private",
            "x_oss_forbid_overwrite": "true",
        }

    def receive(self, content_type: str, body: bytes) -> str:
        """Store an upload; return its key. ValueError if the form lacks ``key`` or ``file``."""
        fields = parse_multipart(content_type, body)
        key = fields.get("key", b"").decode("utf-8", "replace")
        if not key or "file" not in fields:
            raise ValueError("the upload form needs a 'key' and a 'file'")
        with self._lock:
            self._files[key] = fields["file"]
        return key

    def __getitem__(self, key: str) -> bytes:
        with self._lock:
            return self._files[key]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._files))

    def __len__(self) -> int:
        with self._lock:
            return len(self._files)
