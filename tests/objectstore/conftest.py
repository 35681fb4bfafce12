"""The team's video store in tests: moto's S3 server on 127.0.0.1, never the internet.

One server per test session (it starts in well under a second); one bucket, and a prefix of its
own for every test, so tests never see each other's objects. The credentials are made up, and
the secret key is checked never to show (``S3_SECRET``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

BUCKET = "wanbook-team"
S3_KEY_ID = "WANBOOKTESTKEYID"
# Must never appear in a repr, an error, a warning, a log line, an output or a file.
S3_SECRET = "wbs3secret-" + "Zq8Xv2Lm9Pw4Rt7Ks1NbQ3"


class Moto:
    """moto's threaded S3 server; ``stop()`` takes the store down, ``start()`` brings it back
    on the same port (its buckets live in the process, so they survive)."""

    def __init__(self) -> None:
        self.port = 0
        self.server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.port = self.server.get_host_and_port()[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = Moto()
    server.start()
    # moto does not check signatures: a plain PUT makes the bucket
    assert httpx.put(f"{server.url}/{BUCKET}").status_code == 200
    yield server
    server.stop()


def s3_environment(url: str, media: str) -> dict[str, str]:
    return {
        "WANBOOK_MEDIA": media,
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        "AWS_REGION": "us-east-1",
    }


@pytest.fixture
def s3(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> str:
    """``WANBOOK_MEDIA`` and the ``AWS_*`` variables set for moto, with a prefix of this test's
    own; the ``WANBOOK_MEDIA`` value."""
    media = f"s3://{BUCKET}/tests/{uuid.uuid4().hex[:12]}"
    for name, value in s3_environment(moto.url, media).items():
        monkeypatch.setenv(name, value)
    return media


def raw_store(url: str) -> Any:
    """obstore's own handle on the bucket, to look at (and tamper with) what wanbook stored."""
    from obstore.store import S3Store

    return S3Store(
        BUCKET,
        endpoint=url,
        region="us-east-1",
        access_key_id=S3_KEY_ID,
        secret_access_key=S3_SECRET,
        client_options={"allow_http": True},
    )
