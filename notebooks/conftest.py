"""nbval runs of the example notebooks (``make test``): on the embedded emulator, no key, and a
run log in a temporary folder.

nbval starts a notebook's kernel before any fixture runs, and the kernel inherits this process's
environment, so the environment is set when pytest is configured and put back when it is done:
no ``DASHSCOPE_*`` or ``WANBOOK_*`` variable of the developer's reaches a notebook, and
``WANBOOK_HOME`` is a fresh temporary folder shared by the notebooks of the run (so the cost
report notebook also sees the runs of the notebooks before it).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_saved: dict[str, str] = {}
_home: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    for name in list(os.environ):
        if name.startswith(("DASHSCOPE_", "WANBOOK_")):
            _saved[name] = os.environ.pop(name)
    home = tempfile.mkdtemp(prefix="wanbook-nbval-")
    _home.append(home)
    os.environ["WANBOOK_HOME"] = home
    os.environ["WANBOOK_STATE_DIR"] = os.path.join(home, "state")  # not the user's real one


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.pop("WANBOOK_HOME", None)
    os.environ.pop("WANBOOK_STATE_DIR", None)
    os.environ.update(_saved)
    while _home:
        shutil.rmtree(_home.pop(), ignore_errors=True)
