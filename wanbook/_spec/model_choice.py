"""Choosing models for a region: the cheapest ones it serves, and a size they all offer.

The example notebooks and the form must run in every region, and regions serve different
models (``us`` serves only the wan2.6 family). So their defaults are not model names but a
choice made from the catalogue and the price table for the session's region:
:func:`cheapest_models`. Pure: catalogue and price table in, names out; nothing is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wanbook._spec.catalogue import ModelSpec, catalogue
from wanbook._spec.prices import PriceTable

__all__ = ["ModelPick", "cheapest_models", "shared_setting"]

TIER_ORDER = ("480P", "720P", "1080P")


@dataclass(frozen=True)
class ModelPick:
    """Models chosen for a region, cheapest first, and what they can all be asked for.

    ``size`` (text-to-video): the smallest ``W*H`` every model offers; ``resolution``
    (image-to-video): the smallest tier every model offers. None when they share none; then
    leave it out and each model uses its own default.
    """

    kind: str
    region: str
    models: list[str]
    size: str | None
    resolution: str | None


def _cheapest_price(spec: ModelSpec, region: str, prices: PriceTable) -> tuple[int, float, str]:
    """Sort key: priced before unpriced, the region's currency first, then price per second of
    the model's cheapest priced tier (with the model's default sound)."""
    currency = catalogue().regions[region].currency if region in catalogue().regions else None
    sound = spec.has_sound(None, None)
    best: tuple[int, float, str] = (2, 0.0, "")
    for tier in spec.tiers:
        price = prices.lookup(spec.name, region, tier, sound)
        if price is None:
            continue
        key = (0 if price.currency == currency else 1, price.per_second, tier)
        best = min(best, key) if best[0] < 2 else key
    return best


def _shared_tier(specs: list[ModelSpec]) -> str | None:
    for tier in TIER_ORDER:
        if all(tier in s.tiers for s in specs):
            return tier
    return None


def cheapest_models(
    kind: str,
    region: str,
    count: int = 1,
    *,
    audio: str | None = None,
    template: str | None = None,
    prices: PriceTable | None = None,
) -> ModelPick:
    """The ``count`` cheapest ``kind`` models (``"t2v"`` or ``"i2v"``) served in ``region``
    (no default: pass the session's, ``wb.session().region``).

    Cheapest by the price per second of a model's cheapest tier in ``region`` (prices in the
    region's own currency first; unpriced models last, in catalogue order). ``audio`` keeps
    only models whose sound is ``"switchable"``, ``"always"`` on or ``"silent"``; ``template``
    only those offering that video-effect template. ``models`` is empty when the region serves
    no such model: say so and skip, rather than asking for one it cannot serve.
    """
    if kind not in ("t2v", "i2v"):
        raise ValueError(f"kind={kind!r} is not allowed; expected 't2v' or 'i2v'")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count={count!r} is not allowed; expected a whole number >= 1")
    cat = catalogue()
    if region not in cat.regions:
        raise ValueError(f"region={region!r} is not allowed; expected one of {sorted(cat.regions)}")
    table = prices if prices is not None else PriceTable.load()
    served = [
        spec
        for spec in (cat.models[n] for n in cat.names(kind=kind, region=region))
        if (audio is None or spec.audio == audio)
        and (template is None or template in spec.templates)
    ]
    ranked = sorted(served, key=lambda s: _cheapest_price(s, region, table)[:2])[:count]
    tier = _shared_tier(ranked) if ranked else None
    size = None
    if kind == "t2v" and tier is not None:
        shared = [z for z in cat.sizes[tier] if all(z in s.sizes for s in ranked)]
        size = shared[0] if shared else None
    return ModelPick(
        kind=kind,
        region=region,
        models=[s.name for s in ranked],
        size=size,
        resolution=tier if kind == "i2v" else None,
    )


def shared_setting(models: Sequence[str]) -> dict[str, str]:
    """One setting every model of a comparison is asked for, as request fields: the smallest
    ``size`` of the cheapest tier all text-to-video ``models`` offer, or that tier as the
    ``resolution`` of models asked for a tier (image-to-video, wan2.7). ``{}`` when the models
    are of mixed kinds, some take a size and some a tier, or they take neither (each then uses
    its own default). Raises ValueError naming each model's tiers when
    they share none.
    """
    cat = catalogue()
    specs = [cat.models[m] for m in dict.fromkeys(models) if m in cat.models]
    kinds = {s.kind for s in specs}
    if not specs or len(kinds) != 1 or kinds - {"t2v", "i2v"} or not all(s.tiers for s in specs):
        return {}
    tier = _shared_tier(specs)
    by_size = [bool(s.sizes) for s in specs]  # t2v models asked for W*H; others for a tier
    if any(by_size) and not all(by_size):
        return {}  # some take a size, some a resolution: each its own default
    sizes = [z for z in cat.sizes.get(tier or "", ()) if all(z in s.sizes for s in specs)]
    if tier is None or (all(by_size) and not sizes):
        offered = "; ".join(f"{s.name}: {', '.join(s.tiers)}" for s in specs)
        field = "size" if all(by_size) else "resolution"
        raise ValueError(
            f"these models share no {field}; compare them at one each of them offers, or "
            f"separately ({offered})"
        )
    return {"size": sizes[0]} if all(by_size) else {"resolution": tier}
