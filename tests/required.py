"""What a test needs and this machine lacks: skipped, with the reason, on a developer's machine;
failed in CI, where ``.ci/run`` installs everything the tests need (and sets ``CI``), so a broken
set-up can never pass as a skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

#: Read at import, before any test's own environment (tests/conftest.py's clean_env).
IN_CI = bool(os.environ.get("CI"))


def unavailable(reason: str, *, required: bool = IN_CI) -> NoReturn:
    """Skip the test for ``reason``, or fail it when it is ``required`` (in CI)."""
    if required:
        pytest.fail(f"required here (CI) and missing: {reason}", pytrace=False)
    pytest.skip(reason)
