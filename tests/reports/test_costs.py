"""Cost reports: emulator runs kept apart, currencies never added, unknown costs never zero."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from typing import Any

import pandas as pd
import pytest

import wanbook as wb
from wanbook._reports.costs import (
    UNKNOWN_CURRENCY,
    CostReport,
    at_other_tiers,
    cost_frame,
    cost_report,
    estimate_vs_actual,
    spend_table,
)
from wanbook._spec.prices import PriceTable

NAN = math.nan
DAY1, DAY2 = "2026-11-01T10:00:00+00:00", "2026-11-02T23:30:00+00:00"


def row(**kw: Any) -> dict[str, Any]:
    """A run-log row as ``wb.runs()`` has it, with plausible defaults (a real, billed 480P run)."""
    base = dict(
        backend="intl",
        region="intl",
        model="wan2.2-t2v-plus",
        tier="480P",
        status="SUCCEEDED",
        billed_seconds=5.0,
        cost=0.10,
        currency="USD",
        estimate=0.10,
        estimate_currency="USD",
        created_at=DAY1,
        experiment="study",
        param_audio=False,
    )
    return base | kw


def runs(*rows: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(list(rows))
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    df.index = pd.Index([f"run{i}" for i in range(len(df))], name="run_id")
    return df


def totals(report: CostReport) -> dict[tuple[str, str], tuple[float, int]]:
    t = report.totals
    return {k: (c, u) for k, c, u in zip(t.index, t["cost"], t["unknown"], strict=True)}


# ------------------------------------------------------------------------------- the rules
@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [row(cost=0.10), row(backend="emulator", cost=0.50, estimate=0.50)],
            {("real", "USD"): (0.10, 0), ("emulator", "USD"): (0.50, 0)},
            id="emulator-kept-apart",
        ),
        pytest.param(
            [row(cost=0.10), row(region="cn", cost=0.70, currency="CNY", estimate_currency="CNY")],
            {("real", "USD"): (0.10, 0), ("real", "CNY"): (0.70, 0)},
            id="currencies-never-added",
        ),
        pytest.param(
            [row(cost=0.10), row(status="RUNNING", cost=NAN, billed_seconds=NAN, currency=None)],
            {("real", "USD"): (0.10, 1)},
            id="unfinished-is-unknown-in-its-estimate-currency",
        ),
        pytest.param(
            [
                row(
                    model="wan2.2-i2v-plus",
                    cost=NAN,
                    currency=None,
                    estimate=NAN,
                    estimate_currency=None,
                )
            ],
            {("real", UNKNOWN_CURRENCY): (NAN, 1)},
            id="unknown-price-is-nan-not-zero",
        ),
        pytest.param(
            [row(status="FAILED", cost=0.0, billed_seconds=NAN), row(cost=0.10)],
            {("real", "USD"): (0.10, 0)},
            id="failed-costs-zero-not-unknown",
        ),
    ],
)
def test_totals_keep_the_rules(rows: list[dict[str, Any]], expected: dict) -> None:
    got = totals(cost_report(runs(*rows), prices=PriceTable.load()))
    assert got.keys() == expected.keys()
    for key, (cost, unknown) in expected.items():
        assert got[key][1] == unknown, key
        if math.isnan(cost):
            assert math.isnan(got[key][0]), key
        else:
            assert got[key][0] == pytest.approx(cost), key


@pytest.mark.parametrize(
    ("by", "keys"),
    [
        ("model", [("real", "wan2.1-t2v-turbo", "USD"), ("real", "wan2.2-t2v-plus", "USD")]),
        ("tier", [("real", "480P", "USD"), ("real", "720P", "USD")]),
        ("day", [("real", "2026-11-01", "USD"), ("real", "2026-11-02", "USD")]),
        ("experiment", [("real", "(none)", "USD"), ("real", "study", "USD")]),
        (
            ["model", "tier"],
            [
                ("real", "wan2.1-t2v-turbo", "720P", "USD"),
                ("real", "wan2.2-t2v-plus", "480P", "USD"),
            ],
        ),
    ],
)
def test_spend_by_each_dimension(by: Any, keys: list[tuple]) -> None:
    frame = cost_frame(
        runs(
            row(),
            row(model="wan2.1-t2v-turbo", tier="720P", cost=0.18, created_at=DAY2, experiment=None),
        )
    )
    table = spend_table(frame, by)
    assert list(table.index) == keys
    assert table["runs"].sum() == 2 and table["cost"].sum() == pytest.approx(0.28)


def test_spend_columns_count_what_happened() -> None:
    frame = cost_frame(
        runs(
            row(),
            row(status="FAILED", cost=0.0, billed_seconds=NAN),
            row(status="PENDING", cost=NAN, billed_seconds=NAN),
        )
    )
    (got,) = spend_table(frame, "model").to_dict("records")
    assert got == {
        "runs": 3,
        "succeeded": 1,
        "unbilled": 1,
        "billed_seconds": 5.0,
        "cost": pytest.approx(0.10),
        "unknown": 1,
        "estimate": pytest.approx(0.30),
    }


@pytest.mark.parametrize(
    ("rows", "text"),
    [
        ([row()], "0.1000 USD"),
        (
            [row(), row(region="cn", cost=0.7, currency="CNY", estimate_currency="CNY")],
            "0.7000 CNY + 0.1000 USD",
        ),
        (
            [row(), row(status="RUNNING", cost=NAN, currency=None)],
            "0.1000 USD (+1 run of unknown cost)",
        ),
        (
            [row(cost=NAN, currency=None, estimate=NAN, estimate_currency=None)] * 2,
            "unknown (2 runs)",
        ),
        ([row(status="FAILED", cost=0.0)], "0.0000 USD"),
    ],
)
def test_total_text_never_adds_currencies_or_hides_unknowns(rows: list, text: str) -> None:
    report = cost_report(runs(*rows), prices=PriceTable.load())
    assert report.total_text("real") == text
    assert report.total_text("emulator") == "nothing"


def test_include_emulator_false_leaves_rehearsals_out() -> None:
    df = runs(row(), row(backend="emulator", cost=9.0))
    report = cost_report(df, prices=PriceTable.load(), include_emulator=False)
    assert list(report.frame["ledger"]) == ["real"]
    assert report.total_text("real") == "0.1000 USD" and report.total_text("emulator") == "nothing"


def test_estimate_vs_actual_shows_unbilled_failures() -> None:
    frame = cost_frame(
        runs(
            row(cost=0.10),
            row(status="FAILED", cost=0.0, billed_seconds=NAN),
            row(status="RUNNING", cost=NAN, billed_seconds=NAN),
        )
    )
    (got,) = estimate_vs_actual(frame).to_dict("records")
    assert got["runs"] == 3 and got["compared"] == 2  # every run, and those summed
    assert got["unbilled"] == 1 and got["not_compared"] == 1
    assert got["estimated"] == pytest.approx(0.20) and got["actual"] == pytest.approx(0.10)
    assert got["difference"] == pytest.approx(-0.10)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        pytest.param(
            row(model="wan2.2-t2v-plus", tier="480P"),
            {"480P": (0.10, "USD", True), "1080P": (0.50, "USD", False)},
            id="t2v-tiers",
        ),
        pytest.param(
            row(model="wan2.6-i2v-flash", tier="720P", param_audio=False, cost=0.125),
            {"720P": (0.125, "USD", True), "1080P": (0.1875, "USD", False)},
            id="silent-price",
        ),
        pytest.param(
            row(model="wan2.6-i2v-flash", tier="720P", param_audio=True, cost=0.25),
            {"720P": (0.25, "USD", True), "1080P": (0.375, "USD", False)},
            id="sound-price",
        ),
        pytest.param(
            row(model="wan2.2-i2v-plus", cost=NAN, currency=None),
            {"480P": (NAN, UNKNOWN_CURRENCY, True), "1080P": (NAN, UNKNOWN_CURRENCY, False)},
            id="unpriced-model",
        ),
        pytest.param(
            row(region="cn", model="wan2.1-t2v-turbo", tier="720P", cost=1.2, currency="CNY"),
            {"480P": (1.2, "CNY", False), "720P": (1.2, "CNY", True)},
            id="cny-region",
        ),
    ],
)
def test_at_other_tiers_reprices_the_same_seconds(run: dict, expected: dict) -> None:
    table = at_other_tiers(cost_frame(runs(run, row(status="FAILED", cost=0.0))), PriceTable.load())
    table = table[table["model"] == run["model"]]
    got = {
        t: (c, cur, a)
        for t, c, cur, a in zip(
            table["tier"], table["cost"], table["currency"], table["as_run"], strict=True
        )
    }
    assert got.keys() == expected.keys()
    for tier, (cost, currency, as_run) in expected.items():
        assert got[tier][1:] == (currency, as_run)
        assert (math.isnan(got[tier][0]) and math.isnan(cost)) or got[tier][0] == pytest.approx(
            cost
        )
    assert set(table["runs"]) == {1}  # the failed run is not re-priced


def test_tier_matrix_is_readable_text() -> None:
    report = cost_report(runs(row()), prices=PriceTable.load())
    matrix = report.tier_matrix()
    assert list(matrix.columns) == ["480P", "1080P"]
    assert matrix.iloc[0].tolist() == ["0.1000 USD (as run)", "0.5000 USD"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: cost_report(runs(row()), by=["week"], prices=PriceTable.load()),
            "by='week' is not allowed",
        ),
        (
            lambda: cost_report(pd.DataFrame({"model": ["m"]}), prices=PriceTable.load()),
            "missing column",
        ),
        (lambda: spend_table(cost_frame(runs(row())), "colour"), "cannot group spend by 'colour'"),
        (
            lambda: cost_report(runs(row()), prices=PriceTable.load()).plot(currency="EUR"),
            "currency='EUR'",
        ),
    ],
)
def test_bad_input_names_the_value(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_empty_run_log_gives_empty_tables() -> None:
    report = cost_report(runs(row()).iloc[:0], prices=PriceTable.load())
    assert report.totals.empty and report.by_model.empty and report.at_other_tiers().empty
    assert report.total_text() == "nothing"
    assert "0 runs" in report._repr_html_()
    report.plot().savefig(io.BytesIO(), format="png")


# ------------------------------------------------------------------------------- display
def test_html_prints_seconds_as_seconds_and_money_with_four_decimals() -> None:
    df = runs(row(billed_seconds=120.0, cost=2.4), row(billed_seconds=NAN, cost=NAN))
    page = cost_report(df, prices=PriceTable.load())._repr_html_()
    assert "<td>120</td>" in page and "120.0000" not in page  # not "120.0000"
    assert "<td>2.4000</td>" in page


def test_html_keeps_ledgers_apart_and_escapes() -> None:
    df = runs(
        row(experiment="<script>x</script>"), row(backend="emulator", cost=NAN, currency=None)
    )
    page = cost_report(df, prices=PriceTable.load())._repr_html_()
    assert "Real spend</b> (1 runs): 0.1000 USD" in page
    assert "Emulator rehearsal</b> (1 runs" in page and "would): unknown (1 run)" in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_plot_has_four_panels_in_one_currency() -> None:
    df = runs(
        row(),
        row(backend="emulator", cost=0.5),
        row(region="cn", cost=0.7, currency="CNY", estimate_currency="CNY"),
    )
    report = cost_report(df, prices=PriceTable.load())
    fig = report.plot()
    assert len(fig.axes) == 4
    assert "USD" in fig.get_suptitle() and "other currencies not shown: CNY" in fig.get_suptitle()
    labels = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert labels == {"real spend", "emulator (rehearsal)"}
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    assert "CNY" in report.plot(currency="CNY").get_suptitle()
    unpriced = runs(
        row(), row(model="wan2.2-i2v-plus", cost=NAN, currency=None, estimate_currency=None)
    )
    title = cost_report(unpriced, prices=PriceTable.load()).plot().get_suptitle()
    assert "1 run of unknown price not shown" in title
    assert "'?'" not in title  # no "?" is drawn: its key is not in the title either


def test_the_plot_explains_its_question_marks_only_when_it_draws_them() -> None:
    billed_unknown = row(cost=NAN, billed_seconds=NAN)  # priced, but its seconds not reported
    fig = cost_report(runs(row(), billed_unknown), prices=PriceTable.load()).plot()
    drawn = [t.get_text() for t in fig.axes[0].texts]
    assert drawn == ["1?"] and "'?' = runs of unknown cost" in fig.get_suptitle()


def test_estimate_vs_actual_counts_every_run_even_when_none_is_compared() -> None:
    unpriced = row(model="wan2.2-i2v-flash", cost=NAN, currency=None, estimate=NAN)
    unpriced |= {"estimate_currency": None}
    (got,) = estimate_vs_actual(cost_frame(runs(unpriced))).to_dict("records")
    assert (got["runs"], got["compared"], got["not_compared"]) == (1, 0, 1)


def test_importing_the_report_modules_stays_light() -> None:
    code = (
        "import sys, wanbook, wanbook._reports.costs, wanbook._reports.reproducibility; "
        "heavy = {'pandas', 'matplotlib', 'av', 'numpy'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------- real runs
def test_report_of_real_emulator_runs(tmp_path: Any) -> None:
    with wb.Session(home=tmp_path, emulator=True, quiet=True, experiment="rehearsal") as s:
        s.generate("a red fox", model="wan2.2-t2v-plus", size="832*480", seed=1)
        s.generate("a red fox", model="wan2.1-t2v-turbo", size="832*480", seed=1)
        report = wb.cost_report(session=s)
        spent = s.runs()["cost"].sum()
    assert totals(report) == {("emulator", "USD"): (pytest.approx(spent), 0)}
    assert spent == pytest.approx(0.10 + 0.18)
    assert report.total_text("real") == "nothing"
    assert list(report.by_experiment.index) == [("emulator", "rehearsal", "USD")]
    eva = report.estimate_vs_actual
    assert (eva["difference"].abs() < 1e-9).all() and list(eva["runs"]) == [1, 1]
