"""``reuse=True`` returns an earlier run only for exactly the same repeatable request whose video
is still on disk; anything else pays again."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

import wanbook as wb
from wanbook.emulator import Emulator

BASE = dict(model="wan2.2-t2v-plus", prompt="a fox", size="832*480", seed=7, prompt_extend=False)


def _png(color: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def emu() -> Any:
    with Emulator(time_scale=1 / 600) as e:  # tasks end as soon as their video is rendered
        yield e


@pytest.fixture
def session(emu: Any, api_key: str, tmp_path: Path) -> Any:
    with wb.Session(api_key=api_key, base_url=emu.base_url, home=tmp_path, quiet=True) as s:
        yield s


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "a fox at night"},
        {"seed": 8},
        {"size": "480*832"},
        {"negative_prompt": "blur"},
        {"watermark": True},
        {"model": "wan2.1-t2v-turbo"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_a_different_request_pays_again(session: Any, change: dict[str, Any]) -> None:
    first = session.generate(reuse=True, **BASE)
    other = session.generate(reuse=True, **{**BASE, **change})
    assert not other.reused and other.run_id != first.run_id
    assert session.generate(reuse=True, **{**BASE, **change}).run_id == other.run_id  # itself: yes
    assert session.generate(reuse=True, **BASE).run_id == first.run_id
    assert len(session.runs()) == 2


@pytest.mark.parametrize(
    "change", [{"seed": None}, {"prompt_extend": True}], ids=["seed=None", "prompt_extend"]
)
def test_unrepeatable_requests_never_reuse(session: Any, change: dict[str, Any]) -> None:
    a = session.generate(reuse=True, **{**BASE, **change})
    b = session.generate(reuse=True, **{**BASE, **change})
    assert not b.reused and a.run_id != b.run_id


def test_a_different_image_pays_again_the_same_image_does_not(session: Any, tmp_path: Path) -> None:
    i2v = dict(model="wan2.1-i2v-turbo", resolution="480P", seed=2, prompt_extend=False)
    red, blue = _png((200, 40, 40)), _png((40, 40, 200))
    first = session.generate(image=red, reuse=True, **i2v)
    path = tmp_path / "red.png"
    path.write_bytes(red)
    same = session.generate(image=str(path), reuse=True, **i2v)  # same bytes by path: same hash
    assert same.reused and same.run_id == first.run_id
    other = session.generate(image=blue, reuse=True, **i2v)
    assert not other.reused and other.image_sha256 != first.image_sha256


def test_a_deleted_video_pays_again_and_an_older_copy_still_serves(session: Any) -> None:
    first = session.generate(reuse=True, **BASE)
    Path(first.video_path).unlink()
    second = session.generate(reuse=True, **BASE)  # the only copy is gone: pay again
    assert not second.reused and second.run_id != first.run_id
    third = session.generate(**BASE)  # reuse off: a third, newest copy
    Path(third.video_path).unlink()
    again = session.generate(reuse=True, **BASE)  # the newest copy is gone, an older one is not
    assert again.reused and again.run_id == second.run_id
    assert len(session.runs()) == 3
