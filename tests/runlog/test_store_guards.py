"""The run log's guards (issue 14 #12): a log migrated by a newer wanbook is read, never written;
a constraint error is reported as itself, not as a duplicate run id."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wanbook._errors import RunLogError
from wanbook._runlog.store import RunLog


def test_a_newer_wanbooks_log_is_read_not_written(tmp_path: Path) -> None:
    with RunLog.open(tmp_path) as log:
        run_id = log.insert(model="wan2.2-t2v-plus")
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        db.execute("INSERT INTO _migrations VALUES ('m999_future', '2030-01-01T00:00:00+00:00')")
    with RunLog.open(tmp_path) as log:
        assert log.get(run_id) is not None and log.count() == 1
        with pytest.raises(RunLogError, match="m999_future.*upgrade wanbook"):
            log.insert(model="wan2.2-t2v-plus")
        with pytest.raises(RunLogError, match="newer wanbook"):
            log.update(run_id, status="FAILED")
        assert log.get(run_id)["status"] == "PREPARED"


def test_a_constraint_error_is_reported_as_itself(tmp_path: Path) -> None:
    with RunLog.open(tmp_path) as log:
        log._execute(  # a constraint a future migration might add
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
