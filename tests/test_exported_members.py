"""The public surface is exactly ``wanbook.__all__`` (and ``wanbook.emulator.__all__``), sorted,
every name resolves, and each is named ``wanbook.X`` so tracebacks show the public name."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import wanbook
import wanbook.emulator

EMULATOR_SURFACE = ["DEFAULT_TIME_SCALE", "Emulator", "Faults", "main"]


@pytest.mark.parametrize("package", [wanbook, wanbook.emulator])
def test_all_is_sorted_and_resolves(package: types.ModuleType) -> None:
    assert package.__all__ == sorted(package.__all__)
    for name in package.__all__:
        assert getattr(package, name) is not None, name


@pytest.mark.parametrize("package", [wanbook, wanbook.emulator])
def test_public_names_are_exactly_all(package: types.ModuleType) -> None:
    """Every public name, once all are resolved, is in ``__all__``; submodules aside."""
    for name in package.__all__:
        getattr(package, name)
    public = {n for n in dir(package) if not n.startswith("_")}
    modules = {n for n in public if isinstance(getattr(package, n), types.ModuleType)}
    assert public - modules == set(package.__all__) - {"__version__"}


def test_the_emulator_surface_is_pinned() -> None:
    assert wanbook.emulator.__all__ == EMULATOR_SURFACE


@pytest.mark.parametrize("name", [n for n in wanbook.__all__ if n != "__version__"])
def test_names_say_wanbook(name: str) -> None:
    assert getattr(wanbook, name).__module__ == "wanbook"


def test_a_traceback_names_the_public_class() -> None:
    code = "import wanbook as wb; wb.estimate(model='nope', prompt='x')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert "\nwanbook.ValidationError: " in out.stderr
    assert "wanbook._errors" not in out.stderr


def test_named_budgets_are_public() -> None:
    """Shared named budgets: ``wb.budget_set(name, amount, currency)`` and ``wb.budgets()``."""
    assert {"budget_set", "budgets"} <= set(wanbook.__all__)
    assert callable(wanbook.budget_set) and callable(wanbook.budgets)
