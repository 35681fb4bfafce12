"""audio_url is checked locally (scheme, host, wav/mp3) before anything is sent."""

from __future__ import annotations

import pytest

from wanbook._spec.request import Request, validate


def _audio_problems(url: object) -> list:
    return [
        p
        for p in validate(Request(model="wan2.6-t2v", prompt="p", audio_url=url))
        if p.field == "audio_url"
    ]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a.wav",
        "http://example.com/dir/song.MP3",
        "https://example.com/a.mp3?Expires=1&Signature=abc",
        "https://example.com/my%20song.wav#t=1",
    ],
)
def test_audio_url_ok(url: str) -> None:
    assert _audio_problems(url) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.com/a.wav", "scheme 'ftp' is not allowed"),
        ("a.wav", "no scheme is not allowed"),
        ("s3://bucket/a.mp3", "scheme 's3' is not allowed"),
        ("https:///a.wav", "the URL has no host"),
        ("https://example.com/a.ogg", "extension .ogg; the Wan models accept .wav or .mp3 audio"),
        ("https://example.com/audio", "no file extension"),
        ("https://example.com/a.wav.txt", "extension .txt"),
        ("https://example.com/a.wav/", "no file extension"),
        ("", "expected an http(s) URL"),
        (42, "expected an http(s) URL"),
    ],
)
def test_audio_url_refused(url: object, expected: str) -> None:
    (problem,) = _audio_problems(url)
    assert problem.severity == "error"
    assert expected in problem.message


def test_audio_url_message_hides_the_query_string() -> None:
    (problem,) = _audio_problems("https://example.com/a.ogg?token=SECRET123")
    assert "SECRET123" not in problem.message and "SECRET123" not in str(problem.value)
    assert "https://example.com/a.ogg?…" in problem.message
