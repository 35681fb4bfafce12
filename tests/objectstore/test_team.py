"""Videos on the team's store, end to end: the embedded emulator's real MP4s, moto's S3 server.

"Another machine" is another ``WANBOOK_HOME`` holding a copy of the run log (as a shared log
would) and none of the first machine's video files, which are deleted.
"""

from __future__ import annotations

import hashlib
import sqlite3
import warnings
from pathlib import Path
from typing import Any

import httpx
import obstore
import pytest

import wanbook as wb
from wanbook._api.client import Client
from wanbook._media.store import StorageWarning
from wanbook._notebook.display import run_cell, run_video
from wanbook._portal import run_sync
from wanbook._secret import Secret
from wanbook.emulator import Emulator

from .conftest import BUCKET, S3_SECRET, Moto, raw_store

T2V = dict(model="wan2.2-t2v-plus", prompt="a fox", size="832*480", seed=7, prompt_extend=False)


@pytest.fixture(scope="module")
def emu() -> Any:
    with Emulator(time_scale=1 / 600) as e:  # tasks end as soon as their video is rendered
        yield e


def _session(emu: Any, api_key: str, home: Path, **kw: Any) -> wb.Session:
    return wb.Session(api_key=api_key, base_url=emu.base_url, home=home, quiet=True, **kw)


def _sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _key(uri: str) -> str:
    return uri.split("/", 3)[3]


def _other_machine(home_a: Path, home_b: Path) -> None:
    """Home B gets the log (a copy, as a shared log would give it); A's videos are gone."""
    home_b.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(home_a / "runs.sqlite"), sqlite3.connect(home_b / "runs.sqlite")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    for video in (home_a / "videos").glob("*"):
        video.unlink()


def _no_secret(*homes: Path, text: str = "") -> None:
    assert S3_SECRET not in text
    for home in homes:
        for path in home.rglob("*"):
            if path.is_file():
                assert S3_SECRET.encode() not in path.read_bytes(), path


def test_a_verified_video_is_stored_by_its_hash_and_logged(
    s3: str, moto: Moto, emu: Any, api_key: str, tmp_path: Path
) -> None:
    with _session(emu, api_key, tmp_path) as s:
        run = s.generate(**T2V)
    sha = _sha(run.video_path)
    assert run.video_sha256 == sha
    assert run.video_uri == f"{s3}/videos/{sha[:2]}/{sha}.mp4"
    stored = obstore.get(raw_store(moto.url), _key(run.video_uri)).bytes().to_bytes()
    assert stored == Path(run.video_path).read_bytes()  # and the local file stays: the cache
    _no_secret(tmp_path)


def test_the_store_down_mid_run_loses_nothing_and_resume_stores_it(
    api_key: str, emu: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    """The store stops answering while the task runs: the run still SUCCEEDS with its local
    file, ``video_uri`` NULL and one warning; once the store is back, resume stores it."""
    down = Moto()
    down.start()
    assert httpx.put(f"{down.url}/{BUCKET}").status_code == 200
    media = f"s3://{BUCKET}/down/{tmp_path.name}"
    monkeypatch.setenv("WANBOOK_MEDIA", media)
    monkeypatch.setenv("AWS_ENDPOINT_URL", down.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "WANBOOKTESTKEYID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)

    def stop_when_sent(run: Any) -> None:
        if run.status in ("PENDING", "RUNNING") and down.server is not None:
            down.stop()

    try:
        with _session(emu, api_key, tmp_path) as s:
            with pytest.warns(StorageWarning) as caught:
                run = s.generate(**T2V, on_update=stop_when_sent)
            assert down.server is None  # it was down when the video came
            assert len(caught) == 1
            said = str(caught[0].message)
            assert "Nothing is lost" in said and "resume" in said and S3_SECRET not in said
            assert run.status == "SUCCEEDED" and run.video_uri is None
            assert Path(run.video_path).is_file() and run.cost > 0
            assert s.log.not_stored() == [run.run_id]

            down.start()  # the store is back (same port, same bucket)
            assert s.resume() == []  # nothing was unfinished ...
            stored = s.run(run.run_id)
            assert (
                stored.video_uri == f"{media}/videos/{run.video_sha256[:2]}/{run.video_sha256}.mp4"
            )
            assert s.log.not_stored() == []
        got = obstore.get(raw_store(down.url), _key(stored.video_uri)).bytes().to_bytes()
        assert got == Path(run.video_path).read_bytes()
    finally:
        down.stop()
    out = capfd.readouterr()
    _no_secret(tmp_path, text=out.out + out.err)


def test_runs_made_before_the_store_was_set_are_stored_when_reused(
    s3: str, emu: Any, api_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _session(emu, api_key, tmp_path, media="") as s:  # "" : no store, whatever the env
        old = s.generate(**T2V)
    assert old.video_uri is None
    with _session(emu, api_key, tmp_path) as s:
        again = s.generate(reuse=True, **T2V)
        assert again.reused and again.run_id == old.run_id
        assert again.video_uri and again.video_uri.startswith(s3)


def test_another_machine_shows_reuses_and_reruns_a_stored_run(
    s3: str, moto: Moto, emu: Any, api_key: str, tmp_path: Path, capfd: Any
) -> None:
    home_a, home_b = tmp_path / "alice", tmp_path / "bob"
    with _session(emu, api_key, home_a) as a:
        run = a.generate(**T2V)
    assert run.video_uri
    _other_machine(home_a, home_b)
    cache = home_b / "videos" / f"{run.run_id}.mp4"
    with _session(emu, api_key, home_b) as b:
        # shown: fetched into B's cache, checked against the logged hash
        html = wb.show(run.run_id, session=b)._repr_html_()
        assert "<video" in html and f"{run.run_id}.mp4" in html
        assert cache.is_file() and _sha(cache) == run.video_sha256
        assert b.run(run.run_id).video_path == str(cache)  # B's copy is the run's file here
        # judging and compare cells play it too
        cache.unlink()
        assert "<video" in run_video(b.run(run.run_id).record, session=b)
        assert run_cell(b.run(run.run_id).record, session=b).src is not None
        # a link to share, fetchable without credentials
        link = b.video_url(run.run_id)
        assert httpx.get(link).content == cache.read_bytes()
        # reuse: the video is in the store, not on disk -> the same run, fetched
        cache.unlink()
        reused = b.generate(reuse=True, **T2V)
        assert reused.reused and reused.run_id == run.run_id
        assert reused.video_path == str(cache) and _sha(cache) == run.video_sha256
        assert len(b.runs()) == 1
        # rerun: a new run of the same request; same video -> the same object (create is a no-op)
        again = b.rerun(run.run_id)
        assert again.rerun_of == run.run_id and again.run_id != run.run_id
        assert again.video_uri and Path(again.video_path).is_relative_to(home_b)
        # the reports measure it from B's copy too
        cache.unlink()
        metrics = wb.video_metrics([run.run_id], session=b)
        assert metrics.loc[run.run_id, "frames"] > 0 and cache.is_file()
        cache.unlink()
        report = wb.reproducibility(session=b)
        assert cache.is_file() and report.groups["runs"].sum() == 2
    out = capfd.readouterr()
    _no_secret(home_a, home_b, text=out.out + out.err)


def test_a_tampered_object_is_refused_and_nothing_is_shown(
    s3: str, moto: Moto, emu: Any, api_key: str, tmp_path: Path
) -> None:
    home_a, home_b = tmp_path / "alice", tmp_path / "bob"
    with _session(emu, api_key, home_a) as a:
        run = a.generate(**T2V)
    _other_machine(home_a, home_b)
    data = bytearray(obstore.get(raw_store(moto.url), _key(run.video_uri)).bytes().to_bytes())
    data[len(data) // 2] ^= 0x01
    obstore.put(raw_store(moto.url), _key(run.video_uri), bytes(data))
    with _session(emu, api_key, home_b) as b:
        html = wb.show(run.run_id, session=b)._repr_html_()
        assert "<video" not in html
        assert "video not available here" in html and "SHA-256" in html
        assert list((home_b / "videos").glob("*")) == []  # nothing kept, not even a part file
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            other = b.generate(reuse=True, **T2V)  # a copy that does not verify: pay again
        assert not other.reused


def test_an_unfinished_run_is_resumed_from_another_machine(
    s3: str, moto: Moto, emu: Any, api_key: str, tmp_path: Path
) -> None:
    """A's kernel died after the create was answered; B resumes it: polls, downloads,
    verifies and stores it."""
    home_a, home_b = tmp_path / "alice", tmp_path / "bob"
    with _session(emu, api_key, home_a) as a:
        prep = a.prepare(wb.Request(**T2V))
        tracker = a.tracker()
        run_id = tracker.start(prep, None, [])

        async def create() -> str:
            async with Client(a.endpoint(), Secret(api_key)) as c:
                return (await c.create(prep.body)).task_id

        tracker.update(run_id, status="PENDING", task_id=run_sync(create()))
    _other_machine(home_a, home_b)
    with _session(emu, api_key, home_b) as b:
        [done] = b.resume()
        assert done.run_id == run_id and done.status == "SUCCEEDED"
        assert Path(done.video_path).is_relative_to(home_b)
        assert done.video_uri == f"{s3}/videos/{done.video_sha256[:2]}/{done.video_sha256}.mp4"
    stored = obstore.get(raw_store(moto.url), _key(done.video_uri)).bytes().to_bytes()
    assert hashlib.sha256(stored).hexdigest() == done.video_sha256
