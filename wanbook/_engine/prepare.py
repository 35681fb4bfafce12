"""Turning what a user asked for into what is sent and what is logged — before any I/O to the API.

``prepare`` is the first step of the one orchestration path: validate against the catalogue,
check the image locally, fill in the model's defaults, build the wire body, make the copy of the
body that may be logged (image data replaced by its hash), estimate the cost and compute the
fingerprint used to find an identical earlier run. Nothing here talks to the network.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from wanbook._engine.media_inputs import PreparedMedia, media_kwargs, prepare_media
from wanbook._errors import Problem, ValidationError
from wanbook._media.images import PreparedImage, prepare_image, redact_body
from wanbook._spec.catalogue import ModelSpec, catalogue
from wanbook._spec.images import image_rules
from wanbook._spec.prices import Estimate, PriceTable, billed_seconds, estimate
from wanbook._spec.request import Request, Resolved, build_body, check, request_from_body, resolve
from wanbook._warn import warn_user

__all__ = ["Prepared", "RequestWarning", "prepare", "request_of"]


class RequestWarning(UserWarning):
    """Something about a request worth knowing that does not stop it (e.g. a prompt the server cuts)."""


@dataclass(frozen=True)
class Prepared:
    request: Request
    resolved: Resolved
    region: str
    body: dict[str, Any]  # exactly what is sent (may hold a data: URI)
    logged_body: dict[str, Any]  # what the run log keeps: no image bytes, never a key
    image: PreparedImage | None
    estimate: Estimate
    fingerprint: str
    warnings: tuple[Problem, ...]
    media: PreparedMedia = PreparedMedia()

    @property
    def repeatable(self) -> bool:
        """Whether an identical request can give the same video: a fixed seed, no prompt rewrite."""
        return self.resolved.seed is not None and not self.resolved.prompt_extend

    def params(self) -> dict[str, Any]:
        """Every parameter as sent, plus the defaults the service will apply (for the run log)."""
        r = self.resolved
        sent = dict(self.body.get("parameters", {}))
        return {
            **sent,
            "tier": r.tier,
            "size": r.size,
            "resolution": r.tier if not r.spec.sized else None,
            "ratio": r.ratio,
            "duration": r.duration,
            "audio": r.sound,
            "prompt_extend": r.prompt_extend,
            "watermark": r.watermark,
            "shot_type": r.shot_type if r.spec.shot_type else None,
            "template": self.request.template,
            "audio_url": self.request.audio_url,
            "audio_setting": self.request.audio_setting,
            "media": [dict(m) for m in self.media.log] or None,
            "sent": sorted(sent),
        }


def prepare(
    request: Request, region: str, prices: PriceTable, *, backend: str, warn: bool = True
) -> Prepared:
    """Validate, check the image, build the body and estimate. Raises before anything is sent."""
    problems = check(request, region)
    spec = catalogue().get(request.model)
    assert spec is not None  # check() refused unknown models
    image: PreparedImage | None = None
    if spec.protocol == "classic" and not spec.is_t2v and request.image is not None:
        image = prepare_image(request.image, image_rules(spec))
    resolved = resolve(request)
    local_audio = request.audio_url if spec.protocol == "media" and spec.audio_url else None
    media = prepare_media(spec, catalogue(), resolved.media, audio_url=local_audio)
    if media.first_frame() is not None:
        image = media.first_frame()
    problems += [*media.warnings, *_length_problems(request, spec, resolved.duration, media)]
    region_spec = catalogue().regions.get(region)
    if media.uploads and backend != "emulator" and not (region_spec and region_spec.uploads):
        raise ValidationError(
            [
                Problem(
                    local.field,
                    local.source,
                    f"{local.field} is a local {local.kind} file; it can only be sent through the "
                    f"vendor's temporary file store, which region {region!r} does not offer: "
                    "pass an http(s) URL to it instead",
                )
                for local in media.uploads
            ],
            model=spec.name,
        )
    body = build_body(request, region, img_url=image.url if image else None, media_urls=media.urls)
    logged = redact_body(body)
    seconds = billed_seconds(spec, resolved.duration, resolved.media, media.lengths())
    if seconds is None:
        problems.append(
            Problem(
                "video",
                None,
                f"the estimate of this {spec.name} request is unknown: the input video's length "
                "is unknown (a URL), and the input is billed with the output; give a local file "
                "to know it",
                "warning",
            )
        )
    est = estimate(prices, spec.name, region, resolved.tier, seconds, resolved.sound)
    if warn:
        for p in problems:
            warn_user(f"{p.field}: {p.message}", RequestWarning)  # at the user's line
    return Prepared(
        request=request,
        resolved=resolved,
        region=region,
        body=body,
        logged_body=logged,
        image=image,
        estimate=est,
        fingerprint=fingerprint(logged, where=f"{backend}:{region}"),
        warnings=tuple(problems),
        media=media,
    )


def _length_problems(
    request: Request, spec: ModelSpec, duration: int, media: PreparedMedia
) -> list[Problem]:
    """Rules that need a local clip's length: a continuation must be longer than its clip, an
    edit may not ask for more than its video holds (both would be paid tasks whose outcome the
    vendor does not document: refused, see the catalogue's choices). Raises ValidationError."""
    errors = []
    for clip in media.uploads:
        if clip.field == "first_clip" and duration <= clip.duration:
            errors.append(
                Problem(
                    "duration",
                    duration,
                    f"duration {duration} s is the total length of a continuation, clip included; "
                    f"the clip is {clip.duration:.1f} s, so ask for more than {clip.duration:.1f} s "
                    f"(up to {spec.duration.max} s)",
                )
            )
        if clip.field == "video" and request.duration and request.duration > clip.duration + 0.05:
            errors.append(
                Problem(
                    "duration",
                    request.duration,
                    f"duration {request.duration} s is longer than the input video "
                    f"({clip.duration:.1f} s); use 0 to keep its length or at most "
                    f"{int(clip.duration)} s",
                )
            )
    if errors:
        raise ValidationError(errors, model=spec.name)
    return []


def fingerprint(logged_body: dict[str, Any], *, where: str) -> str:
    """A stable hash of what was asked (image by hash) and where: identical requests match."""
    blob = json.dumps({"body": logged_body, "where": where}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def request_of(record: dict[str, Any], **changes: Any) -> Request:
    """The request of a logged run (its body as sent), with ``changes``: to run it again.

    The log keeps an image by hash, not its bytes: a local image is read again from the path it
    came from; one given as bytes or a PIL image must be passed again as ``image=``.
    """
    req = request_from_body(record.get("request_body") or {}).replace(model=record["model"])
    if isinstance(req.image, str) and req.image.startswith("sha256:"):
        source = record.get("image_source") or ""
        if "image" not in changes and (not source or source.startswith("<")):
            what = source or "image"
            raise ValidationError(
                [
                    Problem(
                        "image",
                        source,
                        f"run {record.get('run_id')} kept only the hash of its {what}; "
                        "pass image=... to run it again",
                    )
                ],
                model=record["model"],
            )
        req = req.replace(image=source)
    logged = (
        (record.get("params") or {}).get("media")
        if isinstance(record.get("params"), dict)
        else None
    )
    if logged:
        kwargs, lost = media_kwargs(logged)
        lost = [f for f in lost if f.split("[", 1)[0].split(".", 1)[0] not in changes]
        if lost:
            raise ValidationError(
                [
                    Problem(
                        name,
                        None,
                        f"run {record.get('run_id')} kept only the hash of its {name}; "
                        f"pass {name.split('[', 1)[0].split('.', 1)[0]}=... to run it again",
                    )
                    for name in lost
                ],
                model=record["model"],
            )
        cleared = {f: None for f in ("first_frame", "last_frame", "media")}
        req = req.replace(**(cleared | kwargs))
    return req.replace(**changes)
