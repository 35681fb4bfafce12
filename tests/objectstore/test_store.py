"""The video store against moto's S3 server: create-only puts by content, idempotent for two
teammates; fetches refused unless the bytes are the logged ones; presigned links that work."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import obstore
import pytest

from wanbook._errors import DownloadError, StorageError
from wanbook._media.store import VideoStore, media_config

from .conftest import S3_SECRET, Moto, raw_store


def _store() -> VideoStore:
    cfg = media_config()  # from the environment the `s3` fixture set
    assert cfg is not None
    return VideoStore(cfg)


def _video(path: Path, data: bytes | None = None) -> tuple[Path, str, int]:
    data = os.urandom(200_000) if data is None else data
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest(), len(data)


def _key(uri: str) -> str:
    return uri.split("/", 3)[3]  # s3://bucket/<key>


def test_a_video_is_stored_under_its_hash(s3: str, moto: Moto, tmp_path: Path) -> None:
    path, sha, size = _video(tmp_path / "a.mp4")
    uri = _store().put_video(path, sha, size)
    assert uri == f"{s3}/videos/{sha[:2]}/{sha}.mp4"
    raw = raw_store(moto.url)
    assert obstore.get(raw, _key(uri)).bytes().to_bytes() == path.read_bytes()
    assert obstore.head(raw, _key(uri))["size"] == size


def test_two_teammates_storing_one_video_make_one_object(
    s3: str, moto: Moto, tmp_path: Path
) -> None:
    """Each has the video under another name on another machine: the same content key, one
    create succeeds, the other finds it there (412) and takes that as success."""
    data = os.urandom(150_000)
    alice, sha, size = _video(tmp_path / "alice.mp4", data)
    bob, _, _ = _video(tmp_path / "bob.mp4", data)
    first = VideoStore(media_config() or pytest.fail()).put_video(alice, sha, size)
    second = VideoStore(media_config() or pytest.fail()).put_video(bob, sha, size)
    assert first == second
    listed = [
        o["path"] for batch in obstore.list(raw_store(moto.url), s3.split("/", 3)[3]) for o in batch
    ]
    assert listed == [_key(first)]


def test_something_else_under_the_key_is_never_overwritten(
    s3: str, moto: Moto, tmp_path: Path
) -> None:
    path, sha, size = _video(tmp_path / "a.mp4")
    store = _store()
    obstore.put(raw_store(moto.url), _key(store.uri(sha)), b"squatter")
    with pytest.raises(StorageError, match="never overwritten"):
        store.put_video(path, sha, size)
    assert obstore.get(raw_store(moto.url), _key(store.uri(sha))).bytes().to_bytes() == b"squatter"


def test_a_file_changed_since_it_was_verified_is_not_stored(s3: str, tmp_path: Path) -> None:
    path, sha, size = _video(tmp_path / "a.mp4")
    path.write_bytes(b"x" * size)  # same size, other bytes
    store = _store()
    with pytest.raises(StorageError, match="no longer the verified video"):
        store.put_video(path, sha, size)
    assert store.size(store.uri(sha)) is None


def test_a_presigned_link_fetches_the_video(s3: str, tmp_path: Path) -> None:
    path, sha, size = _video(tmp_path / "a.mp4")
    store = _store()
    url = store.sign(store.put_video(path, sha, size))
    assert url.startswith("http://127.0.0.1:") and "X-Amz-Signature=" in url
    assert S3_SECRET not in url
    answer = httpx.get(url)
    assert answer.status_code == 200 and answer.content == path.read_bytes()
    assert answer.headers["content-type"] == "video/mp4"  # a browser plays it


def test_a_fetch_is_checked_against_the_logged_hash(s3: str, moto: Moto, tmp_path: Path) -> None:
    path, sha, size = _video(tmp_path / "a.mp4")
    store = _store()
    uri = store.put_video(path, sha, size)
    dest = tmp_path / "cache" / "run.mp4"
    assert store.fetch(uri, dest, sha256=sha, size=size) == dest
    assert dest.read_bytes() == path.read_bytes()

    tampered = bytearray(path.read_bytes())
    tampered[1000] ^= 0xFF  # one bit flipped, same size
    obstore.put(raw_store(moto.url), _key(uri), bytes(tampered))
    other = tmp_path / "cache" / "other.mp4"
    with pytest.raises(DownloadError, match="does not match the run's SHA-256"):
        store.fetch(uri, other, sha256=sha, size=size)
    with pytest.raises(DownloadError, match="has 5 bytes, the run log says"):
        obstore.put(raw_store(moto.url), _key(uri), b"short")
        store.fetch(uri, other, sha256=sha, size=size)
    assert sorted(p.name for p in other.parent.iterdir()) == ["run.mp4"]  # no part files left


def test_a_missing_object_is_a_clear_error(s3: str, tmp_path: Path) -> None:
    store = _store()
    uri = store.uri("cd" * 32)
    assert store.size(uri) is None and not store.exists(uri)
    with pytest.raises(DownloadError, match="is not there"):
        store.fetch(uri, tmp_path / "x.mp4", sha256="cd" * 32)
    assert list(tmp_path.iterdir()) == []


def test_a_shared_folder_store_is_create_only_and_checked_too(tmp_path: Path) -> None:
    """``WANBOOK_MEDIA=file:///…``: a folder every machine mounts, with the same rules."""
    cfg = media_config({"WANBOOK_MEDIA": (tmp_path / "team videos").as_uri()})
    assert cfg is not None
    path, sha, size = _video(tmp_path / "a.mp4")
    uri = VideoStore(cfg).put_video(path, sha, size)
    assert uri == (tmp_path / "team videos" / "videos" / sha[:2] / f"{sha}.mp4").as_uri()
    assert VideoStore(cfg).put_video(path, sha, size) == uri  # a second teammate: no error
    dest = tmp_path / "bob" / "run.mp4"
    assert VideoStore(cfg).fetch(uri, dest, sha256=sha, size=size).read_bytes() == path.read_bytes()
    assert VideoStore(cfg).sign(uri) == uri  # no links to sign: the file's own URI
    with pytest.raises(StorageError, match="outside"):
        VideoStore(cfg).size((tmp_path / "elsewhere.mp4").as_uri())
