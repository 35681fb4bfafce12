"""The public surface is exactly ``wanbook.__all__``, sorted, and every name resolves."""

from __future__ import annotations

import wanbook


def test_all_is_sorted_and_resolves() -> None:
    assert wanbook.__all__ == sorted(wanbook.__all__)
    for name in wanbook.__all__:
        assert getattr(wanbook, name) is not None, name


def test_public_names_are_exactly_all() -> None:
    public = {n for n in dir(wanbook) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(wanbook, n)).__name__ == "module"}
    assert public - modules - {"annotations", "importlib", "TYPE_CHECKING", "Any"} == set(
        wanbook.__all__
    ) - {"__version__"}
