"""The image rules are one set: the client (before sending) and the emulator (at create) accept
and refuse the same images, for the same reasons."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pytest
from PIL import Image

from wanbook._errors import MediaError
from wanbook._media.images import prepare_image
from wanbook._spec.catalogue import catalogue
from wanbook._spec.images import image_problems, image_rules
from wanbook.emulator._fetch import Rejected
from wanbook.emulator._media import resolve_image

SPEC = catalogue().get("wan2.2-i2v-plus")
assert SPEC is not None


def png(make: Callable[[], Image.Image], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    make().save(out, format=fmt)
    return out.getvalue()


def transparent_palette() -> Image.Image:
    img = Image.new("P", (320, 240))
    img.info["transparency"] = 0
    return img


def transparent_grey() -> Image.Image:
    img = Image.new("L", (320, 240))
    img.info["transparency"] = 0  # a tRNS entry on a grey PNG: the emulator once let it pass
    return img


CASES = {
    "RGB PNG": (png(lambda: Image.new("RGB", (320, 240))), True),
    "RGBA PNG": (png(lambda: Image.new("RGBA", (320, 240))), False),
    "LA PNG": (png(lambda: Image.new("LA", (320, 240))), False),
    "palette PNG with tRNS": (png(transparent_palette), False),
    "grey PNG": (png(lambda: Image.new("L", (320, 240))), True),
    "grey PNG with tRNS": (png(transparent_grey), False),
    "too narrow": (png(lambda: Image.new("RGB", (200, 240))), False),
    "JPEG": (png(lambda: Image.new("RGB", (320, 240)), "JPEG"), True),
    "GIF": (png(lambda: Image.new("RGB", (320, 240)), "GIF"), False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_client_and_emulator_agree(name: str) -> None:
    data, ok = CASES[name]
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    try:
        prepare_image(data, image_rules(SPEC))
        client_ok = True
    except MediaError:
        client_ok = False
    try:
        resolve_image(uri, SPEC, {}, False)
        emulator_ok = True
    except Rejected:
        emulator_ok = False
    assert (client_ok, emulator_ok) == (ok, ok)


def test_every_broken_rule_is_named_with_value_and_limit() -> None:
    rules = image_rules(SPEC)
    problems = image_problems(
        rules,
        nbytes=rules.max_bytes + 1,
        fmt="GIF",
        width=100,
        height=9000,
        mode="RGBA",
        alpha=True,
    )
    assert [p.kind for p in problems] == ["bytes", "format", "side", "side"]
    text = " | ".join(p.message for p in problems)
    assert f"over the {rules.max_mb:g} MB limit" in text
    assert "format GIF is not accepted; allowed: JPEG, PNG, BMP, WEBP" in text
    assert "width 100 px is below the minimum 240 px" in text
    assert "height 9000 px is above the maximum 8000 px" in text


def test_the_size_limit_is_the_models() -> None:
    assert image_rules(SPEC).max_mb == SPEC.image_max_mb
