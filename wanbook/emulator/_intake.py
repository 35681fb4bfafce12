"""A create request's body, checked as the service checks it before it makes a task.

In order (docs/dashscope-api.md §2-§5): the JSON body, the model (named, and served in this region), the
``input`` object, every field through the shared validator (``wanbook._spec.request``: wanbook and
its emulator cannot disagree about what a model accepts), then the media: the input image for
i2v, and the custom audio when the resolved request carries it. A refusal raises
:class:`Rejected` with the status, code and message the service answers.

The media are fetched and read here, synchronously, like the emulator's images always were:
a URL that cannot be downloaded answers ``415 BadRequest.InputDownloadFailed``, a file that is
not a readable image or wav/mp3 ``415 BadRequest.UnsupportedFileFormat``, and a file outside the
size or length limits ``400 InvalidParameter`` (docs/dashscope-api.md §4, §5).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from wanbook._errors import ValidationError
from wanbook._spec.catalogue import ModelSpec, catalogue
from wanbook._spec.request import Request, Resolved, request_from_body, resolve, validate
from wanbook.emulator._audio import AudioSource, resolve_audio
from wanbook.emulator._fetch import Rejected
from wanbook.emulator._media import ImageSource, resolve_image
from wanbook.emulator._protocol import ERROR_MESSAGES as MSG

__all__ = ["Intake", "intake", "wire_field"]

_OSS_AS_HTTPS = "https://oss.emulator.invalid/"  # see _as_checked

# Request fields the validator names -> where they sit in the wire body.
_WIRE = {
    "prompt": "input.prompt",
    "negative_prompt": "input.negative_prompt",
    "image": "input.img_url",
    "audio_url": "input.audio_url",
    "template": "input.template",
    "extra": "parameters",
}


@dataclass(frozen=True)
class Intake:
    """An accepted create request: what was asked, what the service will do, and its media."""

    model: str  # the name as submitted
    spec: ModelSpec
    request: Request
    resolved: Resolved
    image: ImageSource | None  # i2v only
    audio: AudioSource | None  # only when the video carries the request's custom audio


def wire_field(name: str) -> str:
    """Where a validator field name sits in the wire body (``image`` -> ``input.img_url``)."""
    if name in _WIRE:
        return _WIRE[name]
    return name if name in ("model", "region") else f"parameters.{name}"


def _parse(body: bytes, region: str) -> tuple[str, ModelSpec, Request]:
    try:
        data = json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(400, "InvalidParameter", f"{MSG['json']} ({exc})") from None
    if not isinstance(data, dict):
        raise Rejected(400, "InvalidParameter", f"{MSG['json']} (expected a JSON object)")
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        raise Rejected(400, "BadRequest.EmptyModel", MSG["empty_model"])
    spec = catalogue().get(model)
    if spec is None or not catalogue().serves(region, spec):
        raise Rejected(404, "ModelNotFound", f"{MSG['model']} (model: {model})")
    if "input" not in data or data.get("input") is None:
        raise Rejected(400, "BadRequest.EmptyInput", MSG["empty_input"])
    try:
        req = request_from_body(data)
    except ValidationError as exc:
        raise Rejected(
            400, "InvalidParameter", "; ".join(p.message for p in exc.problems)
        ) from None
    errors = [p for p in validate(_as_checked(req), region) if p.severity == "error"]
    if errors:
        text = "; ".join(f"{wire_field(p.field)}: {p.message}" for p in errors)
        raise Rejected(400, "InvalidParameter", text.replace(_OSS_AS_HTTPS, "oss://"))
    return model, spec, req


def _as_checked(req: Request) -> Request:
    """``req`` as the shared rules see it: an ``oss://`` audio_url as an https URL, same key.

    The vendor SDK uploads a local audio file and sends ``oss://{key}`` (as it does for images);
    the shared rules only know the http(s) URLs wanbook sends. Checked as an https URL with the
    same object key, the upload still meets every other rule (the model takes custom audio at
    all, the file is .wav or .mp3), and messages show the URL as it was sent.
    """
    url = req.audio_url
    if isinstance(url, str) and url.strip().startswith("oss://"):
        return req.replace(audio_url=_OSS_AS_HTTPS + url.strip()[len("oss://") :])
    return req


def intake(
    body: bytes, headers: Mapping[str, str], region: str, uploads: Mapping[str, bytes]
) -> Intake:
    """Check a create request's ``body``; raise :class:`Rejected` with the service's answer.

    ``headers`` must be case-insensitive (``X-DashScope-OssResourceResolve: enable`` lets
    ``oss://`` image and audio URLs through); ``uploads`` holds the files the SDK uploaded.
    """
    model, spec, req = _parse(body, region)
    res = resolve(req)
    oss = (headers.get("X-DashScope-OssResourceResolve") or "").lower() == "enable"
    image = None
    if not spec.is_t2v:
        image = resolve_image(req.image, spec, uploads, oss)
    audio = None
    if res.sound and req.audio_url:  # resolve() decided the precedence (docs/dashscope-api.md §5)
        audio = resolve_audio(req.audio_url, uploads, oss)
    return Intake(model=model, spec=spec, request=req, resolved=res, image=image, audio=audio)
