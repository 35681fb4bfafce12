"""``wanbook emulator``: serve the emulator until interrupted.

The first line of stdout is the base URL (``http://HOST:PORT/api/v1``), flushed at once, so a
script can start the emulator and read where it is. Everything else goes to stderr.
Fault flags mirror the :class:`Faults` fields one to one (``--fault-task-fail-rate 0.2``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from dataclasses import fields
from typing import Any

from wanbook.emulator._faults import Faults
from wanbook.emulator._server import DEFAULT_TIME_SCALE, Emulator

__all__ = ["build_parser", "main"]


def _fault_type(name: str, default: Any) -> Any:
    if name == "task_fail_code":
        return str
    return int if isinstance(default, int) and not name.endswith("_rate") else float


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wanbook emulator",
        description="Serve a DashScope-compatible Wan video API on loopback that renders real MP4s.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help=f"1.0 = the real service's minutes; default {DEFAULT_TIME_SCALE:.5f} (a 5 s 480P task "
        "takes about a second)",
    )
    p.add_argument("--no-rate-limits", action="store_true", help="never answer 429 for rate limits")
    p.add_argument("--region", default="intl", help="region whose models are served (default intl)")
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require the key held in environment variable VAR (default: accept any key)",
    )
    p.add_argument("--query-rate", type=int, help="limit query/list/cancel to N per second")
    p.add_argument("--files-dir", help="keep rendered videos here (default: a temporary directory)")
    p.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    group = p.add_argument_group("fault injection (see wanbook.emulator.Faults)")
    for f in fields(Faults):
        flag = "--fault-" + f.name.replace("_", "-")
        group.add_argument(
            flag,
            dest=f"fault_{f.name}",
            type=_fault_type(f.name, f.default),
            default=f.default,
            metavar=f.name.split("_")[-1].upper(),
        )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until Ctrl-C (or SIGTERM). Returns the exit code (0, or 2 for bad input)."""
    args = build_parser().parse_args(argv)
    try:
        faults = Faults(**{f.name: getattr(args, f"fault_{f.name}") for f in fields(Faults)})
        api_key = None
        if args.api_key_env:
            api_key = os.environ.get(args.api_key_env)
            if not api_key:
                raise ValueError(f"--api-key-env {args.api_key_env}: that variable is not set")
        emu = Emulator(
            host=args.host,
            port=args.port,
            time_scale=args.time_scale,
            rate_limits=not args.no_rate_limits,
            faults=faults,
            region=args.region,
            api_key=api_key,
            files_dir=args.files_dir,
            query_rate=args.query_rate,
            log_requests=not args.quiet,
        )
    except (ValueError, TypeError) as exc:
        print(f"wanbook emulator: {exc}", file=sys.stderr)
        return 2
    try:
        emu.start()
    except OSError as exc:
        print(f"wanbook emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(emu.base_url, flush=True)
    note = f"time scale {emu.time_scale:g}, rate limits {'on' if emu.rate_limits else 'off'}"
    if faults.any:
        note += f", faults {faults}"
    print(
        f"wanbook emulator serving at {emu.base_url} ({note}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0
