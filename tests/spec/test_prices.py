"""Pricing: every figure of pricing.md, unknown prices, unbilled runs, currencies, user tables.

The expected figures below are copied from ../shared/pricing.md by hand, not read from the CSV,
so that a typo in ``wanbook/data/prices.csv`` fails a test.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from wanbook._errors import ConfigError
from wanbook._spec import prices as _pricing
from wanbook._spec.catalogue import catalogue
from wanbook._spec.prices import (
    Estimate,
    Price,
    PriceTable,
    UnknownPriceWarning,
    cost,
    estimate,
    totals,
)

# (model as pricing.md names it, region, tier, audio, per second, currency, confidence)
# audio: "any" rows are checked with and without sound; "audio"/"silent" only with that setting.
EXPECTED = [
    # International (Singapore), USD
    ("wan2.6-t2v", "intl", "720P", "any", 0.10, "USD", "S"),
    ("wan2.6-t2v", "intl", "1080P", "any", 0.15, "USD", "S"),
    ("wan2.6-i2v", "intl", "720P", "any", 0.10, "USD", "S"),
    ("wan2.6-i2v", "intl", "1080P", "any", 0.15, "USD", "S"),
    ("wan2.6-i2v-flash", "intl", "720P", "audio", 0.05, "USD", "S"),
    ("wan2.6-i2v-flash", "intl", "720P", "silent", 0.025, "USD", "S"),
    ("wan2.6-i2v-flash", "intl", "1080P", "audio", 0.075, "USD", "S"),
    ("wan2.6-i2v-flash", "intl", "1080P", "silent", 0.0375, "USD", "S"),
    ("wan2.5-t2v-preview", "intl", "480P", "any", 0.05, "USD", "S"),
    ("wan2.5-t2v-preview", "intl", "720P", "any", 0.10, "USD", "S"),
    ("wan2.5-t2v-preview", "intl", "1080P", "any", 0.15, "USD", "S"),
    ("wan2.5-i2v-preview", "intl", "480P", "any", 0.05, "USD", "S"),
    ("wan2.5-i2v-preview", "intl", "720P", "any", 0.10, "USD", "S"),
    ("wan2.5-i2v-preview", "intl", "1080P", "any", 0.15, "USD", "S"),
    ("wan2.2-t2v-plus", "intl", "480P", "any", 0.02, "USD", "S"),
    ("wan2.2-t2v-plus", "intl", "1080P", "any", 0.10, "USD", "S"),
    ("wan2.1-t2v-turbo", "intl", "480P", "any", 0.036, "USD", "O"),
    ("wan2.1-t2v-turbo", "intl", "720P", "any", 0.036, "USD", "O"),
    ("wan2.1-t2v-plus", "intl", "720P", "any", 0.10, "USD", "O"),
    ("wan2.1-i2v-turbo", "intl", "480P", "any", 0.036, "USD", "O"),
    ("wan2.1-i2v-turbo", "intl", "720P", "any", 0.036, "USD", "O"),
    ("wan2.1-i2v-plus", "intl", "720P", "any", 0.10, "USD", "O"),
    # US (Virginia)
    ("wan2.6-t2v-us", "us", "720P", "any", 0.10, "USD", "S"),
    ("wan2.6-t2v-us", "us", "1080P", "any", 0.15, "USD", "S"),
    ("wan2.6-i2v-us", "us", "720P", "any", 0.10, "USD", "S"),
    ("wan2.6-i2v-us", "us", "1080P", "any", 0.15, "USD", "S"),
    ("wan2.6-t2v", "us", "720P", "any", 0.60, "CNY", "S"),
    ("wan2.6-t2v", "us", "1080P", "any", 1.00, "CNY", "S"),
    ("wan2.6-i2v", "us", "720P", "any", 0.60, "CNY", "S"),
    ("wan2.6-i2v", "us", "1080P", "any", 1.00, "CNY", "S"),
    # China mainland (Beijing), CNY
    ("wan2.6-t2v", "cn", "720P", "any", 0.60, "CNY", "S"),
    ("wan2.6-t2v", "cn", "1080P", "any", 1.00, "CNY", "S"),
    ("wan2.6-i2v", "cn", "720P", "any", 0.60, "CNY", "S"),
    ("wan2.6-i2v", "cn", "1080P", "any", 1.00, "CNY", "S"),
    ("wan2.6-i2v-flash", "cn", "720P", "audio", 0.30, "CNY", "S"),
    ("wan2.6-i2v-flash", "cn", "720P", "silent", 0.15, "CNY", "S"),
    ("wan2.6-i2v-flash", "cn", "1080P", "audio", 0.50, "CNY", "S"),
    ("wan2.6-i2v-flash", "cn", "1080P", "silent", 0.25, "CNY", "S"),
    ("wan2.5-t2v-preview", "cn", "480P", "any", 0.30, "CNY", "S"),
    ("wan2.5-t2v-preview", "cn", "720P", "any", 0.60, "CNY", "S"),
    ("wan2.5-t2v-preview", "cn", "1080P", "any", 1.00, "CNY", "S"),
    ("wan2.5-i2v-preview", "cn", "480P", "any", 0.30, "CNY", "S"),
    ("wan2.5-i2v-preview", "cn", "720P", "any", 0.60, "CNY", "S"),
    ("wan2.5-i2v-preview", "cn", "1080P", "any", 1.00, "CNY", "S"),
    ("wan2.2-t2v-plus", "cn", "480P", "any", 0.14, "CNY", "O"),
    ("wan2.2-t2v-plus", "cn", "1080P", "any", 0.70, "CNY", "O"),
    ("wan2.2-i2v-plus", "cn", "480P", "any", 0.14, "CNY", "S"),
    ("wan2.2-i2v-plus", "cn", "1080P", "any", 0.70, "CNY", "S"),
    ("wan2.2-i2v-flash", "cn", "480P", "any", 0.10, "CNY", "S"),
    ("wan2.2-i2v-flash", "cn", "720P", "any", 0.20, "CNY", "S"),
    ("wan2.2-i2v-flash", "cn", "1080P", "any", 0.48, "CNY", "S"),
    ("wanx2.1-t2v-turbo", "cn", "480P", "any", 0.24, "CNY", "O"),
    ("wanx2.1-t2v-turbo", "cn", "720P", "any", 0.24, "CNY", "O"),
    ("wanx2.1-t2v-plus", "cn", "720P", "any", 0.70, "CNY", "O"),
    ("wanx2.1-i2v-turbo", "cn", "480P", "any", 0.24, "CNY", "S"),
    ("wanx2.1-i2v-turbo", "cn", "720P", "any", 0.24, "CNY", "S"),
    ("wanx2.1-i2v-plus", "cn", "720P", "any", 0.70, "CNY", "S"),
    # docs/dashscope-wan27.md §11: wan2.7 and kf2v (International USD = the printed CNY / 7.33924: "I")
    *[
        (m, "cn", t, "any", p, "CNY", "O")
        for m in ("wan2.7-t2v", "wan2.7-i2v", "wan2.7-r2v", "wan2.7-videoedit")
        for t, p in (("720P", 0.60), ("1080P", 1.00))
    ],
    *[
        (m, "intl", t, "any", p, "USD", "I")
        for m in ("wan2.7-t2v", "wan2.7-i2v", "wan2.7-r2v", "wan2.7-videoedit")
        for t, p in (("720P", 0.10), ("1080P", 0.15))
    ],
    # dated snapshots: not on the price page; their undated name's price (a choice, §15)
    *[
        (m, r, t, "any", p, c, conf)
        for m in (
            "wan2.7-t2v-2026-04-25",
            "wan2.7-t2v-2026-06-12",
            "wan2.7-i2v-2026-04-25",
            "wan2.7-r2v-2026-06-12",
        )
        for r, c, conf, prices in (
            ("cn", "CNY", "I", (0.60, 1.00)),
            ("intl", "USD", "S", (0.10, 0.15)),
        )
        for t, p in zip(("720P", "1080P"), prices, strict=True)
    ],
    ("wan2.2-kf2v-flash", "cn", "480P", "any", 0.10, "CNY", "O"),
    ("wan2.2-kf2v-flash", "cn", "720P", "any", 0.20, "CNY", "O"),
    ("wan2.2-kf2v-flash", "cn", "1080P", "any", 0.48, "CNY", "O"),
    ("wanx2.1-kf2v-plus", "cn", "720P", "any", 0.70, "CNY", "O"),
    ("wan2.1-kf2v-plus", "intl", "720P", "any", 0.10, "USD", "I"),
]

# (model, region, sound) for each expected price, expanded: "any" rows in both sound settings.
CASES = [
    pytest.param(m, r, t, sound, p, c, conf, id=f"{m}-{r}-{t}-{'sound' if sound else 'silent'}")
    for (m, r, t, a, p, c, conf) in EXPECTED
    for sound in ((True, False) if a == "any" else (a == "audio",))
]

# Models pricing.md prices that the catalogue does not (yet) know: kept, priced by their own name.
NOT_IN_CATALOGUE = {"wan2.6-t2v-us"}


@pytest.fixture(autouse=True)
def fresh_warnings() -> None:
    """The one-warning-per-process memory starts empty in every test."""
    _pricing._warned.clear()


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


@pytest.mark.parametrize(
    ("model", "region", "tier", "sound", "per_second", "currency", "conf"), CASES
)
def test_estimate_every_priced_case(
    table: PriceTable,
    model: str,
    region: str,
    tier: str,
    sound: bool,
    per_second: float,
    currency: str,
    conf: str,
) -> None:
    est = estimate(table, model, region, tier, 5, sound)
    assert est.per_second == pytest.approx(per_second)
    assert est.amount == pytest.approx(per_second * 5)
    assert est.currency == currency
    assert est.seconds == 5.0
    assert est.price is not None and est.price.confidence == conf and est.price.source
    assert est.known


@pytest.mark.parametrize(
    ("model", "region", "tier", "sound", "per_second", "currency", "conf"), CASES
)
def test_cost_every_priced_case(
    table: PriceTable,
    model: str,
    region: str,
    tier: str,
    sound: bool,
    per_second: float,
    currency: str,
    conf: str,
) -> None:
    ok = cost(table, model, region, tier, 10, sound, "SUCCEEDED")
    assert ok.amount == pytest.approx(per_second * 10)
    assert ok.currency == currency
    failed = cost(table, model, region, tier, None, sound, "FAILED")
    assert failed.amount == 0.0 and failed.currency == currency


def test_the_table_holds_exactly_the_prices_of_pricing_md(table: PriceTable) -> None:
    """No invented rows (e.g. no wan2.2-i2v price in Singapore) and none missing."""
    expected = {
        (catalogue().get(m).name if catalogue().get(m) else m, r, t, a)
        for (m, r, t, a, *_rest) in EXPECTED
    }
    actual = {(row["model"], row["region"], row["tier"], row["audio"]) for row in table.rows()}
    assert actual == expected
    assert len(table) == len(EXPECTED)


def test_every_row_names_a_served_model_and_tier(table: PriceTable) -> None:
    """A misspelt model, region or tier in the CSV would make a price silently unreachable."""
    cat = catalogue()
    for row in table.rows():
        if row["model"] in NOT_IN_CATALOGUE:
            continue
        spec = cat.get(row["model"])
        assert spec is not None and spec.name == row["model"], row
        assert spec.served_in(row["region"]), row
        assert row["tier"] in spec.tiers, row
        assert row["currency"] in {"USD", "CNY"}


def test_table_carries_its_date_source_and_dates(table: PriceTable) -> None:
    assert table.date == "2026-12-07"  # docs/dashscope-wan27.md, compiled 2026-12-07
    assert table.source_path is not None and table.source_path.name == "prices.csv"
    by_key = {(r["model"], r["region"], r["tier"]): r for r in table.rows()}
    assert by_key[("wan2.1-t2v-turbo", "intl", "480P")]["checked"] == "2025-05"  # page date
    assert by_key[("wan2.1-i2v-plus", "intl", "720P")]["checked"] == "2025-06"
    assert "2026-12-07" in repr(table)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("wanx2.1-t2v-turbo", "wan2.1-t2v-turbo"),
        ("wanx2.1-t2v-plus", "wan2.1-t2v-plus"),
        ("wanx2.1-i2v-turbo", "wan2.1-i2v-turbo"),
        ("wanx2.1-i2v-plus", "wan2.1-i2v-plus"),
    ],
)
def test_alias_and_canonical_names_give_the_same_price(
    table: PriceTable, alias: str, canonical: str
) -> None:
    assert table.lookup(alias, "cn", "720P", False) == table.lookup(canonical, "cn", "720P", False)
    assert table.lookup(alias, "cn", "720P", False) is not None


@pytest.mark.parametrize("tier", ["720P", "720p", 720, "720"])
def test_tier_spellings(table: PriceTable, tier: object) -> None:
    """``usage.SR`` reports the tier as 720 or "720"."""
    assert table.lookup("wan2.6-t2v", "intl", tier, True) is not None


def test_flash_audio_and_silent_prices_differ(table: PriceTable) -> None:
    loud = estimate(table, "wan2.6-i2v-flash", "intl", "1080P", 10, True)
    quiet = estimate(table, "wan2.6-i2v-flash", "intl", "1080P", 10, False)
    assert (loud.amount, quiet.amount) == (pytest.approx(0.75), pytest.approx(0.375))


@pytest.mark.parametrize(
    ("model", "region", "tier"),
    [
        ("wan2.2-i2v-plus", "intl", "480P"),  # not found in pricing.md: left unknown
        ("wan2.2-i2v-flash", "intl", "720P"),
        ("wan2.6-t2v", "eu", "720P"),  # no Frankfurt prices at all
        ("wan2.6-t2v", "intl", "480P"),  # a tier the model does not have
        ("no-such-model", "intl", "720P"),
    ],
)
def test_unknown_price_is_nan_with_one_warning(
    table: PriceTable, model: str, region: str, tier: str
) -> None:
    with pytest.warns(UnknownPriceWarning, match="NaN") as record:
        first = estimate(table, model, region, tier, 5, False)
        again = estimate(table, model, region, tier, 5, True)
        after = cost(table, model, region, tier, 5, False, "SUCCEEDED")
    assert len(record) == 1
    assert model in str(record[0].message) and region in str(record[0].message)
    for est in (first, again, after):
        assert math.isnan(est.amount) and est.currency is None and est.price is None
        assert not est.known and str(est) == "unknown"


def test_one_warning_per_model_region_tier(table: PriceTable) -> None:
    with pytest.warns(UnknownPriceWarning) as record:
        estimate(table, "wan2.2-i2v-plus", "intl", "480P", 5, False)
        estimate(table, "wan2.2-i2v-plus", "intl", "1080P", 5, False)
        estimate(table, "wan2.2-i2v-flash", "intl", "480P", 5, False)
        estimate(table, "wan2.2-i2v-flash", "intl", "480P", 5, False)
    assert len(record) == 3


@pytest.mark.parametrize(
    "status", ["FAILED", "CANCELED", "UNKNOWN", "ERROR", "NOT_CREATED", "failed"]
)
def test_unbilled_runs_cost_zero_even_when_the_price_is_unknown(
    table: PriceTable, status: str
) -> None:
    known = cost(table, "wan2.6-t2v", "intl", "720P", 5, True, status)
    assert known.amount == 0.0 and known.currency == "USD"
    unknown = cost(table, "wan2.2-i2v-plus", "intl", "480P", None, False, status)  # no warning
    assert unknown.amount == 0.0 and unknown.currency is None


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "EXPIRED", "AMBIGUOUS", "PREPARED"])
def test_runs_of_unknown_outcome_have_unknown_cost(table: PriceTable, status: str) -> None:
    est = cost(table, "wan2.6-t2v", "intl", "720P", 5, True, status)
    assert math.isnan(est.amount) and est.currency == "USD"


def test_cost_accepts_a_status_enum(table: PriceTable) -> None:
    class Status(Enum):
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"

    assert cost(table, "wan2.6-t2v", "intl", "720P", 5, True, Status.SUCCEEDED).amount == 0.5
    assert cost(table, "wan2.6-t2v", "intl", "720P", 5, True, Status.FAILED).amount == 0.0


@pytest.mark.parametrize("billed", [None, math.nan])
def test_succeeded_without_billed_seconds_is_nan(table: PriceTable, billed: object) -> None:
    est = cost(table, "wan2.6-t2v", "intl", "720P", billed, True, "SUCCEEDED")  # type: ignore[arg-type]
    assert math.isnan(est.amount) and est.currency == "USD" and est.per_second == 0.10


@pytest.mark.parametrize("seconds", [-1, "5", True, math.nan])
def test_bad_seconds_are_refused(table: PriceTable, seconds: object) -> None:
    with pytest.raises(ValueError, match="seconds"):
        estimate(table, "wan2.6-t2v", "intl", "720P", seconds, True)  # type: ignore[arg-type]


def test_totals_never_add_two_currencies(table: PriceTable) -> None:
    rows = [
        estimate(table, "wan2.6-t2v", "intl", "720P", 5, True),  # 0.50 USD
        estimate(table, "wan2.6-t2v", "cn", "720P", 5, True),  # 3.00 CNY
        estimate(table, "wan2.6-t2v", "us", "1080P", 10, True),  # 10.00 CNY (Global)
        {"cost": 0.25, "currency": "USD"},
        (1.0, "CNY"),
    ]
    result = totals(rows)
    assert dict(result) == {"USD": pytest.approx(0.75), "CNY": pytest.approx(14.0)}
    assert result.unknown == {} and result.unknown_count == 0
    assert str(result) == "14.0000 CNY + 0.7500 USD"


def test_totals_count_unknowns_apart(table: PriceTable) -> None:
    with pytest.warns(UnknownPriceWarning):
        unknown_price = estimate(table, "wan2.2-i2v-plus", "intl", "480P", 5, False)
    rows = [
        (2.0, "USD"),
        unknown_price,  # NaN, no currency
        {"cost": math.nan, "currency": "USD"},  # priced, but billed seconds unknown
        {"amount": None, "currency": "CNY"},
        cost(table, "wan2.2-i2v-plus", "intl", "480P", None, False, "FAILED"),  # 0, no currency
    ]
    result = totals(rows)
    assert dict(result) == {"USD": 2.0}
    assert result.unknown == {None: 1, "USD": 1, "CNY": 1}
    assert "3 amounts of unknown cost" in str(result)
    assert str(totals([])) == "nothing known"


def test_user_table_replaces_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "\ufeffmodel,region,tier,per_second,currency,checked\n"
        "wanx2.1-t2v-turbo,cn,480p,0.2,CNY,2027-01-15\n"
        "wan2.2-i2v-plus,intl,480P,0.019,USD,2026-12-01\n"
        "\n",
        encoding="utf-8",
    )
    mine = PriceTable.load(path)
    assert len(mine) == 2 and mine.date == "2027-01-15" and mine.source_path == path
    assert mine.lookup("wan2.1-t2v-turbo", "cn", "480P", True) == Price(
        0.2, "CNY", "user table mine.csv", "", "2027-01-15"
    )
    est = estimate(mine, "wan2.2-i2v-plus", "intl", "480P", 5, False)
    assert est == Estimate(pytest.approx(0.095), "USD", 0.019, 5.0, est.price)
    with pytest.warns(UnknownPriceWarning):  # the shipped prices are not mixed in
        assert not estimate(mine, "wan2.6-t2v", "intl", "720P", 5, True).known


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model,region,tier,currency\nx,intl,720P,USD\n", "missing column.*per_second"),
        (
            "model,region,tier,per_second,currency\nx,intl,720P,abc,USD\n",
            "line 2: per_second='abc'",
        ),
        ("model,region,tier,per_second,currency\nx,intl,720P,-1,USD\n", "per_second='-1'"),
        ("model,region,tier,per_second,currency\nx,intl,720P,,USD\n", "leave the row out"),
        ("model,region,tier,per_second,currency\nx,intl,720P,1,usd\n", "currency='usd'"),
        ("model,region,tier,per_second,currency\n,intl,720P,1,USD\n", "model=''"),
        ("model,region,tier,audio,per_second,currency\nx,intl,720P,loud,1,USD\n", "audio='loud'"),
        (
            "model,region,tier,per_second,currency,confidence\nx,intl,720P,1,USD,high\n",
            "confidence='high'",
        ),
        (
            "model,region,tier,per_second,currency,checked\nx,intl,720P,1,USD,01/11/2026\n",
            "checked='01/11/2026'",
        ),
        (
            "model,region,tier,per_second,currency\nx,intl,720P,1,USD\nx,intl,720p,2,USD\n",
            "line 3: a second price",
        ),
        (
            "model,region,tier,audio,per_second,currency\n"
            "x,intl,720P,audio,1,USD\nx,intl,720P,any,2,USD\n",
            "line 3: a second price",
        ),
    ],
)
def test_a_bad_user_table_names_line_column_and_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        PriceTable.load(path)


def test_a_missing_user_table_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read price table"):
        PriceTable.load(tmp_path / "nope.csv")


def test_pricing_does_not_import_pandas() -> None:
    """The shipped table is read with the csv module: ``import wanbook`` stays light."""
    source = Path(_pricing.__file__).read_text("utf-8")
    assert "pandas" not in source.replace("pandas NA", "")


# ---------------------------------------------------------------------- warnings name the user's line
def test_an_unknown_price_warning_names_the_users_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not wanbook's insides (``_engine.prepare.py:88``): the line that asked, also when the work ran
    on wanbook's portal thread (``generate``)."""
    import wanbook as wb

    monkeypatch.setattr(_pricing, "_warned", set())
    with wb.Session(home=tmp_path, quiet=True, emulator=True, prices=PriceTable({})) as s:
        with pytest.warns(UnknownPriceWarning) as record:
            line = _line() + 1
            s.estimate(prompt="a fox", model="wan2.2-t2v-plus", size="832*480")
        assert (record[0].filename, record[0].lineno) == (__file__, line)
        with pytest.warns(UnknownPriceWarning) as record:
            line = _line() + 1
            run = s.generate("a fox", model="wan2.1-t2v-turbo", size="832*480", seed=1)
        assert (record[0].filename, record[0].lineno) == (__file__, line)
        assert math.isnan(run.cost)


def test_with_no_user_line_a_warning_says_wanbook() -> None:
    import threading
    import warnings

    from wanbook._warn import warn_user

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # a thread whose stack is only threading's and this call: as if on the portal, with
        # the main thread not waiting in wanbook
        worker = threading.Thread(target=warn_user, args=("no price", UnknownPriceWarning))
        worker.start()
        worker.join()
    (w,) = caught
    assert (w.filename, w.lineno, str(w.message)) == ("wanbook", 0, "no price")


def _line() -> int:
    import sys

    return sys._getframe(1).f_lineno


# ---------------------------------------------------------------------- choosing models by price
@pytest.mark.parametrize(
    ("kind", "region", "count", "options", "models", "size", "resolution"),
    [
        (
            "t2v",
            "intl",
            3,
            {},
            ["wan2.2-t2v-plus", "wan2.1-t2v-turbo", "wan2.5-t2v-preview"],
            "832*480",
            None,
        ),
        ("t2v", "us", 3, {}, ["wan2.6-t2v"], "1280*720", None),  # the only one served there
        ("i2v", "us", 2, {}, ["wan2.6-i2v-us", "wan2.6-i2v"], None, "720P"),  # USD before CNY
        ("i2v", "intl", 2, {}, ["wan2.1-i2v-turbo", "wan2.6-i2v-flash"], None, "720P"),
        ("i2v", "intl", 1, {"audio": "switchable"}, ["wan2.6-i2v-flash"], None, "720P"),
        ("i2v", "us", 1, {"audio": "switchable"}, [], None, None),  # none: say so, skip
        ("i2v", "cn", 1, {"template": "flying"}, ["wan2.1-i2v-turbo"], None, "480P"),
        ("i2v", "intl", 9, {"template": "no-such"}, [], None, None),
    ],
)
def test_cheapest_models_of_a_region(
    kind: str,
    region: str,
    count: int,
    options: dict[str, str],
    models: list[str],
    size: str | None,
    resolution: str | None,
) -> None:
    import wanbook as wb

    pick = wb.cheapest_models(kind, region, count, **options)
    assert (pick.models, pick.size, pick.resolution) == (models, size, resolution)
    for name in pick.models:
        assert catalogue().get(name).served_in(region)  # type: ignore[union-attr]


def test_unpriced_models_come_last() -> None:
    from wanbook._spec.model_choice import cheapest_models

    table = PriceTable({("wan2.6-t2v", "intl", "720P", "any"): Price(0.01, "USD", "t", "", "")})
    pick = cheapest_models("t2v", "intl", 2, prices=table)
    assert pick.models == ["wan2.6-t2v", "wan2.5-t2v-preview"]  # then catalogue order
    assert pick.size == "1280*720"  # the smallest size both offer


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("video", "intl"), "kind='video' is not allowed; expected 't2v' or 'i2v'"),
        (("t2v", "mars"), "region='mars' is not allowed"),
        (("t2v", "intl", 0), "count=0 is not allowed"),
    ],
)
def test_cheapest_models_refuses_bad_input(args: tuple[Any, ...], message: str) -> None:
    from wanbook._spec.model_choice import cheapest_models

    with pytest.raises(ValueError, match=re.escape(message)):
        cheapest_models(*args)
