"""Error messages name where a bad value came from; the timeout error is a TimeoutError."""

from __future__ import annotations

import pytest

import wanbook as wb
from wanbook._engine.settings import Settings
from wanbook._errors import ConfigError, RequestTimeoutError, TransportError, WanbookError


@pytest.mark.parametrize(
    ("kwargs", "environ", "said", "not_said"),
    [
        (dict(region="xx"), {}, "region 'xx' is unknown", "WANBOOK_REGION"),
        (dict(region="xx"), {"WANBOOK_REGION": "cn"}, "region 'xx' is unknown", "WANBOOK_REGION"),
        ({}, {"WANBOOK_REGION": "xx"}, "WANBOOK_REGION 'xx' is unknown", "region="),
    ],
)
def test_a_bad_region_names_its_source(
    kwargs: dict, environ: dict, said: str, not_said: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(environ=environ, **kwargs)
    assert said in str(info.value) and not_said not in str(info.value)
    assert "choose one of intl, us, cn, eu" in str(info.value)


def test_a_bad_region_argument_to_a_session_is_named_as_the_argument() -> None:
    with pytest.raises(ConfigError, match="^region 'mars' is unknown"):
        wb.Session(region="mars")


def test_request_timeout_error_is_public_and_both_kinds() -> None:
    assert wb.RequestTimeoutError is RequestTimeoutError
    assert "RequestTimeoutError" in wb.__all__
    assert issubclass(RequestTimeoutError, TransportError)
    assert issubclass(RequestTimeoutError, TimeoutError)
    assert issubclass(RequestTimeoutError, WanbookError)
