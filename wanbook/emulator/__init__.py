"""An embedded DashScope-compatible Wan video service that renders real H.264 MP4s.

wanbook uses it when there is no API key, and its tests use it as the service's double. The
vendor's own SDK cannot tell it from the service (apart from the base URL)::

    from wanbook.emulator import Emulator, Faults

    with Emulator() as emu:                      # a free port on 127.0.0.1, background thread
        emu.base_url                             # "http://127.0.0.1:PORT/api/v1"

    with Emulator(faults=Faults(seed=1, task_fail_rate=0.2), rate_limits=False) as emu: ...

``main(argv)`` is the ``wanbook emulator`` command. Time: ``time_scale`` 1.0 is the real
service's pace (a task takes one to five minutes; ids and URLs live 24 h); the default
``DEFAULT_TIME_SCALE`` = 1/60 makes a 5 s 480P task take about a second and expire after 24 min.

Importing this package is cheap: the server, numpy, Pillow and PyAV load only when used.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from wanbook.emulator._faults import Faults

if _TYPE_CHECKING:
    from wanbook.emulator._cli import main
    from wanbook.emulator._server import DEFAULT_TIME_SCALE, Emulator

__all__ = ["DEFAULT_TIME_SCALE", "Emulator", "Faults", "main"]

_LAZY = {
    "DEFAULT_TIME_SCALE": "wanbook.emulator._server",
    "Emulator": "wanbook.emulator._server",
    "main": "wanbook.emulator._cli",
}

Faults.__module__ = __name__  # tracebacks and reprs name the public path


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wanbook.emulator' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    if getattr(value, "__module__", "").startswith("wanbook.emulator."):
        value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
