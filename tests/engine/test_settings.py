"""Settings: explicit arguments beat the environment, which beats defaults; read at session time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wanbook._engine.settings import Settings
from wanbook._errors import ConfigError


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WANBOOK_HOME")
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env()
    assert s.api_key is None and s.uses_emulator
    assert s.region == "intl"
    assert s.home == tmp_path / "wanbook-runs"  # absolute: paths logged under it stay valid


@pytest.mark.parametrize("home", ["runs", "./a/../runs", Path("runs")])
def test_a_relative_home_is_made_absolute_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, home: str | Path
) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env(home=home)
    monkeypatch.chdir(tmp_path.parent)  # a later `cd` in the notebook changes nothing
    assert s.home.is_absolute() and s.home == tmp_path / "runs"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, api_key: str, tmp_path: Path) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", api_key)
    monkeypatch.setenv("WANBOOK_REGION", "cn")
    monkeypatch.setenv("WANBOOK_HOME", str(tmp_path))
    s = Settings.from_env()
    assert s.api_key is not None and s.api_key.reveal() == api_key
    assert not s.uses_emulator
    assert s.endpoint() == "https://dashscope.aliyuncs.com/api/v1"
    assert s.home == tmp_path
    assert api_key not in repr(s)


def test_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch, api_key: str) -> None:
    monkeypatch.setenv("WANBOOK_REGION", "cn")
    monkeypatch.setenv("WANBOOK_BASE_URL", "http://127.0.0.1:9/api/v1")
    s = Settings.from_env(region="us", base_url="http://proxy.local:8080/api/v1", api_key=api_key)
    assert s.region == "us"
    assert s.endpoint() == "http://proxy.local:8080/api/v1"


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("intl", "https://dashscope-intl.aliyuncs.com/api/v1"),
        ("us", "https://dashscope-us.aliyuncs.com/api/v1"),
        ("cn", "https://dashscope.aliyuncs.com/api/v1"),
    ],
)
def test_region_endpoints(region: str, url: str, api_key: str) -> None:
    assert Settings.from_env(api_key=api_key, region=region).endpoint() == url


def test_eu_needs_a_workspace(api_key: str) -> None:
    with pytest.raises(ConfigError, match="WANBOOK_WORKSPACE_ID"):
        Settings.from_env(api_key=api_key, region="eu")
    s = Settings.from_env(api_key=api_key, region="eu", workspace_id="ws-123")
    assert s.endpoint() == "https://ws-123.eu-central-1.maas.aliyuncs.com/api/v1"


@pytest.mark.parametrize(
    ("env", "value", "match"),
    [
        (
            "WANBOOK_REGION",
            "mars",
            "WANBOOK_REGION 'mars' is unknown; choose one of intl, us, cn, eu",
        ),
        ("WANBOOK_BASE_URL", "ftp://x/api/v1", "must be an http"),
        ("WANBOOK_BASE_URL", "http://127.0.0.1:8000", "must end in /api/v1"),
        ("DASHSCOPE_API_KEY", "   ", "set but empty"),
    ],
)
def test_bad_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, match: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=match):
        Settings.from_env()


def test_emulator_flag_ignores_key_and_base_url(
    monkeypatch: pytest.MonkeyPatch, api_key: str
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", api_key)
    monkeypatch.setenv("WANBOOK_BASE_URL", "http://127.0.0.1:9/api/v1")
    assert Settings.from_env(emulator=True).uses_emulator


def test_import_reads_no_environment_and_starts_nothing() -> None:
    code = (
        "import os, sys, threading\n"
        "os.environ['WANBOOK_REGION'] = 'nonsense'\n"  # a bad value must not break the import
        "import wanbook\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "heavy = {'pandas', 'av', 'PIL', 'httpx', 'numpy', 'sqlite3', 'ipywidgets'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_wanbook_db_is_read_and_a_password_in_it_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().db is None  # unset: <home>/runs.sqlite
    monkeypatch.setenv("WANBOOK_DB", "postgresql://ann@db.example/runs")
    assert Settings.from_env().db == "postgresql://ann@db.example/runs"
    assert Settings.from_env(db="/tmp/x.sqlite").db == "/tmp/x.sqlite"  # an argument beats it
    monkeypatch.setenv("WANBOOK_DB", "postgres://ann:hunter2secret@db.example/runs")
    with pytest.raises(ConfigError, match="WANBOOK_DB") as info:
        Settings.from_env()
    assert "hunter2secret" not in str(info.value) and "ann:***@" in str(info.value)
    monkeypatch.setenv("WANBOOK_DB", "mysql://ann@db.example/runs")
    with pytest.raises(ConfigError, match="not supported"):
        Settings.from_env()
