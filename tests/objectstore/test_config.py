"""``WANBOOK_MEDIA`` and the ``AWS_*`` variables: checked before anything is sent, each bad value
named with what is allowed, the secret never shown; virtual-hosted addressing passed through."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import wanbook as wb
from wanbook._engine.settings import Settings
from wanbook._errors import ConfigError, StorageError
from wanbook._media.store import VideoStore, media_config, video_key

from .conftest import S3_KEY_ID, S3_SECRET

SHA = "ab" + "0" * 62
BASE = {
    "WANBOOK_MEDIA": "s3://team-videos/wan/study",
    "AWS_ACCESS_KEY_ID": S3_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": S3_SECRET,
}


def test_unset_means_local_files_only() -> None:
    assert media_config({}) is None
    assert media_config({"WANBOOK_MEDIA": "  "}) is None
    assert Settings.from_env(environ={}).media is None


def test_an_s3_store_and_its_keys() -> None:
    cfg = media_config({**BASE, "AWS_REGION": "eu-central-1"})
    assert cfg is not None
    assert (cfg.url, cfg.bucket, cfg.prefix, cfg.region) == (
        "s3://team-videos/wan/study",
        "team-videos",
        "wan/study",
        "eu-central-1",
    )
    assert VideoStore(cfg).uri(SHA) == f"s3://team-videos/wan/study/videos/ab/{SHA}.mp4"
    assert video_key("", SHA) == f"videos/ab/{SHA}.mp4"
    with pytest.raises(StorageError, match="not a SHA-256"):
        video_key("p", "../../etc/passwd")


def test_a_shared_folder_is_a_store_too(tmp_path: Path) -> None:
    cfg = media_config({"WANBOOK_MEDIA": tmp_path.as_uri()})
    assert cfg is not None and cfg.scheme == "file" and cfg.root == tmp_path


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("WANBOOK_MEDIA", "https://bucket/prefix", "expected s3://bucket/prefix"),
        ("WANBOOK_MEDIA", "s3://Team_Videos/x", "3-63 lowercase letters"),
        ("WANBOOK_MEDIA", "s3://team-videos/a/../b", "without '..'"),
        ("WANBOOK_MEDIA", "s3://team-videos/x?versionId=1", "expected s3://bucket/prefix"),
        ("WANBOOK_MEDIA", "file://relative/folder", "file:///absolute/folder"),
        ("AWS_ENDPOINT_URL", "ftp://127.0.0.1:9000", "expected http(s)://host[:port]"),
        ("AWS_ENDPOINT_URL", "https://s3.example.com/bucket", "expected http(s)://host[:port]"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:99999", "expected http(s)://host[:port]"),
        ("AWS_REGION", "EU Central", "expected a region name"),
        ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "maybe", "expected true or false"),
    ],
)
def test_a_bad_value_is_named_with_what_is_allowed(name: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        media_config({**BASE, name: value})
    message = str(caught.value)
    assert name in message and repr(value) in message and allowed in message
    assert S3_SECRET not in message


def test_a_session_refuses_bad_settings_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WANBOOK_MEDIA"):
        wb.Session(home=tmp_path, media="gs://elsewhere/x", quiet=True)
    assert not (tmp_path / "runs.sqlite").exists()  # nothing opened, nothing sent


@pytest.mark.parametrize(
    "env",
    [
        {"AWS_SECRET_ACCESS_KEY": ""},  # the id alone
        {"AWS_ACCESS_KEY_ID": ""},  # the secret alone
        {"AWS_SECRET_ACCESS_KEY": S3_SECRET[:8] + " " + S3_SECRET[8:]},  # a pasted space
        {"AWS_SESSION_TOKEN": S3_SECRET + "\n" + S3_SECRET},
    ],
    ids=["id-alone", "secret-alone", "secret-with-space", "token-with-newline"],
)
def test_bad_credentials_are_named_never_shown(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        media_config({**BASE, **env})
    assert "AWS_" in str(caught.value)
    assert S3_SECRET[:8] not in str(caught.value) and S3_SECRET[8:] not in str(caught.value)


def test_the_secret_never_shows_in_a_repr(tmp_path: Path) -> None:
    env = {**BASE, "AWS_SESSION_TOKEN": "tok" + S3_SECRET}
    settings = Settings.from_env(environ=env, home=tmp_path)
    cfg = settings.media
    assert cfg is not None and cfg.secret_access_key is not None
    store = VideoStore(cfg)
    session = wb.Session(home=tmp_path, quiet=True, media=env["WANBOOK_MEDIA"])
    for shown in (repr(settings), str(settings), repr(cfg), repr(store), repr(session)):
        assert S3_SECRET not in shown, shown
    assert cfg.secret_access_key.reveal() == S3_SECRET  # kept, only for the store itself


def _closed_port() -> int:
    """A loopback port nothing listens on (connection refused at once, never the internet)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_store_that_cannot_be_reached_says_so_without_the_secret(tmp_path: Path) -> None:
    port = _closed_port()
    cfg = media_config({**BASE, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    assert cfg is not None
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not really a video")
    import hashlib

    sha = hashlib.sha256(video.read_bytes()).hexdigest()
    with pytest.raises(StorageError) as caught:
        VideoStore(cfg).put_video(video, sha, video.stat().st_size)
    assert f"127.0.0.1:{port}" in str(caught.value) and S3_SECRET not in str(caught.value)
    assert S3_SECRET not in repr(caught.value)


def test_http_is_allowed_only_when_the_endpoint_says_http() -> None:
    plain = media_config({**BASE, "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"})
    tls = media_config({**BASE, "AWS_ENDPOINT_URL": "https://s3.example.com"})
    aws = media_config(BASE)
    assert plain is not None and tls is not None and aws is not None
    assert plain.client_options()["allow_http"] is True
    assert tls.client_options()["allow_http"] is False
    assert aws.client_options()["allow_http"] is False and aws.endpoint is None


def _signed_host_and_path(cfg: Any, bucket: str) -> tuple[str, str]:
    store = VideoStore(cfg)
    url = store.sign(f"s3://{bucket}/wan/study/videos/ab/{SHA}.mp4", timedelta(minutes=5))
    parts = urlsplit(url)
    assert S3_SECRET not in url  # a signature, never the key
    return parts.netloc, parts.path


def test_virtual_hosted_addressing_is_passed_through_for_alibaba_oss() -> None:
    """OSS refuses path-style requests: with AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true the bucket
    goes into the host name, as obstore is told (its config) and as it signs (no network)."""
    env = {
        **BASE,
        "AWS_ENDPOINT_URL": "https://s3.oss-cn-hangzhou.aliyuncs.com",
        "AWS_REGION": "oss-cn-hangzhou",
    }
    path_style = media_config(env)
    virtual = media_config({**env, "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "true"})
    assert path_style is not None and virtual is not None
    assert virtual.virtual_hosted and not path_style.virtual_hosted
    options = virtual.s3_options("team-videos")
    assert options["virtual_hosted_style_request"] is True
    assert options["endpoint"] == "https://team-videos.s3.oss-cn-hangzhou.aliyuncs.com"
    passed = VideoStore(virtual)._store("team-videos").config
    assert passed["virtual_hosted_style_request"] in (True, "true")
    assert _signed_host_and_path(virtual, "team-videos") == (
        "team-videos.s3.oss-cn-hangzhou.aliyuncs.com",
        f"/wan/study/videos/ab/{SHA}.mp4",
    )
    assert _signed_host_and_path(path_style, "team-videos") == (
        "s3.oss-cn-hangzhou.aliyuncs.com",
        f"/team-videos/wan/study/videos/ab/{SHA}.mp4",
    )


def test_without_obstore_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "obstore" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError, match=r"pip install 'wanbook\[team\]'"):
        media_config(BASE)
    assert media_config({}) is None  # local files need nothing more


def test_lower_level_errors_are_scrubbed_of_secrets_and_signed_queries() -> None:
    """Whatever obstore says (a credentials error quoting a signed request, say) is shown in one
    line without the secret key, the session token or a query string."""
    cfg = media_config({**BASE, "AWS_SESSION_TOKEN": "tok-" + S3_SECRET[::-1]})
    assert cfg is not None

    class PermissionDeniedError(Exception):
        pass

    said = str(
        VideoStore(cfg)._error(
            "storing failed",
            PermissionDeniedError(
                f"denied for {S3_SECRET} at https://h/k?X-Amz-Signature=abc&t=tok-"
                f"{S3_SECRET[::-1]}\nDebug source: {S3_SECRET}"
            ),
        )
    )
    assert S3_SECRET not in said and S3_SECRET[::-1] not in said and "X-Amz" not in said
    assert "PermissionDeniedError" in said and "AWS_ACCESS_KEY_ID" in said and "\n" not in said


def test_a_link_needs_a_store(tmp_path: Path) -> None:
    with wb.Session(home=tmp_path, quiet=True) as s:
        run_id = s.log.insert(status="SUCCEEDED", model="wan2.1-t2v-turbo")
        with pytest.raises(StorageError, match="WANBOOK_MEDIA is not set"):
            s.video_url(run_id)
