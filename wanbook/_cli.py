"""The ``wanbook`` command line: generate, runs, resume, demo and emulator.

Exit codes: 0 success, 2 bad input (nothing was sent), 1 anything else. Errors are one line on
stderr; progress goes to stderr so ``--json`` output on stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from wanbook._errors import (
    BudgetExceededError,
    ConfigError,
    MediaError,
    ValidationError,
    WanbookError,
)

__all__ = ["main"]

BAD_INPUT = (ValidationError, MediaError, ConfigError, BudgetExceededError)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wanbook", description="Wan video generation with a run log.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="run one generation end to end and log it")
    g.add_argument("--model", required=True, help="e.g. wan2.2-t2v-plus, wan2.6-i2v-flash")
    g.add_argument("--prompt")
    g.add_argument("--seed", type=int)
    geo = g.add_mutually_exclusive_group()
    geo.add_argument("--size", help="text-to-video: exact W*H, e.g. 832*480")
    geo.add_argument("--resolution", help="image-to-video: 480P, 720P or 1080P")
    g.add_argument("--duration", type=int, help="seconds")
    g.add_argument("--image", help="image-to-video: a local path or an http(s) URL")
    g.add_argument("--audio-url", help="custom audio (wav/mp3 URL), wan2.5 and later")
    g.add_argument("--negative-prompt")
    g.add_argument("--template", help="video effect (wan2.1 image-to-video), e.g. flying")
    g.add_argument(
        "--no-prompt-extend", action="store_true", help="do not let the service rewrite the prompt"
    )
    g.add_argument("--watermark", action="store_true", help='add the "AI Generated" mark')
    g.add_argument("--shot-type", choices=["single", "multi"])
    g.add_argument(
        "--no-audio", action="store_true", help="ask for a silent video where the model allows"
    )
    g.add_argument("--experiment")
    g.add_argument("--tag", action="append", default=[], dest="tags")
    g.add_argument(
        "--reuse",
        action="store_true",
        help="return an identical earlier run instead of paying again",
    )
    g.add_argument(
        "--budget", type=float, help="refuse if the estimate would exceed this total spend"
    )
    g.add_argument("--json", action="store_true", help="print the run record as one JSON object")

    r = sub.add_parser("runs", help="print the run log")
    r.add_argument("--format", choices=["table", "csv", "json"], default="table")
    r.add_argument("--model")
    r.add_argument("--status")
    r.add_argument("--experiment")
    r.add_argument("--limit", type=int, help="only the newest N runs")

    sub.add_parser("resume", help="finish every unfinished run (younger than 24 h)")
    d = sub.add_parser(
        "demo", help="the main job on the embedded emulator; prints where results are"
    )
    d.add_argument("--out", default=None, help="where to write the demo's results")
    e = sub.add_parser("emulator", help="serve the DashScope-compatible emulator", add_help=False)
    e.add_argument("args", nargs=argparse.REMAINDER)
    return p


def _progress(stream: Any) -> Any:
    started = time.monotonic()
    last: list[str | None] = [None]

    def on_update(run: Any) -> None:
        status = run.record.get("status")
        if status != last[0]:
            last[0] = status
            task = run.record.get("task_id") or "-"
            print(
                f"[{time.monotonic() - started:6.1f}s] {status:<10} task {task}",
                file=stream,
                flush=True,
            )

    return on_update


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def record_json(record: dict[str, Any]) -> str:
    return json.dumps({k: _jsonable(v) for k, v in record.items()}, ensure_ascii=False, default=str)


def _generate(args: argparse.Namespace) -> int:
    from wanbook._request import Request
    from wanbook._session import Session

    req = Request(
        model=args.model,
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        image=args.image,
        audio_url=args.audio_url,
        template=args.template,
        size=args.size,
        resolution=args.resolution,
        duration=args.duration,
        seed=args.seed,
        prompt_extend=False if args.no_prompt_extend else None,
        watermark=True if args.watermark else None,
        shot_type=args.shot_type,
        audio=False if args.no_audio else None,
    )
    with Session(budget=args.budget) as session:
        run = session.generate(
            request=req,
            experiment=args.experiment,
            tags=args.tags,
            reuse=args.reuse,
            on_update=_progress(sys.stderr),
            raise_on_failure=False,
        )
        if args.json:
            print(record_json(run.record))
        else:
            print(
                f"run {run.run_id}: {run.status}; video: {run.video_path or '-'}; {run.cost_text()}"
            )
        return 0 if run.status == "SUCCEEDED" else 1


def _runs(args: argparse.Namespace) -> int:
    from wanbook._session import Session

    with Session(quiet=True) as session:
        filters = {
            k: getattr(args, k) for k in ("model", "status", "experiment") if getattr(args, k)
        }
        session.log.export(args.format, sys.stdout, limit=args.limit, **filters)
    return 0


def _resume(args: argparse.Namespace) -> int:
    from wanbook._session import Session

    with Session() as session:
        runs = session.resume(on_update=_progress(sys.stderr))
        for run in runs:
            print(f"run {run.run_id}: {run.status}; video: {run.video_path or '-'}")
        print(f"{len(runs)} unfinished run(s) looked at", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from wanbook._demo import run_demo

    return run_demo(out=args.out)


def _fail(message: str, code: int) -> int:
    print(f"wanbook: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        from wanbook.emulator import main as emulator_main

        return emulator_main(argv[1:])
    args = _parser().parse_args(argv)
    handlers = {"generate": _generate, "runs": _runs, "resume": _resume, "demo": _demo}
    try:
        return handlers[args.command](args)
    except BAD_INPUT as exc:
        return _fail(" ".join(str(exc).split()), 2)
    except WanbookError as exc:
        return _fail(" ".join(str(exc).split()), 1)
    except KeyboardInterrupt:
        return _fail("interrupted; `wanbook resume` finishes unfinished runs", 1)
