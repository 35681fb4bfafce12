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
from typing import Any

from wanbook._errors import ValidationError
from wanbook._spec.catalogue import ModelSpec, catalogue
from wanbook._spec.media import MediaItem, file_kind
from wanbook._spec.request import Request, Resolved, request_from_body, resolve, validate
from wanbook.emulator._audio import AudioSource, resolve_audio
from wanbook.emulator._clips import VideoSource, resolve_video
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
    "first_frame": "input.first_frame_url",
    "last_frame": "input.last_frame_url",
    "media": "input.media",
    "extra": "parameters",
}


@dataclass(frozen=True)
class Intake:
    """An accepted create request: what was asked, what the service will do, and its media."""

    model: str  # the name as submitted
    spec: ModelSpec
    request: Request
    resolved: Resolved
    image: ImageSource | None  # the first frame (i2v, kf2v, r2v with a first frame)
    audio: AudioSource | None  # only when the video carries the request's custom/driving audio
    last: ImageSource | None = None  # the last frame (wan2.7-i2v, kf2v)
    clip: VideoSource | None = None  # the clip continued (first_clip) or edited (video)
    references: tuple[ImageSource | VideoSource, ...] = ()  # r2v and edit reference media
    voices: tuple[AudioSource, ...] = ()  # r2v reference voices


def wire_field(name: str) -> str:
    """Where a validator field name sits in the wire body (``image`` -> ``input.img_url``)."""
    if name in _WIRE:
        return _WIRE[name]
    if name.startswith("media["):
        return "input." + name
    return name if name in ("model", "region") else f"parameters.{name}"


def _parse(body: bytes, region: str, path: str | None) -> tuple[str, ModelSpec, Request]:
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
    if path is not None and not path.endswith(spec.create_path):
        # Not documented (docs/dashscope-wan27.md §15: a kf2v model on the video-generation path, as the
        # SDK's v2 client sends it): answered as a refusal that says where the model is served.
        raise Rejected(
            400,
            "InvalidParameter",
            f"model: {model} is not served at this path; it is created at "
            f"/api/v1{spec.create_path}",
        )
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
    body: bytes,
    headers: Mapping[str, str],
    region: str,
    uploads: Mapping[str, bytes],
    path: str | None = None,
) -> Intake:
    """Check a create request's ``body``; raise :class:`Rejected` with the service's answer.

    ``headers`` must be case-insensitive (``X-DashScope-OssResourceResolve: enable`` lets
    ``oss://`` image and audio URLs through); ``uploads`` holds the files the SDK uploaded;
    ``path`` is the create path the body came to (each model has its own, kf2v image2video).
    """
    model, spec, req = _parse(body, region, path)
    res = resolve(req)
    oss = (headers.get("X-DashScope-OssResourceResolve") or "").lower() == "enable"
    if spec.protocol != "classic":
        return _media_intake(model, spec, req, res, uploads, oss)
    image = None
    if not spec.is_t2v:
        image = resolve_image(req.image, spec, uploads, oss)
    audio = None
    if res.sound and req.audio_url:  # resolve() decided the precedence (docs/dashscope-api.md §5)
        audio = resolve_audio(req.audio_url, uploads, oss)
    return Intake(model=model, spec=spec, request=req, resolved=res, image=image, audio=audio)


def _media_intake(
    model: str,
    spec: ModelSpec,
    req: Request,
    res: Resolved,
    uploads: Mapping[str, bytes],
    oss: bool,
) -> Intake:
    """The media of a wan2.7 or kf2v request, each fetched and checked like the service does."""
    cat = catalogue()
    found: dict[str, list[ImageSource | VideoSource | AudioSource]] = {}
    voices: list[AudioSource] = []
    for item in res.media:
        found.setdefault(item.type, []).append(_resolve(spec, item, uploads, oss))
        if item.voice is not None:
            seconds = cat.media_types["reference_voice"].get("seconds")
            field = wire_field(item.field) + ".reference_voice"
            voices.append(
                resolve_audio(item.voice, uploads, oss, field=field, seconds=_pair(seconds))
            )
    audio = None
    if req.audio_url:  # wan2.7-t2v: custom audio, 2-30 s
        audio = resolve_audio(req.audio_url, uploads, oss, seconds=_pair(spec.audio_seconds))
    first = _one(found, "first_frame")
    driving = _one(found, "driving_audio")
    clip = _one(found, "first_clip") or _one(found, "video")
    if clip is not None:
        _check_clip_length(spec, res, clip)
    refs = [*found.get("reference_image", ()), *found.get("reference_video", ())]
    return Intake(
        model=model,
        spec=spec,
        request=req,
        resolved=res,
        image=first,
        audio=driving or audio,
        last=_one(found, "last_frame"),
        clip=clip,
        references=tuple(refs),
        voices=tuple(voices),
    )


def _pair(seconds: object) -> tuple[float, float] | None:
    if isinstance(seconds, list | tuple) and len(seconds) == 2:
        return float(seconds[0]), float(seconds[1])
    return None


def _one(found: Mapping[str, list], media_type: str) -> Any:
    items = found.get(media_type) or []
    return items[0] if items else None


def _resolve(
    spec: ModelSpec, item: MediaItem, uploads: Mapping[str, bytes], oss: bool
) -> ImageSource | VideoSource | AudioSource:
    field = wire_field(item.field)
    kind = file_kind(catalogue(), item.type)
    if kind == "image":
        return resolve_image(item.source, spec, uploads, oss, field=field)
    if kind == "video":
        return resolve_video(item.source, field, item.type, uploads, oss)
    seconds = _pair(catalogue().media_types.get(item.type, {}).get("seconds"))
    return resolve_audio(item.source, uploads, oss, field=field, seconds=seconds)


def _check_clip_length(spec: ModelSpec, res: Resolved, clip: VideoSource) -> None:
    """What the vendor leaves undocumented (docs/dashscope-wan27.md §15), answered as a refusal: a
    continuation no longer than its clip, and a cut longer than the video to edit."""
    if spec.kind == "i2v" and res.duration <= clip.seconds:
        raise Rejected(
            400,
            "InvalidParameter",
            f"parameters.duration: {res.duration} s is the total length of a continuation; "
            f"the first_clip is {clip.seconds:.1f} s, so it must be longer",
        )
    if spec.kind == "videoedit" and res.duration and res.duration > clip.seconds + 0.05:
        raise Rejected(
            400,
            "InvalidParameter",
            f"parameters.duration: {res.duration} s is longer than the video ({clip.seconds:.1f} s)",
        )
