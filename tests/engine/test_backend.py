"""The backend is what answered: a standalone emulator (``wanbook emulator`` and
``WANBOOK_BASE_URL``, no key, as the README says) is logged and priced as an emulator rehearsal,
never as spend; which emulator answers is said as a plain notice, not on stderr in a notebook."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import wanbook as wb
from wanbook._engine.resources import server_is_emulator
from wanbook.emulator import Emulator

T2V = dict(model="wan2.1-t2v-turbo", size="832*480", prompt_extend=False)


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with Emulator(time_scale=1 / 600) as e:
        yield e


def test_the_server_says_it_is_the_emulator(emu: Any) -> None:
    assert server_is_emulator(emu.base_url)
    assert not server_is_emulator("http://127.0.0.1:9/api/v1")  # nothing answers: not assumed


def test_a_standalone_emulator_is_logged_and_priced_as_one(
    emu: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WANBOOK_BASE_URL", emu.base_url)
    with wb.Session() as s:
        assert s.backend == "emulator"
        run = s.generate("a fox in the snow", seed=1, **T2V)
        assert run.backend == "emulator"
        report = wb.cost_report(s.runs(), session=s)
    notice = capsys.readouterr().err
    assert f"{emu.base_url} is wanbook's emulator" in notice and "nothing billed" in notice
    assert set(report.frame["ledger"]) == {"emulator"}  # never real spend


def test_with_a_key_a_base_url_is_the_regions_stand_in(emu: Any, api_key: str) -> None:
    with wb.Session(api_key=api_key, base_url=emu.base_url, quiet=True) as s:
        assert s.backend == "intl"


def test_the_notice_is_plain_output_in_a_notebook(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Jupyter draws stderr as a pink error box: in a kernel the notice goes to stdout."""
    from wanbook import _warn

    _warn.notice("terminal")
    fake_ipython = SimpleNamespace(get_ipython=lambda: SimpleNamespace(kernel=object()))
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    _warn.notice("notebook")
    out = capsys.readouterr()
    assert out.err == "terminal\n" and out.out == "notebook\n"


def test_a_failed_create_costs_nothing_in_a_currency(api_key: str) -> None:
    """Not a bare "0.0000": nothing billed is 0.0000 USD."""
    with wb.Session(api_key=api_key, base_url="http://127.0.0.1:9/api/v1", quiet=True) as s:
        with pytest.raises(wb.WanbookError):
            s.generate("a fox", seed=1, **T2V)
        run = s.run(s.runs().index[-1])
    assert run.status == "ERROR" and run.cost == 0.0 and run.currency == "USD"
    assert run.cost_text() == "0.0000 USD"
