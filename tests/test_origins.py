"""The origin frame and the backtest folds are honest: nothing at or after an origin reaches
the features or the forecast of that origin; and the holiday rules learnt from two years of
history put movable holidays on the right dates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rossmann_kedro.features import FEATURE_NAMES, FeatureContext
from rossmann_kedro.features.calendar import _learn_holiday_keys, rule_holidays, to_day_numbers
from rossmann_kedro.features.origins import build_origin_frame, forecast_origins
from rossmann_kedro.pipelines.backtest.nodes import run_backtest
from tests.origin_params import CONTEXT, TREE


def _altered_after(sales: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """Every row at or after `origin` changed: sales, customers, openings."""
    out = sales.copy()
    late = out["Date"] >= origin
    out.loc[late, "Sales"] = out.loc[late, "Sales"] * 3 + 7
    out.loc[late, "Customers"] = out.loc[late, "Customers"] * 2 + 1
    far = out["Date"] >= origin + pd.Timedelta(days=42)
    out.loc[far, "Open"] = 0
    return out


def _frames_with_equal_features(a_sales: pd.DataFrame, b_sales: pd.DataFrame,
                                stores: pd.DataFrame, origins: list[pd.Timestamp],
                                fold: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The origin frames of both histories, after checking that every row of the origins up to
    `fold` has the same features in both."""
    a = build_origin_frame(a_sales, stores, origins, 42, CONTEXT)
    b = build_origin_frame(b_sales, stores, origins, 42, CONTEXT)
    upto = pd.to_datetime(a["origin"]) <= fold
    feats = list(FEATURE_NAMES)
    pd.testing.assert_frame_equal(a.loc[upto, feats].reset_index(drop=True),
                                  b.loc[upto, feats].reset_index(drop=True))
    return a, b


def test_a_fold_never_sees_rows_at_or_after_its_origin(clean_sales_tables) -> None:
    sales, stores = clean_sales_tables
    origins = forecast_origins(sales["Date"], 42, 42, 182)
    fold = origins[-2]
    altered = _altered_after(sales, fold)
    # features of every row of origins up to the fold: identical (targets of the fold differ)
    clean_frame, alt_frame = _frames_with_equal_features(sales, altered, stores, origins, fold)
    upto = pd.to_datetime(clean_frame["origin"]) <= fold
    assert not clean_frame.loc[~upto, "Sales"].equals(alt_frame.loc[~upto, "Sales"])
    # and the fold's forecasts, from models fitted before it, do not move either
    params = {"max_stores": None, "seed": 0, "models": ["seasonal_naive", "xgboost",
                                                        "xgboost_v1"],
              "n_folds": 2, "naive_weeks": 8}
    fe = {"context": CONTEXT, "origins": {"max_stores": None, "seed": 0}}
    a = run_backtest(clean_frame.loc[upto], sales, stores, fe, TREE, {}, params)
    b = run_backtest(alt_frame.loc[upto], altered, stores, fe, TREE, {}, params)
    last = a["fold"] == a["fold"].max()
    assert pd.to_datetime(a.loc[last, "origin"]).eq(fold).all()
    for model in ("seasonal_naive", "xgboost", "xgboost_v1"):
        np.testing.assert_array_equal(a.loc[last, model].to_numpy(), b.loc[last, model].to_numpy())
    # the planted change is visible to a model that is allowed to see it: the altered targets
    assert (b.loc[last, "Sales"].to_numpy() != a.loc[last, "Sales"].to_numpy()).any()


def test_later_sales_do_not_decide_which_earlier_days_are_outliers(clean_sales_tables) -> None:
    """data_processing flags outlier days against each store's whole file. A context fitted at an
    origin judges them again from its own rows, so the sales after a fold's origin cannot change
    which days before it count towards the store levels."""
    from rossmann_kedro.pipelines.data_processing.nodes import flag_sales_outliers

    sales, stores = clean_sales_tables
    origins = forecast_origins(sales["Date"], 42, 42, 182)
    fold = origins[1]   # most of the file after it: later sales move every store's median
    flags = {"threshold": 3.0, "action": "flag"}
    later = sales.assign(Sales=sales["Sales"].where(sales["Date"] < fold, sales["Sales"] * 20))
    clean = flag_sales_outliers(sales, flags)[0]
    altered = flag_sales_outliers(later, flags)[0]
    before = clean["Date"] < fold
    # the file's flags of days before the fold do move with the later sales
    assert (clean.loc[before, "SalesOutlier"] != altered.loc[before, "SalesOutlier"]).mean() > 0.5
    _frames_with_equal_features(clean, altered, stores, origins, fold)
    # the served context, fitted on every row, flags exactly as the file does
    served = FeatureContext.fit(clean, stores, params=CONTEXT)
    file_flags = flag_sales_outliers(sales, {"threshold": CONTEXT["outlier_threshold"],
                                             "action": "flag"})[0]
    refit = FeatureContext.fit(file_flags.assign(SalesOutlier=False), stores, params=CONTEXT)
    for key, values in served.store.items():
        np.testing.assert_array_equal(values, refit.store[key], err_msg=key)


def test_a_fold_trains_on_the_rows_a_model_trained_at_its_origin_would(clean_sales_tables) -> None:
    """The origin model of a backtest fold and the one `tree_model` trains on the data cut at
    that origin see the same rows, features and draw of a fraction of them: the fold measures
    the model that would have been served."""
    from rossmann_kedro.models.candidates import origin_training_rows

    sales, stores = clean_sales_tables
    origins = forecast_origins(sales["Date"], 42, 14, 182)   # as the default: 14 days apart
    fold = pd.Timestamp(sales["Date"].max()) + pd.Timedelta(days=1 - 2 * 42)  # next-to-last fold
    cut = sales.loc[sales["Date"] < fold]
    cut_origins = forecast_origins(cut["Date"], 42, 14, 182)
    # the cut's last two origins have 28 and 14 days of targets: training rows, as in the fold
    assert cut_origins == [o for o in origins if o < fold]
    assert cut_origins[-1] == fold - pd.Timedelta(days=14)
    full_frame = build_origin_frame(sales, stores, origins, 42, CONTEXT)
    cut_frame = build_origin_frame(cut, stores, cut_origins, 42, CONTEXT)
    in_fold = origin_training_rows(full_frame.loc[full_frame["Date"] < fold], False, 0.4)
    served = origin_training_rows(cut_frame, False, 0.4)
    assert 0.3 < len(served) / len(cut_frame) < 0.5
    pd.testing.assert_frame_equal(in_fold.reset_index(drop=True), served.reset_index(drop=True))


def test_origin_features_know_only_the_past(clean_sales_tables) -> None:
    sales, stores = clean_sales_tables
    origin = pd.Timestamp(sales["Date"].max()) - pd.Timedelta(days=60)
    ctx = FeatureContext.fit(sales.loc[sales["Date"] < origin], stores,
                             train_end=origin - pd.Timedelta(days=1), params=CONTEXT)
    rows = sales.loc[(sales["Date"] >= origin) & (sales["Open"] == 1)].head(50)
    from rossmann_kedro.features import build_features

    X = build_features(rows, ctx)
    ahead = (rows["Date"] - (origin - pd.Timedelta(days=1))).dt.days.to_numpy()
    np.testing.assert_array_equal(X["horizon_days"].to_numpy(), np.minimum(ahead, 100))
    assert X["last_year_known"].eq(1).mean() > 0.9     # a year of history exists
    assert np.isfinite(X.to_numpy()).all()


def test_movable_holidays_learnt_from_two_years_land_on_their_dates() -> None:
    # Ascension (Easter + 39) and Whit Monday (Easter + 50), and 1 May, in 2013 and 2014 only
    days, codes = [], []
    for year in (2013, 2014):
        span = pd.date_range(f"{year}-03-01", f"{year}-06-30")
        easter = pd.Timestamp({2013: "2013-03-31", 2014: "2014-04-20"}[year])
        hol = {easter + pd.Timedelta(days=39), easter + pd.Timedelta(days=50),
               pd.Timestamp(f"{year}-05-01")}
        days.append(to_day_numbers(pd.Series(span)))
        codes.append(np.array([1 if d in hol else 0 for d in span], dtype=np.int8))
    fixed, easter_keys = _learn_holiday_keys(np.concatenate(days), np.concatenate(codes))
    assert set(easter_keys) == {39, 50} and set(fixed) == {(5, 1)}
    may_june_2015 = pd.date_range("2015-04-20", "2015-06-30")
    got = rule_holidays(to_day_numbers(pd.Series(may_june_2015)), fixed, easter_keys)
    assert set(may_june_2015[got > 0].strftime("%m-%d")) == {"05-01", "05-14", "05-25"}


def test_a_data_gap_is_not_a_level(clean_sales_tables) -> None:
    """Stores whose rows of July-December are missing from the file (as 180 real stores' rows
    of 2014 are) keep recent levels near the ones their full rows give: the December a store's
    file lacks comes from the other stores' day effects, not from its own spring."""
    sales, stores = clean_sales_tables
    end = pd.Timestamp("2015-01-02")
    history = sales.loc[sales["Date"] <= end]
    full = FeatureContext.fit(history, stores, train_end=end, params=CONTEXT)
    errors, spring_errors = {28: [], 91: [], 182: []}, []
    for store in stores["Store"].iloc[:6]:
        gap = (history["Store"] == store) & history["Date"].between("2014-07-01", "2014-12-31")
        gapped = FeatureContext.fit(history.loc[~gap], stores, train_end=end, params=CONTEXT)
        pos = int(np.searchsorted(full.store_ids, store))
        for days, err in errors.items():
            err.append(gapped.store[f"recent_log_sales_{days}d"][pos]
                       - full.store[f"recent_log_sales_{days}d"][pos])
        kept = history.loc[~gap & (history["Store"] == store) & (history["Open"] == 1)
                           & (history["Date"] > end - pd.Timedelta(days=364))]
        spring_errors.append(np.log1p(kept["Sales"]).mean()
                             - full.store["recent_log_sales_28d"][pos])
    for days, err in errors.items():
        assert np.mean(np.abs(err)) < 0.04, (days, err)
    # the level of the spring the file holds would miss December's uplift by far more
    assert np.mean(np.abs(errors[28])) < 0.3 * np.mean(np.abs(spring_errors)), spring_errors
    # a store without a gap, open on the chain's usual days, keeps its plain mean
    other = int(stores["Store"].iloc[6])
    rows = history.loc[(history["Store"] == other) & (history["Open"] == 1)
                       & (history["Date"] > end - pd.Timedelta(days=91))]
    pos = int(np.searchsorted(full.store_ids, other))
    assert abs(full.store["recent_log_sales_91d"][pos] - np.log1p(rows["Sales"]).mean()) < 0.01


def _frame_of(origins: list[pd.Timestamp], end: pd.Timestamp, horizon: int = 42) -> pd.DataFrame:
    """Origin-frame rows (origin, Date, horizon_days) of one store open every day up to `end`."""
    parts = []
    for origin in origins:
        dates = pd.date_range(origin, min(end, origin + pd.Timedelta(days=horizon - 1)))
        parts.append(pd.DataFrame({"origin": origin, "Date": dates,
                                   "horizon_days": np.arange(1, len(dates) + 1)}))
    return pd.concat(parts, ignore_index=True)


def test_folds_are_the_complete_origins_ending_at_the_end_of_the_data() -> None:
    from rossmann_kedro.pipelines.backtest.nodes import fold_origins

    dates = pd.Series(pd.date_range("2014-01-01", "2015-06-19"))
    origins = forecast_origins(dates, 42, 14, 56)
    end = dates.max()
    # the frame ends with two origins whose horizons the data cuts short: never a fold
    assert [(end - o).days + 1 for o in origins[-3:]] == [42, 28, 14]
    folds = fold_origins(_frame_of(origins, end), 4)
    assert folds[-1] == origins[-3] and folds[-1] + pd.Timedelta(days=41) == end
    assert [(b - a).days for a, b in zip(folds[:-1], folds[1:], strict=True)] == [42, 42, 42]
    # the last day closed everywhere (no rows on it): the same folds
    closed_last_day = _frame_of(origins, end)
    closed_last_day = closed_last_day.loc[closed_last_day["Date"] < end]
    assert fold_origins(closed_last_day, 4) == folds
