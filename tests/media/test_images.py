"""Media in: i2v images checked locally against the model's limits; audio URLs checked by shape."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from wanbook._errors import MediaError
from wanbook._media.images import (
    PreparedImage,
    describe_for_log,
    prepare_image,
    redact_body,
)
from wanbook._spec.images import MB, ImageRules, image_rules


def rules(**changes: Any) -> ImageRules:
    """The catalogue's image rules with ``changes`` (the size limit is each model's own)."""
    return replace(image_rules(), **changes)


def encode(img: Image.Image, fmt: str, **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def noisy(w: int, h: int, mode: str = "RGB") -> Image.Image:
    """Incompressible pixels, so a file's size is predictable from its sides."""
    channels = len(Image.new(mode, (1, 1)).getbands())
    return Image.frombytes(mode, (w, h), os.urandom(w * h * channels))


def rgb(w: int = 320, h: int = 240) -> Image.Image:
    return Image.new("RGB", (w, h), (200, 40, 40))


# --------------------------------------------------------------------------- sides


@pytest.mark.parametrize(
    ("size", "error"),
    [
        ((240, 240), None),
        ((8000, 240), None),
        ((240, 8000), None),
        ((239, 240), "width 239 px is below the minimum 240 px"),
        ((240, 239), "height 239 px is below the minimum 240 px"),
        ((8001, 240), "width 8001 px is above the maximum 8000 px"),
        ((240, 8001), "height 8001 px is above the maximum 8000 px"),
    ],
)
def test_side_limits(tmp_path: Path, size: tuple[int, int], error: str | None) -> None:
    path = write(tmp_path, "side.png", encode(Image.new("RGB", size, "white"), "PNG"))
    if error is None:
        prepared = prepare_image(path, rules(max_mb=10))
        assert (prepared.width, prepared.height) == size
        assert prepared.format == "PNG"
    else:
        with pytest.raises(MediaError) as info:
            prepare_image(path, rules(max_mb=10))
        assert info.value.field == "image"
        assert str(info.value) == f"image {str(path)!r}: {error}"


def test_side_limits_are_arguments(tmp_path: Path) -> None:
    path = write(tmp_path, "small.png", encode(Image.new("RGB", (100, 100)), "PNG"))
    assert prepare_image(path, rules(max_mb=10, min_side=100, max_side=100)).width == 100
    with pytest.raises(MediaError, match="above the maximum 99 px"):
        prepare_image(path, rules(max_mb=10, min_side=10, max_side=99))


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "fmt", "mime"),
    [
        ("photo.jpg", "JPEG", "image/jpeg"),
        ("photo.jpeg", "JPEG", "image/jpeg"),
        ("photo.png", "PNG", "image/png"),
        ("photo.bmp", "BMP", "image/bmp"),
        ("photo.webp", "WEBP", "image/webp"),
    ],
)
def test_accepted_formats_become_data_uris(tmp_path: Path, name: str, fmt: str, mime: str) -> None:
    data = encode(rgb(), fmt)
    path = write(tmp_path, name, data)
    prepared = prepare_image(str(path), rules(max_mb=10))
    assert prepared.format == fmt
    assert prepared.url.startswith(f"data:{mime};base64,")
    assert base64.b64decode(prepared.url.split(",", 1)[1]) == data
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()
    assert prepared.bytes == len(data)
    assert (prepared.width, prepared.height) == (320, 240)
    assert prepared.source == str(path)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_other_formats_are_refused(tmp_path: Path, fmt: str) -> None:
    path = write(tmp_path, f"x.{fmt.lower()}", encode(rgb(), fmt))
    with pytest.raises(MediaError) as info:
        prepare_image(path, rules(max_mb=10))
    assert f"format {fmt} is not accepted; allowed: JPEG, PNG, BMP, WEBP" in str(info.value)


def test_formats_are_an_argument_and_jpg_means_jpeg(tmp_path: Path) -> None:
    jpeg = write(tmp_path, "a.jpg", encode(rgb(), "JPEG"))
    png = write(tmp_path, "a.png", encode(rgb(), "PNG"))
    assert prepare_image(jpeg, rules(max_mb=10, formats=("jpg",))).format == "JPEG"
    with pytest.raises(MediaError, match="format PNG is not accepted; allowed: JPEG"):
        prepare_image(png, rules(max_mb=10, formats=("jpg",)))


def test_content_decides_the_format_not_the_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "really-a-jpeg.png", encode(rgb(), "JPEG"))
    prepared = prepare_image(path, rules(max_mb=10))
    assert prepared.format == "JPEG"
    assert prepared.url.startswith("data:image/jpeg;base64,")


# --------------------------------------------------------------------------- alpha


def _palette_with_transparency() -> Image.Image:
    img = rgb().convert("P")
    img.info["transparency"] = 0
    return img


def _rgb_with_transparency() -> Image.Image:
    img = rgb()
    img.info["transparency"] = (200, 40, 40)
    return img


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: rgb().convert("RGBA"), "PNG has an alpha channel (RGBA)"),
        (lambda: rgb().convert("LA"), "PNG has an alpha channel (LA)"),
        (_palette_with_transparency, "PNG has a transparency (tRNS) entry (mode P)"),
        (_rgb_with_transparency, "PNG has a transparency (tRNS) entry (mode RGB)"),
    ],
    ids=["RGBA", "LA", "P+tRNS", "RGB+tRNS"],
)
def test_png_alpha_is_refused_with_a_fix(tmp_path: Path, make, expected: str) -> None:
    img = make()
    save = {"transparency": img.info["transparency"]} if "transparency" in img.info else {}
    path = write(tmp_path, "cat.png", encode(img, "PNG", **save))
    with pytest.raises(MediaError) as info:
        prepare_image(path, rules(max_mb=10))
    message = str(info.value)
    assert message.startswith(f"image {str(path)!r}: {expected}")
    assert 'convert with img.convert("RGB")' in message
    # png_alpha=True (a future model) lets it through
    assert prepare_image(path, rules(max_mb=10, png_alpha=True)).format == "PNG"


def test_the_example_message_from_the_brief(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "cat.png", encode(rgb().convert("RGBA"), "PNG"))
    with pytest.raises(MediaError) as info:
        prepare_image("cat.png", rules(max_mb=10))
    assert str(info.value) == (
        "image 'cat.png': PNG has an alpha channel (RGBA); the Wan models accept PNG without "
        'alpha — convert with img.convert("RGB")'
    )


def test_webp_with_alpha_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "a.webp", encode(rgb().convert("RGBA"), "WEBP"))
    assert prepare_image(path, rules(max_mb=10)).format == "WEBP"


def test_every_problem_is_said_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "thin.png", encode(noisy(239, 240, "RGBA"), "PNG"))
    with pytest.raises(MediaError) as info:
        prepare_image(path, rules(max_mb=0.01))
    message = str(info.value)
    for part in ("over the 0.01 MB limit", "width 239 px is below", "alpha channel (RGBA)"):
        assert part in message


# --------------------------------------------------------------------------- file size


def test_exact_size_limit_boundary(tmp_path: Path) -> None:
    """At the limit passes, one byte over fails. BMP ignores trailing bytes, so we can pad."""
    max_mb = 0.25
    limit = int(max_mb * MB)
    bmp = encode(rgb(256, 240), "BMP")
    at_limit = bmp + b"\0" * (limit - len(bmp))
    assert prepare_image(at_limit, rules(max_mb=max_mb)).bytes == limit
    with pytest.raises(MediaError) as info:
        prepare_image(at_limit + b"\0", rules(max_mb=max_mb))
    assert f"({limit + 1} bytes) is over the 0.25 MB limit" in str(info.value)
    assert str(info.value).startswith("image <bytes>: ")


def test_real_10_and_20_mb_limits(tmp_path: Path) -> None:
    """A 24-bit BMP 1024 px wide is 54 + 3072·h bytes: h=3413 fits 10 MB, h=3414 does not."""
    under = write(tmp_path, "under.bmp", encode(Image.new("RGB", (1024, 3413)), "BMP"))
    over = write(tmp_path, "over.bmp", encode(Image.new("RGB", (1024, 3414)), "BMP"))
    assert under.stat().st_size == 54 + 3072 * 3413 <= 10 * MB < over.stat().st_size
    assert prepare_image(under, rules(max_mb=10)).bytes == under.stat().st_size
    with pytest.raises(
        MediaError, match=r"file size 10\.0 MB \(10487862 bytes\) is over the 10 MB"
    ):
        prepare_image(over, rules(max_mb=10))
    assert prepare_image(over, rules(max_mb=20)).height == 3414


def test_oversized_file_still_reports_its_header_problems(tmp_path: Path) -> None:
    path = write(tmp_path, "big.gif", encode(noisy(300, 200), "GIF"))
    with pytest.raises(MediaError) as info:
        prepare_image(path, rules(max_mb=0.001))
    message = str(info.value)
    assert "over the 0.001 MB limit" in message
    assert "format GIF is not accepted" in message
    assert "height 200 px is below the minimum 240 px" in message


# --------------------------------------------------------------------------- broken inputs


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "the file is empty"),
        (b"this is not an image at all" * 10, "not an image Pillow can read"),
        (encode(noisy(300, 300), "PNG")[:5000], "the PNG data is corrupt or truncated"),
        (encode(noisy(300, 300), "JPEG")[:3000], "the JPEG data is corrupt or truncated"),
    ],
    ids=["empty", "garbage", "truncated-png", "truncated-jpeg"],
)
def test_corrupt_files(tmp_path: Path, data: bytes, expected: str) -> None:
    path = write(tmp_path, "broken.png", data)
    with pytest.raises(MediaError) as info:
        prepare_image(path, rules(max_mb=10))
    assert str(info.value).startswith(f"image {str(path)!r}: {expected}")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(MediaError, match=r"nope\.png': no such file$"):
        prepare_image(missing, rules(max_mb=10))
    with pytest.raises(MediaError, match="is a directory"):
        prepare_image(tmp_path, rules(max_mb=10))


@pytest.mark.parametrize(
    "value",
    ["ftp://example.com/cat.png", "s3://bucket/cat.png", "s3:bucket/cat.png", "gs://b/c.jpg"],
)
def test_unknown_schemes_are_refused(value: str) -> None:
    with pytest.raises(MediaError) as info:
        prepare_image(value, rules(max_mb=10))
    assert "unsupported URL scheme" in str(info.value)
    assert value.split(":")[0] in str(info.value)


@pytest.mark.parametrize("value", [123, None, 4.5, ["a.png"]])
def test_unsupported_types(value: object) -> None:
    with pytest.raises(MediaError, match="unsupported type"):
        prepare_image(value, rules(max_mb=10))


def test_a_long_non_path_is_shortened_in_the_message() -> None:
    raw = base64.b64encode(encode(noisy(300, 300), "PNG")).decode()  # base64 without data:
    with pytest.raises(MediaError) as info:
        prepare_image(raw, rules(max_mb=10))
    assert len(str(info.value)) < 400
    assert f"({len(raw)} chars)" in str(info.value)


# --------------------------------------------------------------------------- the kinds of input


@pytest.mark.parametrize("url", ["https://example.com/cat.png?x=1", "http://example.com/a.gif"])
def test_urls_pass_through_unfetched(url: str) -> None:
    prepared = prepare_image(url, rules(max_mb=10))
    assert prepared == PreparedImage(url=url, source=url)
    assert prepared.sha256 is prepared.width is prepared.format is prepared.bytes is None
    assert not prepared.url.startswith("data:")


def test_url_without_host_is_refused() -> None:
    with pytest.raises(MediaError, match="no host"):
        prepare_image("https:///cat.png", rules(max_mb=10))


def test_data_uri_is_decoded_checked_and_given_the_right_mime() -> None:
    data = encode(rgb(), "PNG")
    uri = "data:image/jpeg;base64," + base64.b64encode(data).decode()  # mime says jpeg: wrong
    prepared = prepare_image(uri, rules(max_mb=10))
    assert prepared.source == "<data URI>"
    assert prepared.format == "PNG"
    assert prepared.url == "data:image/png;base64," + base64.b64encode(data).decode()
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("data:image/png;base64,@@@@", "the base64 data does not decode"),
        ("data:image/png;base64", "malformed data URI"),
        (
            "data:image/png;base64,"
            + base64.b64encode(encode(rgb().convert("RGBA"), "PNG")).decode(),
            "image <data URI>: PNG has an alpha channel (RGBA)",
        ),
    ],
)
def test_bad_data_uris(uri: str, expected: str) -> None:
    with pytest.raises(MediaError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        prepare_image(uri, rules(max_mb=10))


def test_file_url_is_a_local_path(tmp_path: Path) -> None:
    path = write(tmp_path, "with space.jpg", encode(rgb(), "JPEG"))
    prepared = prepare_image(path.as_uri(), rules(max_mb=10))
    assert prepared.format == "JPEG"
    assert prepared.source == path.as_uri()
    with pytest.raises(MediaError, match="no such file"):
        prepare_image((tmp_path / "gone.jpg").as_uri(), rules(max_mb=10))
    with pytest.raises(MediaError, match="another host"):
        prepare_image("file://server/share/a.jpg", rules(max_mb=10))


def test_bytes_and_bytearray() -> None:
    data = encode(rgb(), "WEBP")
    for value in (data, bytearray(data), memoryview(data)):
        prepared = prepare_image(value, rules(max_mb=10))
        assert (prepared.source, prepared.format, prepared.bytes) == ("<bytes>", "WEBP", len(data))


def test_pil_image_is_encoded_as_png() -> None:
    prepared = prepare_image(rgb(400, 300), rules(max_mb=10))
    assert (prepared.source, prepared.format, prepared.width, prepared.height) == (
        "<PIL image>",
        "PNG",
        400,
        300,
    )
    png = base64.b64decode(prepared.url.split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).tobytes() == rgb(400, 300).tobytes()  # lossless


@pytest.mark.parametrize(
    ("img", "expected"),
    [
        (
            rgb().convert("RGBA"),
            "image <PIL image>: has an alpha channel or transparency (mode RGBA)",
        ),
        (rgb().convert("PA"), "image <PIL image>: has an alpha channel or transparency (mode PA)"),
        (rgb().convert("CMYK"), "image <PIL image>: mode CMYK cannot be saved as PNG"),
        (rgb(100, 100), "image <PIL image>: width 100 px is below the minimum 240 px"),
    ],
    ids=["RGBA", "PA", "CMYK", "small"],
)
def test_pil_image_problems(img: Image.Image, expected: str) -> None:
    with pytest.raises(MediaError) as info:
        prepare_image(img, rules(max_mb=10))
    assert str(info.value).startswith(expected)


def test_repr_never_holds_the_data() -> None:
    prepared = prepare_image(rgb(), rules(max_mb=10))
    assert "base64" not in repr(prepared)
    assert len(repr(prepared)) < 300


# --------------------------------------------------------------------------- logging


def test_describe_for_log_has_no_data(tmp_path: Path) -> None:
    prepared = prepare_image(write(tmp_path, "a.png", encode(rgb(), "PNG")), rules(max_mb=10))
    described = describe_for_log(prepared)
    assert set(described) == {"sha256", "bytes", "width", "height", "format", "source"}
    assert described["sha256"] == prepared.sha256
    assert "base64" not in repr(described)
    url = describe_for_log(prepare_image("https://e.com/a.png", rules(max_mb=10)))
    assert url == dict.fromkeys(described, None) | {"source": "https://e.com/a.png"}


def test_redact_body_replaces_data_uris_and_copies() -> None:
    prepared = prepare_image(rgb(), rules(max_mb=10))
    body = {
        "model": "wan2.2-i2v-plus",
        "input": {"prompt": "a cat", "img_url": prepared.url},
        "parameters": {"resolution": "480P", "seed": 7, "list": [1, {"a": 2}]},
    }
    redacted = redact_body(body)
    assert body["input"]["img_url"] == prepared.url  # the original is untouched
    assert redacted["input"]["img_url"] == (
        f"sha256:{prepared.sha256} (image/png, {prepared.bytes} bytes, data URI redacted)"
    )
    assert redacted["parameters"] == body["parameters"]
    assert redacted["parameters"]["list"] is not body["parameters"]["list"]
    assert "base64" not in repr(redacted)


def test_redact_body_leaves_urls_and_survives_bad_data() -> None:
    body = {"input": {"img_url": "https://e.com/a.png", "other": "data:text/plain;base64,%%%"}}
    redacted = redact_body(body)
    assert redacted["input"]["img_url"] == "https://e.com/a.png"
    assert redacted["input"]["other"].startswith("sha256:")
    assert redact_body({}) == {}


# --------------------------------------------------------------------------- import cost


def test_import_does_not_load_pillow() -> None:
    code = "import sys, wanbook._media.images; print('PIL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
