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


@pytest.mark.parametrize(
    ("model", "said"),
    [
        ("wan2.2-t2v-pluss", "did you mean 'wan2.2-t2v-plus'?"),
        ("wan2.1-t2v-trubo", "did you mean 'wan2.1-t2v-turbo'?"),
        ("gpt-4", "(choose one of wan2.6-t2v"),  # nothing close: the choices only
    ],
)
def test_a_mistyped_model_gets_a_did_you_mean(model: str, said: str) -> None:
    with pytest.raises(wb.ValidationError) as info:
        wb.estimate("a fox", model=model)
    assert said in str(info.value)
    assert ("did you mean" in str(info.value)) == ("did you mean" in said)


def test_a_duration_given_as_text_is_said_to_be_no_integer() -> None:
    """Not "not offered … fixed at 5 s" for "5": the model does offer 5 s; "5" is no integer."""
    with pytest.raises(wb.ValidationError) as info:
        wb.estimate("a fox", model="wan2.2-t2v-plus", duration="5")
    (problem,) = info.value.problems
    assert problem.field == "duration" and "must be an integer" in problem.message
    assert "not offered" not in problem.message


def test_runs_with_a_mistyped_filter_names_the_filters_not_internals() -> None:
    with pytest.raises(Exception) as info:
        wb.runs(modell="x")
    assert "modell" in str(info.value) and "model" in str(info.value)
    assert "dataframe" not in str(info.value).lower() and "RunLog" not in str(info.value)
