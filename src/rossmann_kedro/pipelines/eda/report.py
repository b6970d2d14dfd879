"""Report node of the eda pipeline: the summaries of all analyses -> one Markdown document.

The report states the answer to each question with its number and embeds the figure PNGs that
the plot nodes saved through the catalog (pattern `eda_{name}_plot` ->
`data/08_reporting/eda/{name}.png`, linked relative to the report in `data/08_reporting/`).
"""

from __future__ import annotations

import logging
from typing import Any

from rossmann_kedro.pipelines.eda.config import ReportConfig

logger = logging.getLogger(__name__)

WEEKDAYS = {1: "Monday", 2: "Tuesday", 3: "Wednesday", 4: "Thursday", 5: "Friday",
            6: "Saturday", 7: "Sunday"}
MONTHS = {1: "January", 2: "February", 3: "March", 4: "April", 5: "May", 6: "June", 7: "July",
          8: "August", 9: "September", 10: "October", 11: "November", 12: "December"}


def _p(x: float | None) -> str:
    """Signed percentage, or 'n/a' when the data could not answer."""
    return "n/a" if x is None else f"{x:+.1f}%"


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _pval(p: float | None) -> str:
    return "p n/a" if p is None else ("p < 1e-6" if p < 1e-6 else f"p = {p:.3g}")


def _dict(d: dict[str, Any], fmt=_p) -> str:
    return ", ".join(f"{k}: {fmt(v)}" for k, v in d.items())


def _img(figure_dir: str, name: str, title: str) -> str:
    return f"![{title}]({figure_dir}/{name}.png)"


def _competition_reading(comp: dict) -> str:
    """One sentence of interpretation, chosen by the numbers (so it stays true on any data)."""
    near, far = comp.get("spearman_near"), comp.get("spearman_far")
    p_near = comp.get("spearman_near_p_value")
    if near is None or far is None:
        return ""
    if near < 0 and p_near is not None and p_near < 0.05:
        return ("Among city-centre stores the *closer* the competitor, the higher the sales: dense "
                "shopping areas outweigh the competition, so distance is no penalty there.")
    if abs(near) < abs(far):
        return "Distance matters less among city-centre stores than farther out."
    return "Distance matters at least as much in city centres as elsewhere."


def build_report(promo_tt: dict, holidays: dict, seasons: dict, promo: dict, closures: dict,
                 cust: dict, assort: dict, comp: dict, corr: dict, dist: dict,
                 params: ReportConfig) -> str:
    """Markdown report: one section per question, each with its finding in numbers and figure."""
    fd = params["figure_dir"]
    out: list[str] = [f"# {params['title']}", ""]
    out += [f"Data: {dist['trading_days']:,} trading days (open, sales > 0) of {dist['stores']} "
            f"stores, {dist['first_date']} to {dist['last_date']}. \"Usual\" sales = the store's "
            "mean on the same weekday with the same promo flag, so calendar effects are not "
            "confused with weekday or promo mix.", ""]

    # Q1
    same = _dict(promo_tt["same_window_promo_share_train"], lambda v: _f(v))
    verdict = "similar" if promo_tt["similar"] else "different"
    out += ["## Q1. Promotions in train vs test", "",
            f"- **Promo share: train {promo_tt['train_promo_share']:.1%} vs test "
            f"{promo_tt['test_promo_share']:.1%}** of store-days (test {promo_tt['test_dates'][0]}"
            f"..{promo_tt['test_dates'][1]}); chi-square = {_f(promo_tt['chi2'], '.1f')}, "
            f"{_pval(promo_tt['chi2_p_value'])}, Cramér's V = {_f(promo_tt['cramers_v'])} "
            f"-> practically **{verdict}** (with this many rows tiny gaps are 'significant'; "
            "V measures the size).",
            "- Per weekday (train / test): " + ", ".join(
                f"{WEEKDAYS[int(d)][:3]} {promo_tt['weekday_promo_share_train'][d]:.2f}/"
                f"{promo_tt['weekday_promo_share_test'][d]:.2f}"
                for d in promo_tt["weekday_promo_share_train"]) + "; never on weekends.",
            f"- Per store: std of the promo share {promo_tt['store_share_std_train']} (train) and "
            f"{promo_tt['store_share_std_test']} (test): promotions follow one chain-wide "
            f"calendar (KS {_pval(promo_tt['ks_p_value'])} only says the test window has "
            "one fixed share). Same calendar window in earlier years: " + same + ".",
            "", _img(fd, "promo_train_test", "promo train vs test"), ""]

    # Q2
    lines = []
    for label, s in holidays.items():
        if label in ("window_days", "school holiday") or not s.get("events"):
            continue
        lines.append(f"- **{label}**: {_p(s['before_pct'])} in the {holidays['window_days']} days "
                     f"before, {_p(s['after_pct'])} after; only {s['open_share_on_day']:.1%} of "
                     f"stores open on the day (those sell {_p(s['on_day_pct'])}).")
    sh = holidays["school holiday"]
    lines.append(f"- **school holidays**: {_p(sh['during_pct'])} during, {_p(sh['before_pct'])} "
                 f"in the week before they start, {_p(sh['after_pct'])} after they end.")
    out += ["## Q2. Sales before, during and after holidays", "",
            f"Relative to usual sales, window ±{holidays['window_days']} days:", "", *lines, "",
            _img(fd, "holidays", "sales around holidays"), ""]

    # Q3
    out += ["## Q3. Seasonality", "",
            f"- **Christmas week (Dec {seasons['christmas_week_days'][0]}-"
            f"{seasons['christmas_week_days'][1]}): {_p(seasons['christmas_week_uplift_pct'])}** "
            f"vs November; rest of December {_p(seasons['rest_of_december_uplift_pct'])} "
            f"(by year: " + ", ".join(f"{y} {_p(v['christmas_week_pct'])}"
                                      for y, v in seasons["christmas_by_year"].items()) + ").",
            f"- **Easter (Holy Week Mon-Sat): {_p(seasons['easter_holy_week_uplift_pct'])}** vs the "
            f"weeks before ({_dict(seasons['easter_by_year'])}).",
            f"- Months: best {MONTHS[seasons['best_month']]} "
            f"({_p(seasons['month_index_pct'][str(seasons['best_month'])])}), weakest "
            f"{MONTHS[seasons['worst_month']]} ({_p(seasons['month_index_pct'][str(seasons['worst_month'])])}).",
            "- Weekdays (vs store mean): " + ", ".join(
                f"{WEEKDAYS[int(d)][:3]} {_p(v)}" for d, v in seasons["weekday_index_pct"].items())
            + f"; {WEEKDAYS[seasons['best_weekday']]} is the strongest day.",
            f"- Trend: same-store growth {_dict(seasons['yoy_same_store_growth_pct'])} "
            f"(**{_p(seasons['trend_pct_per_year'])} per year**).",
            "", _img(fd, "seasonality", "seasonality"), ""]

    # Q4
    m, r = promo["matched_uplift_pct"], promo["raw_uplift_pct"]
    out += ["## Q4. Promotions: sales, customers, sales per customer", "",
            f"- **Promo days: {_p(m['Sales'])} sales, {_p(m['Customers'])} customers, "
            f"{_p(m['SalesPerCustomer'])} sales per customer** (same store and weekday, "
            f"{promo['stores_measured']} stores); raw promo vs non-promo days: "
            f"{_p(r['Sales'])} / {_p(r['Customers'])} / {_p(r['SalesPerCustomer'])}.",
            f"- By store type (sales): {_dict(promo['by_store_type_sales_uplift_pct'])}; type "
            f"**{promo['best_store_type']}** gains most.",
            f"- Across stores the uplift quartiles are {', '.join(_p(q) for q in promo['stores_uplift_quartiles_pct'])}; "
            f"the top {len(promo['top_stores'])} stores ({', '.join(map(str, promo['top_stores']))}) "
            f"gain {_p(promo['top_stores_sales_uplift_pct'])} on average, the bottom ones "
            f"{_p(promo['bottom_stores_sales_uplift_pct'])}: deploy promotions there first "
            "(full list: `eda/promo_uplift_by_store.csv`).",
            "", _img(fd, "promo_effect", "promo effect"), ""]

    # Q5
    c = closures
    out += ["## Q5. Store opening and closing", "",
            f"- {c['closures']} closures of >= {c['min_closed_days']} days in {c['stores_with_closure']} "
            f"stores (median {_f(c['median_closure_days'], '.0f')} days; "
            f"{c['closures_that_are_missing_rows']} are gaps without rows, e.g. refurbishments).",
            f"- **Before closing: {_p(c['before_closing_pct'])}; after reopening: "
            f"{_p(c['after_reopening_pct'])}** over {c['window_days']} days "
            f"(first week after reopening {_p(c['first_week_after_reopening_pct'])}).",
            f"- **{c['stores_open_all_week']} stores open on Sundays** (types "
            f"{_dict(c['all_week_store_types'], str)}): their Sunday sales are "
            f"{_p(c['all_week_sunday_vs_weekday_pct'])} and Saturday {_p(c['all_week_saturday_vs_weekday_pct'])} "
            f"vs their Mon-Fri mean (other stores' Saturday: {_p(c['others_saturday_vs_weekday_pct'])}); "
            f"they sell {_p(c['all_week_vs_others_mean_sales_pct'])} per day vs the others.",
            "", _img(fd, "store_closures", "store closures"), ""]

    # Q6
    out += ["## Q6. Customers and sales", "",
            f"- **Correlation customers-sales r = {_f(cust['pearson_all'])}** overall; per store "
            f"type {_dict(cust['pearson_by_type'], _f)} (weakest: type {cust['weakest_type']}).",
            f"- Sales per customer by type: {_dict(cust['sales_per_customer_by_type'], lambda v: _f(v, '.2f'))} "
            f"- smallest baskets in type {min(cust['sales_per_customer_by_type'], key=cust['sales_per_customer_by_type'].get)}, "
            f"largest in type {max(cust['sales_per_customer_by_type'], key=cust['sales_per_customer_by_type'].get)}.",
            "", _img(fd, "customers_vs_sales", "customers vs sales"), ""]

    # Q7
    out += ["## Q7. Assortment", "",
            f"- Stores: {_dict(assort['stores_by_assortment'], str)}; mean daily sales "
            f"{_dict(assort['mean_sales_by_assortment'], lambda v: _f(v, '.0f'))}.",
            f"- **Sales vs basic (a): {_dict(assort['sales_vs_basic_pct'])}; customers: "
            f"{_dict(assort['customers_vs_basic_pct'])}**; sales per customer "
            f"{_dict(assort['sales_per_customer_by_assortment'], lambda v: _f(v, '.2f'))} "
            f"(Kruskal-Wallis {_pval(assort['kruskal_p_value'])}).",
            "", _img(fd, "assortment", "assortment"), ""]

    # Q8
    out += ["## Q8. Competition", "",
            f"- Distance vs store sales: Spearman ρ = {_f(comp['spearman_distance_sales'])} "
            f"({_pval(comp['spearman_p_value'])}, {comp['stores_with_known_distance']} stores).",
            f"- City centres (competitor < {comp['city_centre_max_distance_m']:.0f} m, "
            f"{comp['near_stores']} stores): ρ = {_f(comp['spearman_near'])} "
            f"({_pval(comp['spearman_near_p_value'])}); farther out ρ = {_f(comp['spearman_far'])} "
            f"({_pval(comp['spearman_far_p_value'])}); near stores sell "
            f"{_p(comp['near_vs_far_mean_sales_pct'])} vs far ones. "
            + _competition_reading(comp),
            f"- **Competitor opening: {_p(comp['opening_effect_pct'])} sales** in the "
            f"{comp['window_days']} days after vs before ({comp['stores_with_opening']} stores, "
            f"median {_p(comp['opening_effect_median_pct'])}, {_f(comp['share_of_stores_losing'], '.0%')} "
            f"of them lose; t-test {_pval(comp['opening_t_test_p_value'])}).",
            "", _img(fd, "competition", "competition"), ""]

    # Q9
    top = list(corr["correlation_with_sales"].items())[:4]
    out += ["## Q9. Correlation matrix", "",
            f"- Strongest correlations with Sales ({corr['method']}): "
            + ", ".join(f"{k} {v:+.2f}" for k, v in top) + ".",
            "", _img(fd, "correlation", "correlation heatmap"), ""]

    # Q10
    med = dist["median_by_factor"]
    out += ["## Q10. Distributions of sales", "",
            f"- Daily sales: median {dist['median_sales']:.0f}, mean {dist['mean_sales']:.0f}, "
            f"skewness {dist['skewness']:.2f} (right-skewed).",
            *[f"- Median by {f}: {_dict(v, lambda x: _f(x, '.0f'))}" for f, v in med.items()],
            "", _img(fd, "sales_distributions", "sales distributions"), ""]

    text = "\n".join(out)
    logger.info("eda report: %d sections, %d characters", 10, len(text))
    return text
