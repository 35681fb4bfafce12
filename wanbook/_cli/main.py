"""The ``wanbook`` command line: generate, runs, resume, budget, demo and emulator.

Exit codes: 0 success, 2 bad input (nothing was sent), 1 anything else (a task that ended without a
video included). Errors and warnings are one line each on stderr (``wanbook: error: …``,
``wanbook: warning: …``) — the parser's usage block and Python's warning format (file, line,
source) are replaced; progress goes to stderr so ``--json`` output on stdout stays
machine-readable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

from wanbook._errors import (
    BudgetExceededError,
    ConfigError,
    MediaError,
    ResumeError,
    RunLogError,
    ValidationError,
    WanbookError,
)
from wanbook._runlog.export import export
from wanbook._runlog.store import RunLog
from wanbook._terminal import for_terminal

__all__ = ["main"]

BAD_INPUT = (ValidationError, MediaError, ConfigError, BudgetExceededError)
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: Ends of a resumed run that mean it failed (AMBIGUOUS or PENDING are left for a later resume).
_FAILED = frozenset({"FAILED", "ERROR", "EXPIRED", "UNKNOWN"})


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (DESIGN.md: "Errors are one clear line"),
    not a usage block; ``--help`` is unchanged. Subcommands' parsers are of this class too."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        see = f"wanbook {command} --help" if command else "wanbook --help"
        _say(f"wanbook: error: {message} (see `{see}`)", sys.stderr)
        raise SystemExit(2)


def _since(text: str) -> str:
    """``--since``: a date (2026-11-01), an ISO time (2026-11-01T08:00+08:00, naive = UTC) or an
    age (30m, 24h, 7d, 2w) — as the ISO text the run log's ``since`` filter takes."""
    from wanbook._runlog.schema import since_iso

    age = _RELATIVE.match(text)
    if age:
        delta = timedelta(**{_UNITS[age.group(2)]: float(age.group(1))})
        return (datetime.now(UTC) - delta).isoformat()
    try:
        return since_iso(text)
    except RunLogError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time; give a date (2026-11-01), an ISO time, or an age "
            "such as 30m, 24h, 7d"
        ) from None


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="wanbook", description="Wan video generation with a run log.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="run one generation end to end and log it")
    g.add_argument("--model", required=True, help="e.g. wan2.2-t2v-plus, wan2.6-i2v-flash")
    g.add_argument("--prompt")
    g.add_argument("--seed", type=int)
    geo = g.add_mutually_exclusive_group()
    geo.add_argument("--size", help="text-to-video: exact W*H, e.g. 832*480")
    geo.add_argument("--resolution", help="image-to-video and wan2.7: 480P, 720P or 1080P")
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
    media = "a local path or an http(s) URL"
    g.add_argument("--first-frame", help=f"the first frame (wan2.7, kf2v): {media}")
    g.add_argument("--last-frame", help=f"the last frame (wan2.7-i2v, kf2v): {media}")
    g.add_argument("--first-clip", help=f"a clip to continue (wan2.7-i2v, mp4/mov): {media}")
    g.add_argument("--driving-audio", help=f"audio the video follows (wan2.7-i2v): {media}")
    g.add_argument(
        "--reference-image",
        action="append",
        metavar="PATH[=VOICE]",
        help="a reference image (wan2.7-r2v, wan2.7-videoedit), optionally with a voice "
        "(wav/mp3 path or URL) after '='; repeat for several",
    )
    g.add_argument(
        "--reference-video",
        action="append",
        metavar="PATH[=VOICE]",
        help="a reference video (wan2.7-r2v), optionally with a voice after '='; repeatable",
    )
    g.add_argument("--video", help=f"the video to edit (wan2.7-videoedit): {media}")
    g.add_argument(
        "--ratio", help="aspect ratio (wan2.7 t2v, r2v, videoedit): 16:9, 9:16, 1:1, 4:3, 3:4"
    )
    g.add_argument(
        "--audio-setting", help="wan2.7-videoedit: auto (the model decides) or origin (keep)"
    )
    g.add_argument("--experiment")
    g.add_argument("--tag", action="append", default=[], dest="tags")
    g.add_argument(
        "--reuse",
        action="store_true",
        help="return an identical earlier run instead of paying again",
    )
    g.add_argument(
        "--budget",
        type=_budget_arg,
        help="a number: refuse if the estimate would exceed this spend; a name: draw on that "
        "shared budget (`wanbook budget set NAME AMOUNT`), with every other process on it",
    )
    g.add_argument("--json", action="store_true", help="print the run record as one JSON object")

    b = sub.add_parser(
        "budget",
        help="named budgets shared by every process of this user",
        description="Named budgets: every session drawing on one (`--budget NAME`, "
        "wb.session(budget=NAME)) together commits at most its amount.",
    )
    bsub = b.add_subparsers(dest="budget_command", required=True, metavar="ACTION")
    bset = bsub.add_parser("set", help="create or change a named budget")
    bset.add_argument("name")
    bset.add_argument("amount", type=float)
    bset.add_argument("--currency", default="USD", help="default USD (CNY for region cn)")
    bshow = bsub.add_parser("show", help="every named budget: spent, reserved, left")
    bshow.add_argument("--format", choices=["table", "csv", "json"], default="table")

    r = sub.add_parser(
        "runs", help="print the run log", description="Print the run log, oldest first."
    )
    r.add_argument("--format", choices=["table", "csv", "json"], default="table")
    many = "repeat for any of several"
    r.add_argument("--model", action="append", help=f"only runs of this model ({many})")
    r.add_argument(
        "--status", action="append", type=str.upper, help=f"e.g. SUCCEEDED, FAILED ({many})"
    )
    r.add_argument("--experiment", action="append", help=f"only this experiment ({many})")
    r.add_argument(
        "--backend", action="append", help=f"emulator, or a region such as intl ({many})"
    )
    r.add_argument("--tag", action="append", help="only runs with this tag (repeat: all of them)")
    r.add_argument(
        "--since", type=_since, help="created at or after: 2026-11-01, an ISO time, or 24h, 7d"
    )
    r.add_argument("--limit", type=int, help="only the newest N runs")
    r.add_argument(
        "--signed-urls",
        action="store_true",
        help="include the service's signed video URLs (24 h credentials; left out by default)",
    )

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
            _say(f"[{time.monotonic() - started:6.1f}s] {status:<10} task {task}", stream)

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


def _budget_arg(text: str) -> float | str:
    """``--budget``: a number (this run's own limit) or the name of a shared budget."""
    try:
        value = float(text)
    except ValueError:
        if not text.strip():
            raise argparse.ArgumentTypeError("a budget is a number or a name") from None
        return text.strip()
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number >= 0 or a budget's name")
    return value


def _budget(args: argparse.Namespace) -> int:
    from wanbook._engine.shared_budget import budget_set, budgets

    if args.budget_command == "set":
        row = budget_set(args.name, args.amount, args.currency)
        print(
            f"budget {row['name']}: {row['amount']:g} {row['currency']}; spent {row['spent']:.4f}, "
            f"reserved {row['reserved']:.4f}, left {row['left']:.4f}"
        )
        return 0
    frame = budgets()
    if args.format == "json":
        print(frame.to_json(orient="records"))
    elif args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif frame.empty:
        print("no named budgets yet: `wanbook budget set NAME AMOUNT [--currency USD]`")
    else:
        print(frame.to_string(index=False))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from wanbook._engine.session import Session
    from wanbook._spec.model_choice import shared_setting
    from wanbook._spec.request import Request, with_seed

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
        first_frame=args.first_frame,
        last_frame=args.last_frame,
        first_clip=args.first_clip,
        driving_audio=args.driving_audio,
        reference_images=_references(args.reference_image),
        reference_videos=_references(args.reference_video),
        video=args.video,
        ratio=args.ratio,
        audio_setting=args.audio_setting,
    )
    if req.size is None and req.resolution is None and req.ratio is None:  # cheapest, like the form
        with contextlib.suppress(ValueError):
            req = req.replace(**shared_setting([req.model]))
    req = with_seed(req)  # drawn here, so it is said and logged: the run can be repeated
    with Session(budget=args.budget) as session:
        print(_before_sending(session, req), file=sys.stderr, flush=True)
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
            _say(
                f"run {run.run_id}: {run.status}; video: {run.video_path or '-'}; {run.cost_text()}"
            )
        if run.ok:
            return 0
        return _fail(_why_no_video(run), 1)


_VOICE_START = ("http://", "https://", "oss://", "file://", "/", "./", "../", "~")


def split_reference(value: str) -> tuple[str, str | None]:
    """``PATH[=VOICE]`` -> (path, voice). The split is at the first ``=`` followed by what can
    only be a voice: a URL or a path, or a name ending in .wav/.mp3 with no ``=`` after it; so a
    signed URL's ``?Expires=...&Signature=...`` is never cut."""
    for i, ch in enumerate(value):
        if ch != "=" or i == 0:
            continue
        right = value[i + 1 :]
        plain = "=" not in right and right.lower().endswith((".wav", ".mp3"))
        if right.startswith(_VOICE_START) or plain:
            return value[:i], right
    return value, None


def _references(values: list[str] | None) -> list[Any] | None:
    from wanbook._spec.media import Reference

    if not values:
        return None
    out: list[Any] = []
    for value in values:
        path, voice = split_reference(value)
        out.append(Reference(path, voice=voice) if voice else path)
    return out


def _before_sending(session: Any, req: Any) -> str:
    """One line before anything is sent: what will be asked for, with which seed, and its price."""
    from wanbook._spec.request import resolve

    prep = session.prepare(req, warn=False)  # invalid input raises here: nothing is sent
    r = resolve(prep.request)
    what = " · ".join(x for x in (r.size, r.tier, f"{r.duration} s", f"seed {r.seed}") if x)
    est = prep.estimate
    cost = (
        f"{est.amount:.4f} {est.currency}"
        if est.known
        else f"unknown (no price known for {r.spec.name} {r.tier} in region {session.region!r})"
    )
    where = " on the emulator: nothing is billed" if session.backend == "emulator" else ""
    return f"wanbook: {r.spec.name} {what}; estimate {cost}{where}"


def _why_no_video(run: Any) -> str:
    """``task <id> FAILED: <code>: <message>``: the server's reason a run has no video."""
    failure = run.failure()
    who = f"task {failure.task_id}" if failure.task_id else f"run {run.run_id}"
    reason = ": ".join(str(x) for x in (failure.code, failure.message) if x)
    return " ".join(f"{who} {run.status}{': ' + reason if reason else ''}".split())


def _runs(args: argparse.Namespace) -> int:
    from wanbook._engine.session import Session

    names = ("model", "status", "experiment", "backend", "tag", "since")
    filters = {k: getattr(args, k) for k in names if getattr(args, k)}
    with Session(quiet=True) as session:
        missing = not session.log_exists()
        try:
            if missing:  # looking never creates a run log: an empty one, elsewhere, for a while
                with tempfile.TemporaryDirectory() as empty, RunLog.open(empty) as log:
                    export(log, args.format, sys.stdout, limit=args.limit, **filters)
                print(
                    f"wanbook: no run log in {session.home} (nothing ran there yet)",
                    file=sys.stderr,
                )
                return 0
            export(
                session.log,
                args.format,
                sys.stdout,
                limit=args.limit,
                signed_urls=args.signed_urls,
                **filters,
            )
        except RunLogError as exc:  # a bad filter value (e.g. an unknown status): bad input
            return _fail(" ".join(str(exc).split()), 2)
    return 0


def _skipped(session: Any) -> str | None:
    """One line on the unfinished runs this session's ``resume`` leaves alone (another backend's),
    and why: without a key, runs sent to a real region cannot be followed."""
    others = Counter(
        str(r.get("backend"))
        for r in session.log.unfinished()
        if r.get("backend") != session.backend and r.get("backend") != "emulator"
    )
    if not others:
        return None
    count = sum(others.values())
    where = ", ".join(f"{n} of {b}" for b, n in sorted(others.items()))
    if session.settings.uses_emulator:
        why = "no DASHSCOPE_API_KEY is set; set it and run `wanbook resume` again"
    else:
        why = f"this session's backend is {session.backend}; set WANBOOK_REGION to resume them"
    return f"{count} unfinished run(s) of real backends skipped ({where}): {why}"


def _resume(args: argparse.Namespace) -> int:
    from wanbook._engine.session import Session

    with Session() as session:
        skipped = _skipped(session)
        failures: dict[str, BaseException] = {}
        try:
            runs = session.resume(on_update=_progress(sys.stderr))
        except ResumeError as exc:  # the others were carried forward; each failure said below
            runs, failures = exc.runs, exc.failures
        failed = 0
        for run in runs:
            _say(f"run {run.run_id}: {run.status}; video: {run.video_path or '-'}")
            if run.run_id in failures:
                why = " ".join(
                    f"{type(failures[run.run_id]).__name__}: {failures[run.run_id]}".split()
                )
                _say(f"wanbook: error: run {run.run_id}: {why}", sys.stderr)
            elif run.status in _FAILED:
                _say(f"wanbook: error: {_why_no_video(run)}", sys.stderr)
            failed += run.run_id in failures or run.status in _FAILED
        print(f"{len(runs)} unfinished run(s) looked at, {failed} failed", file=sys.stderr)
        if skipped:
            _say(f"wanbook: warning: {skipped}", sys.stderr)
    return 1 if failed else 0


def _demo(args: argparse.Namespace) -> int:
    from wanbook._cli.demo import run_demo

    return run_demo(out=args.out)


def _error_text(exc: BaseException) -> str:
    """One line; a ValidationError with several problems: its heading, then one line each
    (indented), rather than one line of hundreds of characters."""
    problems = getattr(exc, "problems", None) or []
    lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()]
    if len(problems) > 1 and len(lines) > 1:
        return "\n".join([lines[0], *(f"  {line}" for line in lines[1:])])
    return " ".join(lines)


def _fail(message: str, code: int) -> int:
    _say(f"wanbook: error: {message}", sys.stderr)
    return code


def _say(line: str, stream: Any = None) -> None:
    """Lines for people: control and bidi characters in them shown escaped, never obeyed."""
    shown = "\n".join(for_terminal(part) for part in line.split("\n"))  # our own line breaks
    print(shown, file=stream or sys.stdout, flush=True)


@contextlib.contextmanager
def _one_line_warnings(stream: Any) -> Iterator[None]:
    """Show warnings as ``wanbook: warning: <message>``, one line each, instead of Python's
    ``file:line: Category: message`` plus a source line. For the command line only: the
    library's warnings stay ordinary warnings for notebooks and code."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        _say(f"wanbook: warning: {' '.join(str(message).split())}", stream)

    with warnings.catch_warnings():
        warnings.filterwarnings("default", category=UserWarning)  # said once, never fatal
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:
        from wanbook.emulator import main as emulator_main

        return emulator_main(argv[1:])
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a one-line usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    handlers = {
        "generate": _generate,
        "runs": _runs,
        "resume": _resume,
        "budget": _budget,
        "demo": _demo,
    }
    try:
        with _one_line_warnings(sys.stderr):
            return handlers[args.command](args)
    except BAD_INPUT as exc:
        return _fail(_error_text(exc), 2)
    except WanbookError as exc:
        return _fail(" ".join(str(exc).split()), 1)
    except KeyboardInterrupt:
        return _fail("interrupted; `wanbook resume` finishes unfinished runs", 1)
