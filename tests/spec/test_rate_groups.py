"""Rate groups are catalogue data (docs/dashscope-api.md §4.1): the client's limiter and the emulator both
read them, so they cannot disagree."""

from __future__ import annotations

import pytest

from wanbook._api.pacing import Limiter, group_of
from wanbook._spec.catalogue import catalogue


def test_every_family_is_in_exactly_one_group() -> None:
    groups = catalogue().rate_groups
    families = [f for g in groups.values() for f in g.families]
    assert len(families) == len(set(families))
    for spec in catalogue().models.values():
        group = groups[spec.rate_group]
        assert spec.family in group.families
        assert (spec.rate_per_second, spec.rate_in_flight) == (group.per_second, group.in_flight)


@pytest.mark.parametrize(
    ("group", "families", "limits"),
    [
        ("wan2.5/wan2.6", ("wan2.5", "wan2.6", "wan2.7"), (5, 5)),
        ("wan2.1/wan2.2", ("wan2.1", "wan2.2"), (2, 2)),
    ],
)
def test_the_groups_of_the_api_page(group: str, families: tuple, limits: tuple) -> None:
    g = catalogue().rate_groups[group]
    assert g.families == families and (g.per_second, g.in_flight) == limits
    assert {group_of(f) for f in families} == {group}


def test_the_limiter_makes_one_limit_per_group() -> None:
    limiter = Limiter()
    a = limiter.for_spec(catalogue().get("wan2.5-t2v-preview"))
    b = limiter.for_spec(catalogue().get("wan2.6-i2v-flash"))
    c = limiter.for_spec(catalogue().get("wan2.1-t2v-turbo"))
    assert a is b and a is not c
    assert (a.per_second, a.in_flight, c.per_second, c.in_flight) == (5, 5, 2, 2)


def test_group_slots_are_fifo_resizable_and_survive_a_cancelled_waiter() -> None:
    import asyncio

    from wanbook._api.pacing import GroupLimit

    async def main() -> list[str]:
        limit, order = GroupLimit(5, 1), []
        await limit.slot()

        async def take(name: str) -> None:
            await limit.slot()
            order.append(name)

        a, b, c = (asyncio.ensure_future(take(n)) for n in "abc")
        await asyncio.sleep(0)
        b.cancel()  # a waiter that gives up is skipped, and takes no slot with it
        await asyncio.sleep(0)
        limit.resize(5, 2)  # one more room at once: the first waiter gets it
        await asyncio.sleep(0)
        assert order == ["a"] and limit.busy == 2
        limit.release()
        await asyncio.gather(a, c)
        assert limit.busy == 2 and limit.peak == 2
        return order

    assert asyncio.run(main()) == ["a", "c"]


@pytest.mark.parametrize(
    ("region", "model", "limits"),
    [
        ("intl", "wan2.1-kf2v-plus", (1, 2)),  # docs/dashscope-wan27.md §12.1: Singapore 1/s
        ("cn", "wan2.1-kf2v-plus", (2, 2)),
        (None, "wan2.1-kf2v-plus", (2, 2)),  # no region: the group's figures
        ("intl", "wan2.7-r2v", (5, 5)),
        ("cn", "wan2.2-kf2v-flash", (2, 2)),
    ],
)
def test_a_model_stricter_in_a_region_narrows_its_group_there(region, model, limits) -> None:
    limit = Limiter(region=region).for_spec(catalogue().get(model))
    assert (limit.per_second, limit.in_flight) == limits


def test_the_stricter_model_narrows_a_group_already_made() -> None:
    limiter = Limiter(region="intl")
    turbo = limiter.for_spec(catalogue().get("wan2.1-t2v-turbo"))
    assert (turbo.per_second, turbo.in_flight) == (2, 2)
    assert limiter.for_spec(catalogue().get("wan2.1-kf2v-plus")) is turbo
    assert (turbo.per_second, turbo.in_flight) == (1, 2)
