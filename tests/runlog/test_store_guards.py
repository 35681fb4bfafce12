"""The run log's guards (issue 14 #12, #14): a log migrated by a newer wanbook, or on a read-only
mount, is read, never written; a constraint error is reported as itself, not as a duplicate run
id."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.required import unavailable
from wanbook._errors import RunLogError
from wanbook._runlog.store import RunLog


def test_a_newer_wanbooks_log_is_read_not_written(tmp_path: Path) -> None:
    with RunLog.open(tmp_path) as log:
        run_id = log.insert(model="wan2.2-t2v-plus")
    with RunLog.open(tmp_path) as log:  # as a newer wanbook would
        log.db.execute(
            "INSERT INTO _migrations VALUES ('m999_future', '2030-01-01T00:00:00+00:00')"
        )
    with RunLog.open(tmp_path) as log:
        assert log.get(run_id) is not None and log.count() == 1
        with pytest.raises(RunLogError, match="m999_future.*upgrade wanbook"):
            log.insert(model="wan2.2-t2v-plus")
        with pytest.raises(RunLogError, match="newer wanbook"):
            log.update(run_id, status="FAILED")
        assert log.get(run_id)["status"] == "PREPARED"


def test_a_constraint_error_is_reported_as_itself(tmp_path: Path) -> None:
    with RunLog.open(tmp_path) as log:
        if log.dialect == "postgresql":  # a constraint a future migration might add
            log._execute(
                "CREATE FUNCTION no_foxes() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
                " IF NEW.prompt = 'fox' THEN RAISE EXCEPTION 'CHECK constraint failed: no foxes'"
                " USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $f$"
            )
            log._execute(
                "CREATE TRIGGER no_foxes BEFORE INSERT ON runs FOR EACH ROW"
                " EXECUTE FUNCTION no_foxes()"
            )
        else:
            log._execute(
                "CREATE TRIGGER no_foxes BEFORE INSERT ON runs WHEN NEW.prompt = 'fox' "
                "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: no foxes'); END"
            )
        with pytest.raises(RunLogError) as info:
            log.insert(prompt="fox")
        assert "exists already" not in str(info.value)
        assert "no foxes" in str(info.value)
        first = log.insert(prompt="cat")
        with pytest.raises(RunLogError, match="exists already"):
            log.insert(run_id=first, prompt="cat")


def _read_only_mount_problem() -> str | None:
    """Why this machine cannot make a read-only mount for the test (None: it can)."""
    if os.geteuid() != 0:
        return "a read-only bind mount needs root (CI runs as root)"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "unshare and mount (util-linux) are missing"
    return None


@pytest.mark.sqlite_only  # a file on a read-only mount (a PostgreSQL log has no file)
def test_a_log_on_a_read_only_mount_is_listed_and_never_written(tmp_path: Path) -> None:
    """A valid log on a read-only mount (a shared or archived log): ``wanbook runs`` lists it,
    and a generation is refused before anything is sent. The mount is real: a private mount
    namespace (``unshare -m``) binds the home read-only for the commands of this test only."""
    problem = _read_only_mount_problem()
    if problem is not None:
        unavailable(problem)
    home, mount = tmp_path / "home", tmp_path / "mount"
    mount.mkdir()
    with RunLog.open(home) as log:
        run_id = log.insert(model="wan2.2-t2v-plus", prompt="a fox", status="SUCCEEDED")
    script = (
        f'mount --bind "{home}" "{mount}" && mount -o remount,bind,ro "{mount}" || exit 90\n'
        f'touch "{mount}/probe" 2>/dev/null && exit 91\n'  # the mount must really be read-only
        f'"{sys.executable}" -m wanbook runs --format json\n'
        'echo "--- runs: $?"\n'
        f'"{sys.executable}" -m wanbook generate --model wan2.2-t2v-plus --prompt fox --seed 1\n'
        'echo "--- generate: $?"\n'
    )
    env = {**os.environ, "WANBOOK_HOME": str(mount), "WANBOOK_STATE_DIR": str(tmp_path / "st")}
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode not in (90, 91), done.stderr
    listed, rest = done.stdout.split("--- runs: ", 1)
    assert rest.startswith("0") and [r["run_id"] for r in json.loads(listed)] == [run_id]
    assert "--- generate: 1" in done.stdout
    assert "is read-only" in done.stderr and "nothing was sent" in done.stderr
    with RunLog.open(home) as log:
        assert log.count() == 1  # nothing was written
