"""`wanbook emulator` (``wanbook.emulator.main``), the Emulator handle, and the cheap import."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.emulator_helpers import auth, create, t2v
from wanbook.emulator import Emulator, Faults, main
from wanbook.emulator._cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _spawn(*args: str) -> subprocess.Popen[str]:
    code = "import sys; from wanbook.emulator import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_prints_its_base_url_first_and_stops_cleanly(sig: signal.Signals) -> None:
    proc = _spawn("--port", "0", "--quiet", "--fault-seed", "3", "--no-rate-limits")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", line), line
        with httpx.Client(timeout=30) as client:
            assert create(client, line, t2v()).status_code == 200
            assert client.get(line + "/tasks", headers=auth()).json()["total"] == 1
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["--time-scale", "0"],
        ["--region", "mars"],
        ["--fault-task-fail-rate", "2"],
        ["--fault-task-fail-code", "Nope"],
        ["--api-key-env", "WANBOOK_TEST_UNSET_VARIABLE"],
    ],
)
def test_cli_refuses_bad_settings_with_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--port", "0", *argv]) == 2
    assert "wanbook emulator:" in capsys.readouterr().err


def test_cli_flags_mirror_the_faults() -> None:
    args = build_parser().parse_args(
        [
            "--fault-throttle-next",
            "3",
            "--fault-slow-rate",
            "0.5",
            "--fault-task-fail-code",
            "InternalError",
        ]
    )
    assert (args.fault_throttle_next, args.fault_slow_rate, args.fault_task_fail_code) == (
        3,
        0.5,
        "InternalError",
    )
    assert args.port == 8000 and args.host == "127.0.0.1"


def test_cli_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    with Emulator() as emu:
        assert main(["--port", str(emu.port), "--quiet"]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_emulator_handle() -> None:
    emu = Emulator()
    assert "stopped" in repr(emu)
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    with emu:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/api/v1"
        assert emu.faults == Faults()
    assert "stopped" in repr(emu)
    with pytest.raises(ValueError, match="time_scale"):
        Emulator(time_scale=-1)
    with pytest.raises(ValueError, match="region"):
        Emulator(region="mars")
    with pytest.raises(ValueError, match="api_key"):
        Emulator(api_key=" ")


def test_stop_abandons_renders_in_progress() -> None:
    """Measured by what happened to the render, not by the clock: stopped right after the create,
    a 15 s 1080P render (hundreds of frames) is abandoned — no file, never marked ready. The time
    bound only catches a stop that hangs (a full render on a loaded machine takes far longer)."""
    emu = Emulator(rate_limits=False).start()
    with httpx.Client(timeout=30) as client:
        body = t2v("wan2.6-t2v", size="1920*1080", duration=15)  # seconds of rendering
        assert create(client, emu.base_url, body).status_code == 200
    assert emu.service is not None
    (art,) = emu.service.renderer._artifacts.values()
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 30
    assert art.ready_at is None and not art.path.exists()


def test_public_surface() -> None:
    import wanbook.emulator as pkg

    assert sorted(pkg.__all__) == ["DEFAULT_TIME_SCALE", "Emulator", "Faults", "main"]
    assert all(getattr(pkg, name) is not None for name in pkg.__all__)
    assert 1 / 200 < pkg.DEFAULT_TIME_SCALE < 1 / 30
    with pytest.raises(AttributeError):
        _ = pkg.Nothing


def test_importing_the_emulator_is_cheap() -> None:
    code = (
        "import sys, wanbook, wanbook.emulator; "
        "heavy = [m for m in ('numpy', 'PIL', 'av', 'http.server') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert out.stdout.strip() == "[]"
