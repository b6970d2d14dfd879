"""The eda pipeline in a real Kedro session on synthetic data whose effects are known.

`rossmann_kedro.synthetic` plants a promo uplift, a Christmas uplift and a competitor-opening
drop of known size (`PLANTED_EFFECTS`); the analyses must recover their sign and size.
"""

from __future__ import annotations

import json

import pytest

from rossmann_kedro.synthetic import PLANTED_EFFECTS, generate_with_truth, write_csvs
from rossmann_kedro.workspace import make_workspace, run_pipeline

pytestmark = pytest.mark.slow

N_STORES, SEED = 60, 42
FIGURES = ["promo_train_test", "holidays", "seasonality", "promo_effect", "store_closures",
           "customers_vs_sales", "assortment", "competition", "correlation", "sales_distributions"]


@pytest.fixture(scope="module")
def eda_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """data_processing + eda once on 60 synthetic stores; the truth comes with the data."""
    ws = make_workspace(tmp_path_factory.mktemp("eda") / "ws")
    tables, truth = generate_with_truth(n_stores=N_STORES, seed=SEED)
    write_csvs(ws / "data" / "01_raw", tables=tables)
    run_pipeline(ws, "data_processing")
    run_pipeline(ws, "eda")
    out = ws / "data" / "08_reporting"
    summaries = {p.name.removesuffix("_summary.json"): json.loads(p.read_text())
                 for p in (out / "eda").glob("*_summary.json")}
    return {"ws": ws, "out": out, "summary": summaries, "truth": truth}


def _pct(x: float) -> float:
    return 100.0 * x


def test_recovers_planted_promo_effect(eda_run: dict) -> None:
    m = eda_run["summary"]["promo_effect"]["matched_uplift_pct"]
    pe = PLANTED_EFFECTS
    spc = (1 + pe["promo_sales_uplift"]) / (1 + pe["promo_customers_uplift"]) - 1
    assert m["Sales"] == pytest.approx(_pct(pe["promo_sales_uplift"]), abs=4)
    assert m["Customers"] == pytest.approx(_pct(pe["promo_customers_uplift"]), abs=3)
    assert m["SalesPerCustomer"] == pytest.approx(_pct(spc), abs=3)
    # Planted uplift is the same everywhere, so no store type may look very different.
    by_type = eda_run["summary"]["promo_effect"]["by_store_type_sales_uplift_pct"]
    assert set(by_type) == {"a", "b", "c", "d"}
    assert max(by_type.values()) - min(by_type.values()) < 8


def test_recovers_planted_christmas_effect(eda_run: dict) -> None:
    s = eda_run["summary"]["seasonality"]
    pe = PLANTED_EFFECTS
    assert tuple(s["christmas_week_days"]) == tuple(pe["christmas_week_days"])
    assert s["christmas_week_uplift_pct"] == pytest.approx(_pct(pe["christmas_week_uplift"]), abs=6)
    assert s["rest_of_december_uplift_pct"] == pytest.approx(_pct(pe["december_uplift"]), abs=4)
    assert s["best_month"] == 12
    assert s["easter_holy_week_uplift_pct"] > 5          # planted +15% (school holidays overlap)
    assert s["trend_pct_per_year"] > 0                    # planted +2% per year


def test_recovers_planted_competition_opening_drop(eda_run: dict) -> None:
    c = eda_run["summary"]["competition"]
    truth = eda_run["truth"]
    openers = int(truth["CompetitorOpening"].notna().sum())
    assert 0 < c["stores_with_opening"] <= openers
    planted = -_pct(PLANTED_EFFECTS["competition_opening_drop"])
    assert c["opening_effect_pct"] < 0
    assert c["opening_effect_pct"] == pytest.approx(planted, abs=4)


def test_finds_refurbishment_gaps_and_sunday_stores(eda_run: dict) -> None:
    s = eda_run["summary"]["store_closures"]
    truth = eda_run["truth"]
    assert s["closures_that_are_missing_rows"] == int(truth["Refurbished"].sum())
    assert s["stores_open_all_week"] == int(truth["SundayOpen"].sum())


def test_other_questions_answered_with_numbers(eda_run: dict) -> None:
    s = eda_run["summary"]
    assert s["promo_train_test"]["similar"] is True           # one chain-wide promo calendar
    assert 0 <= s["promo_train_test"]["chi2_p_value"] <= 1
    assert s["holidays"]["Christmas"]["before_pct"] > 15        # the run-up to Christmas
    assert s["customers_vs_sales"]["pearson_all"] > 0.7
    assert s["correlation"]["correlation_with_sales"]["Customers"] > 0.7
    assert s["correlation"]["correlation_with_sales"]["Promo"] > 0
    # Assortment c has a planted +5% basket; type b (assortment b) small baskets.
    spc = s["assortment"]["sales_per_customer_by_assortment"]
    assert spc["b"] < spc["a"]
    med = s["sales_distributions"]["median_by_factor"]["Promo"]
    assert med["1"] > med["0"]


def test_every_figure_table_and_the_report_are_written(eda_run: dict) -> None:
    out = eda_run["out"]
    for name in FIGURES:
        png = out / "eda" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert len(list((out / "eda").glob("*.csv"))) >= 15
    report = (out / "eda_report.md").read_text()
    for q in range(1, 11):
        assert f"## Q{q}." in report
    for name in FIGURES:   # every image link resolves relative to the report
        assert f"(eda/{name}.png)" in report
    promo = eda_run["summary"]["promo_effect"]["matched_uplift_pct"]
    assert f"{promo['Sales']:+.1f}% sales, {promo['Customers']:+.1f}% customers" in report


def test_outputs_load_through_the_catalog(eda_run: dict) -> None:
    """What the notebook does: load the pipeline's outputs by catalog name."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    ws = eda_run["ws"]
    bootstrap_project(ws)
    with KedroSession.create(project_path=ws) as session:
        catalog = session.load_context().catalog
        table = catalog.load("eda_promo_uplift_by_store_table")
        assert len(table) == eda_run["summary"]["promo_effect"]["stores_measured"]
        assert catalog.load("eda_seasonality_summary")["best_month"] == 12
        preview = catalog.get("eda_promo_effect_plot").preview()
        assert len(preview) > 1000   # base64 PNG, what Kedro-Viz shows
