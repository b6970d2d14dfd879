"""Wiring of the eda pipeline: analysis nodes -> summaries + tables, plot nodes -> figures,
one report node. Dataset names follow the catalog patterns in conf/base/catalog_eda.yml:
`eda_<name>_summary` (JSON), `eda_<name>_table` (CSV), `eda_<name>_plot` (PNG).
Namespace `eda`: nodes are `eda.<name>` in Kedro-Viz and `kedro run --namespaces eda`."""

from kedro.pipeline import Pipeline, node

from rossmann_kedro.pipelines.namespaces import namespaced


def create_pipeline(**kwargs) -> Pipeline:
    from . import nodes, plots, report

    p = "params:"
    nodes_ = [
            node(nodes.prepare_trading_days, ["sales_with_store", p + "trading_days"],
                 "trading_days", name="prepare_trading_days"),
            # Q1
            node(nodes.compare_promo_train_test,
                 ["sales_with_store", "test_with_store", p + "promo_train_test"],
                 ["eda_promo_train_test_summary", "eda_promo_share_by_weekday_table",
                  "eda_promo_share_by_store_table"], name="promo_train_test"),
            node(plots.plot_promo_train_test,
                 ["eda_promo_share_by_weekday_table", "eda_promo_share_by_store_table"],
                 "eda_promo_train_test_plot", name="plot_promo_train_test"),
            # Q2
            node(nodes.holiday_effects, ["trading_days", "sales_with_store", p + "holidays"],
                 ["eda_holidays_summary", "eda_holiday_profile_table"], name="holidays"),
            node(plots.plot_holiday_profiles, "eda_holiday_profile_table", "eda_holidays_plot",
                 name="plot_holidays"),
            # Q3
            node(nodes.seasonality, ["trading_days", p + "seasonality"],
                 ["eda_seasonality_summary", "eda_monthly_sales_table", "eda_weekday_sales_table",
                  "eda_weekly_trend_table", "eda_christmas_profile_table"], name="seasonality"),
            node(plots.plot_seasonality,
                 ["eda_monthly_sales_table", "eda_weekday_sales_table", "eda_weekly_trend_table",
                  "eda_christmas_profile_table"], "eda_seasonality_plot", name="plot_seasonality"),
            # Q4
            node(nodes.promo_effect, ["trading_days", p + "promo"],
                 ["eda_promo_effect_summary", "eda_promo_uplift_by_group_table",
                  "eda_promo_uplift_by_store_table"], name="promo_effect"),
            node(plots.plot_promo_effect,
                 ["eda_promo_uplift_by_group_table", "eda_promo_uplift_by_store_table"],
                 "eda_promo_effect_plot", name="plot_promo_effect"),
            # Q5
            node(nodes.store_closures, ["trading_days", "sales_with_store", p + "closures"],
                 ["eda_store_closures_summary", "eda_closure_profile_table", "eda_closures_table",
                  "eda_weekday_by_opening_table"], name="store_closures"),
            node(plots.plot_store_closures,
                 ["eda_closure_profile_table", "eda_weekday_by_opening_table"],
                 "eda_store_closures_plot", name="plot_store_closures"),
            # Q6
            node(nodes.customers_vs_sales, ["trading_days", p + "customers_sales"],
                 ["eda_customers_vs_sales_summary", "eda_customers_sales_correlation_table",
                  "eda_customers_sales_hist_table"], name="customers_vs_sales"),
            node(plots.plot_customers_vs_sales,
                 ["eda_customers_sales_hist_table", "eda_customers_sales_correlation_table"],
                 "eda_customers_vs_sales_plot", name="plot_customers_vs_sales"),
            # Q7
            node(nodes.assortment_effect, "trading_days",
                 ["eda_assortment_summary", "eda_assortment_table"], name="assortment"),
            node(plots.plot_assortment, "eda_assortment_table", "eda_assortment_plot",
                 name="plot_assortment"),
            # Q8
            node(nodes.competition_effect, ["trading_days", "stores_clean", p + "competition"],
                 ["eda_competition_summary", "eda_competition_distance_table",
                  "eda_store_sales_distance_table", "eda_competitor_openings_table",
                  "eda_competitor_opening_profile_table"], name="competition"),
            node(plots.plot_competition,
                 ["eda_store_sales_distance_table", "eda_competition_distance_table",
                  "eda_competitor_opening_profile_table",
                  p + "competition.city_centre_max_distance_m"],
                 "eda_competition_plot", name="plot_competition"),
            # Q9
            node(nodes.correlation_matrix, ["trading_days", p + "correlation"],
                 ["eda_correlation_summary", "eda_correlation_table"], name="correlation"),
            node(plots.plot_correlation, "eda_correlation_table", "eda_correlation_plot",
                 name="plot_correlation"),
            # Q10
            node(nodes.sales_distributions, ["trading_days", p + "distributions"],
                 ["eda_sales_distributions_summary", "eda_sales_quantiles_table",
                  "eda_sales_histogram_table"], name="sales_distributions"),
            node(plots.plot_sales_distributions,
                 ["eda_sales_quantiles_table", "eda_sales_histogram_table"],
                 "eda_sales_distributions_plot", name="plot_sales_distributions"),
            # Report: the numbers of every question, with the figures embedded.
            node(report.build_report,
                 ["eda_promo_train_test_summary", "eda_holidays_summary", "eda_seasonality_summary",
                  "eda_promo_effect_summary", "eda_store_closures_summary",
                  "eda_customers_vs_sales_summary", "eda_assortment_summary",
                  "eda_competition_summary", "eda_correlation_summary",
                  "eda_sales_distributions_summary", p + "report"],
                 "eda_report", name="build_report"),
    ]
    # Every output but the in-memory `trading_days` keeps its catalog name (eda_<name>_...);
    # `params:<key>` becomes `params:eda.<key>` (parameters_eda.yml).
    return namespaced(nodes_, "eda", internal={"trading_days"})
