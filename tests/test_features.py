"""The feature module on small synthetic data: leakage, batch/row parity, calendars, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from rossmann_kedro.features import (
    FEATURE_NAMES,
    FeatureContext,
    FeatureTransformer,
    build_features,
    feature_matrix,
)
from rossmann_kedro.features import calendar as cal
from rossmann_kedro.pipelines.data_processing import nodes as dp
from rossmann_kedro.synthetic import generate_with_truth
from rossmann_kedro.workspace import PROJECT_ROOT


def _context_settings() -> dict:
    """feature_engineering.context from the project's YAML (the one owner of these values)."""
    from rossmann_kedro.config import load_parameters

    return load_parameters(PROJECT_ROOT)["feature_engineering"]["context"]


CONTEXT = _context_settings()

PARAMS = {"data_processing": {"store_fill": {"competition_distance_fill": 100000},
                              "outliers": {"threshold": 5.0, "action": "flag"}}}


def clean_tables(n_stores: int = 12, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Synthetic raw tables through the data_processing nodes (the data contract)."""
    raw, truth = generate_with_truth(n_stores=n_stores, seed=seed)
    train = dp.validate_train(raw["train"])
    store = dp.fill_store_missing(dp.validate_store(raw["store"]),
                                  PARAMS["data_processing"]["store_fill"])
    test = dp.fill_test_open(dp.validate_test(raw["test"]), train)
    sales, _ = dp.flag_sales_outliers(train, PARAMS["data_processing"]["outliers"])
    return {"sales": sales, "stores": store, "test": test, "truth": truth}


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return clean_tables()


@pytest.fixture(scope="module")
def cutoff(tables) -> pd.Timestamp:
    return tables["sales"]["Date"].max() - pd.Timedelta(weeks=6)


@pytest.fixture(scope="module")
def context(tables, cutoff) -> FeatureContext:
    return FeatureContext.fit(tables["sales"], tables["stores"], calendar_rows=tables["test"],
                              train_end=cutoff, params=CONTEXT)


def _request_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[["Store", "DayOfWeek", "Date", "Open", "Promo", "StateHoliday", "SchoolHoliday"]]


def test_matrix_shape_types_and_no_nans(tables, context) -> None:
    X = build_features(tables["sales"], context)
    assert list(X.columns) == list(FEATURE_NAMES)
    assert X.index.equals(tables["sales"].index)
    assert (X.dtypes == np.float32).all()
    assert np.isfinite(X.to_numpy()).all()
    Xt = build_features(tables["test"], context)
    assert np.isfinite(Xt.to_numpy()).all()


def test_batch_and_row_by_row_features_are_identical(tables, context) -> None:
    """Parity: a row's features do not depend on the other rows of its batch."""
    rng = np.random.default_rng(0)
    sales, test = tables["sales"], tables["test"]
    picked = pd.concat([
        _request_rows(sales.iloc[rng.choice(len(sales), 40, replace=False)]),
        _request_rows(test.iloc[rng.choice(len(test), 40, replace=False)]),
        # a date no file covers (between train and test, and a year after test)
        _request_rows(test.iloc[:3]).assign(Date=pd.Timestamp("2015-07-10")),
        _request_rows(test.iloc[:3]).assign(Date=pd.Timestamp("2016-12-23")),
    ], ignore_index=True)
    batch = build_features(picked, context)
    single = pd.concat([build_features(picked.iloc[[i]], context) for i in range(len(picked))])
    pd.testing.assert_frame_equal(batch, single)
    shuffled = build_features(picked.sample(frac=1.0, random_state=1), context)
    pd.testing.assert_frame_equal(batch, shuffled.loc[batch.index])


def test_feature_matrix_and_its_per_context_tables(tables, context, cutoff) -> None:
    """`feature_matrix` (the serving path) is `build_features` without the DataFrame; its lookup
    tables of date-only features equal the calendar functions, and belong to one context."""
    rows = _request_rows(tables["test"])
    X = build_features(rows, context)
    np.testing.assert_array_equal(feature_matrix(rows, context).T, X.to_numpy())
    days = cal.to_day_numbers(rows["Date"])
    assert X["Year"].tolist() == cal.year_of(days).tolist()
    assert X["WeekOfYear"].tolist() == cal.iso_week_of(days).tolist()
    until, since = cal.distance_to_yearly(days, cal.easter_day, 60)
    assert X["days_until_easter"].tolist() == until.tolist()
    assert X["days_since_easter"].tolist() == since.tolist()
    short = FeatureContext.fit(tables["sales"], tables["stores"], calendar_rows=tables["test"],
                               train_end=cutoff, params={**CONTEXT, "yearly_cap_days": 5})
    capped = build_features(rows, short)["days_until_easter"]
    assert capped.tolist() == np.minimum(until, 5).tolist() and capped.max() == 5
    assert build_features(rows, context)["days_until_easter"].max() > 5  # not the other's table


def test_features_of_day_d_ignore_everything_after_d(tables, cutoff) -> None:
    """No future leakage: altering Sales/Customers after the training window, and every field of
    the batch rows after day D, leaves the features of day D unchanged."""
    sales = tables["sales"]
    d = cutoff + pd.Timedelta(days=10)
    ctx = FeatureContext.fit(sales, tables["stores"], calendar_rows=tables["test"], train_end=cutoff,
                             params=CONTEXT)
    altered = sales.copy()
    after = altered["Date"] > cutoff
    rng = np.random.default_rng(3)
    altered.loc[after, "Sales"] = rng.integers(1, 50_000, after.sum())
    altered.loc[after, "Customers"] = rng.integers(1, 5_000, after.sum())
    ctx_altered = FeatureContext.fit(altered, tables["stores"], calendar_rows=tables["test"],
                                     train_end=cutoff, params=CONTEXT)
    batch = _request_rows(sales.loc[sales["Date"] >= d])
    day_d = batch["Date"] == d
    changed_batch = batch.copy()
    later = ~day_d
    changed_batch.loc[later, "Promo"] = 1 - changed_batch.loc[later, "Promo"]
    changed_batch.loc[later, "SchoolHoliday"] = 1 - changed_batch.loc[later, "SchoolHoliday"]
    changed_batch.loc[later, "StateHoliday"] = "a"
    reference = build_features(batch, ctx).loc[day_d]
    pd.testing.assert_frame_equal(reference, build_features(batch, ctx_altered).loc[day_d])
    pd.testing.assert_frame_equal(reference, build_features(changed_batch, ctx).loc[day_d])
    # and the sales statistics are those of the window only: truncating the history at the
    # cutoff gives the same statistics
    ctx_truncated = FeatureContext.fit(sales.loc[~after], tables["stores"],
                                       calendar_rows=tables["test"], train_end=cutoff,
                                       params=CONTEXT)
    for key in ("store_mean_log_sales", "store_mean_sales", "store_recent_log_delta"):
        np.testing.assert_allclose(ctx.store[key], ctx_truncated.store[key])
    np.testing.assert_allclose(ctx.cell["cell_mean_sales"], ctx_truncated.cell["cell_mean_sales"])
    assert ctx.train_end == str(cutoff.date())


def test_store_statistics_use_the_training_window_only(tables, cutoff, context) -> None:
    s = tables["sales"]
    w = s.loc[(s["Date"] <= cutoff) & (s["Open"] == 1) & (s["Sales"] > 0) & ~s["SalesOutlier"]]
    expected = w.groupby("Store")["Sales"].mean().reindex(context.store_ids).to_numpy()
    np.testing.assert_allclose(context.store["store_mean_sales"], expected)


def test_holiday_regions_recover_the_states(tables, context) -> None:
    """Stores of one region share one (hidden) state in the generator."""
    truth = tables["truth"].set_index("Store")["State"]
    region = pd.Series(context.store["region"], index=context.store_ids)
    per_region = truth.reindex(region.index).groupby(region.to_numpy()).nunique()
    assert (per_region == 1).all()


def test_calendar_distances_and_rules(context) -> None:
    rows = pd.DataFrame({
        "Store": int(context.store_ids[0]),
        "Date": pd.to_datetime(["2015-04-05", "2015-04-03", "2015-12-24", "2016-12-24",
                                "2017-04-16"]),
        "Promo": 0, "StateHoliday": "0", "SchoolHoliday": 0,
    })
    X = build_features(rows, context)
    assert X["days_until_easter"].tolist()[:2] == [0, 2]
    assert X["days_since_easter"].iloc[0] == 0
    assert X["days_until_christmas"].iloc[2] == 1
    assert X["days_until_easter"].iloc[4] == 0          # Easter 2017 by rule
    # 2016-12-25 is beyond every file: the region's learnt Christmas holiday still applies
    assert X["days_until_state_holiday"].iloc[3] == 1
    assert X["DayOfWeek"].tolist() == [7, 5, 4, 6, 7]
    assert X["WeekOfYear"].tolist() == [14, 14, 52, 51, 15]
    assert X["days_to_month_end"].tolist() == [25, 27, 7, 7, 14]


def test_holiday_distances_agree_with_the_rows_own_flags(tables, context) -> None:
    """Beyond the files the grid's school holidays are last year's, while a request row carries
    the day's true flags: the distances follow the row where the two disagree, and equal the
    grid's wherever they agree (every row of the files)."""
    rc = context.region_cal
    store = int(context.store_ids[0])
    region = int(context.store["region"][0])
    files_end = max(tables["sales"]["Date"].max(), tables["test"]["Date"].max())
    days = np.arange(cal.to_day_numbers(pd.Series([files_end]))[0] + 1, context.grid_end)
    school = rc["school"][region, days - context.grid_start]
    on_grid_holiday = int(days[np.flatnonzero(school)[0]])
    off_far = [int(d) for d in days[school == 0]
               if rc["school_until"][region, d - context.grid_start] > 3
               and rc["state_until"][region, d - context.grid_start] > 3][0]
    rows = pd.DataFrame({
        "Store": store,
        "Date": pd.to_datetime(np.array([off_far, off_far, on_grid_holiday, off_far],
                                        dtype="datetime64[D]")),
        "Promo": 0, "StateHoliday": ["0", "0", "0", "a"], "SchoolHoliday": [1, 0, 0, 0],
    })
    X = build_features(rows, context)
    gi = {d: d - context.grid_start for d in (off_far, on_grid_holiday)}
    # row 0: the row says school holiday on a day the grid has none
    assert X.loc[0, ["days_until_school_holiday", "days_since_school_holiday"]].tolist() == [0, 0]
    # ... while the grid's own distances (what origin-frame models learnt from) stay the grid's
    assert X.loc[0, "grid_days_until_school_holiday"] == rc["school_until"][region, gi[off_far]]
    assert X.loc[0, "grid_days_since_school_holiday"] == rc["school_since"][region, gi[off_far]]
    # row 1: the row agrees with the grid, which says > 3 days to the next
    assert X.loc[1, "days_until_school_holiday"] == rc["school_until"][region, gi[off_far]] > 3
    assert X.loc[1, "days_since_school_holiday"] == rc["school_since"][region, gi[off_far]]
    # row 2: no school holiday in the row on a grid holiday: at least a day from one
    assert min(X.loc[2, ["days_until_school_holiday", "days_since_school_holiday"]]) >= 1
    # row 3: a state holiday the rules did not foresee
    assert X.loc[3, ["days_until_state_holiday", "days_since_state_holiday"]].tolist() == [0, 0]
    assert X.loc[1, "days_until_state_holiday"] == rc["state_until"][region, gi[off_far]] > 3
    # the files' own rows agree with the grid: their distances are the grid's
    sales = tables["sales"]
    pos = np.searchsorted(context.store_ids, sales["Store"].to_numpy())
    g = cal.to_day_numbers(sales["Date"]) - context.grid_start
    r = context.store["region"][pos]
    Xs = build_features(sales, context)
    for name, table in [("days_until_school_holiday", "school_until"),
                        ("days_since_school_holiday", "school_since"),
                        ("days_until_state_holiday", "state_until"),
                        ("days_since_state_holiday", "state_since")]:
        np.testing.assert_array_equal(Xs[name].to_numpy(), rc[table][r, g])


def test_carnival_offset_follows_easter() -> None:
    # Rosenmontag: 2013-02-11, 2014-03-03, 2015-02-16 (Easter - 48); Weiberfastnacht 4 days before
    days = cal.to_day_numbers(pd.Series(pd.to_datetime([
        "2013-02-11", "2014-03-03", "2015-02-12", "2015-02-16", "2015-02-17", "2015-02-18",
        "2015-07-01", "2015-01-02"])))
    assert cal.carnival_offset(days).tolist() == [0, 0, -4, 0, 1, 2, 7, -7]


def test_store_carnival_effect_is_learnt_from_past_carnivals_only(tables) -> None:
    """A planted effect: store A sells 30 % of its usual on every Rosenmontag (and 60 % on
    Weiberfastnacht), the others as usual. The context learns each store's gap from the
    Carnivals before its origin only, and the feature is 0 on every other day."""
    sales = tables["sales"].copy()
    a, other = int(tables["stores"]["Store"].iloc[0]), int(tables["stores"]["Store"].iloc[1])
    days = pd.to_datetime(sales["Date"])
    mondays = pd.to_datetime(["2013-02-11", "2014-03-03", "2015-02-16"])
    for factor, shift in ((0.3, 0), (0.6, -4)):
        hit = (sales["Store"] == a) & days.isin(mondays + pd.Timedelta(days=shift))
        sales.loc[hit, "Sales"] = (sales.loc[hit, "Sales"] * factor).round().astype(np.int64)
    sales = sales.loc[(sales["Store"] != a) | ~days.isin(mondays[2:])]  # 2015's Monday: unseen
    rows = pd.DataFrame({
        "Store": [a, a, a, other, a],
        "Date": pd.to_datetime(["2015-02-16", "2015-02-12", "2015-02-17", "2015-02-16",
                                "2015-03-16"]),
        "Promo": 0, "StateHoliday": "0", "SchoolHoliday": 0,
    })
    ctx = FeatureContext.fit(sales, tables["stores"], calendar_rows=tables["test"],
                             train_end="2015-01-31", params=CONTEXT)
    effect = build_features(rows, ctx)["store_carnival_effect"].to_numpy()
    assert abs(effect[0] - np.log(0.3)) < 0.15      # Rosenmontag: learnt from 2013 and 2014
    assert abs(effect[1] - np.log(0.6)) < 0.15      # Weiberfastnacht
    assert abs(effect[2]) < 0.15 and abs(effect[3]) < 0.15   # no planted gap
    assert effect[4] == 0.0                          # not a Carnival day
    # an origin before the first Carnival of the history: nothing to learn from yet
    early = FeatureContext.fit(sales, tables["stores"], calendar_rows=tables["test"],
                               train_end="2013-02-01", params=CONTEXT)
    assert build_features(rows, early)["store_carnival_effect"].tolist() == [0.0] * 5


def _open_on_holidays(sales: pd.DataFrame, factors: dict[int, float]) -> pd.DataFrame:
    """`sales` with the stores in `factors` open on every state holiday of their region,
    selling `factor` times what they sold (with that day's promo) two weeks before."""
    sales = sales.copy()
    before = sales.assign(Date=sales["Date"] + pd.Timedelta(days=14)).set_index(
        ["Store", "Date"])[["Sales", "Promo"]]
    for store, factor in factors.items():
        hit = (sales["Store"] == store) & (sales["StateHoliday"].astype(str) != "0")
        usual = before.reindex(pd.MultiIndex.from_frame(sales.loc[hit, ["Store", "Date"]]))
        hit[hit] = usual["Sales"].notna().to_numpy()     # the first days have no usual day
        usual = usual.dropna()
        sales.loc[hit, "Open"] = 1
        sales.loc[hit, "Sales"] = np.round(usual["Sales"].to_numpy() * factor).astype(np.int64)
        sales.loc[hit, "Promo"] = usual["Promo"].to_numpy()
    return sales


def test_store_holiday_effect_is_learnt_from_past_open_holidays_only(tables) -> None:
    """Planted: store A opens on state holidays and sells 30 % of a usual day, store B opens
    and sells as usual. The context learns each store's gap from holidays before the origin
    only; the feature is 0 on other days and for stores never open on a holiday."""
    st = tables["stores"]["Store"].to_numpy()
    sales = tables["sales"]
    never_open = [s for s in st if not ((sales["Store"] == s) & (sales["StateHoliday"] != "0")
                                        & (sales["Open"] == 1)).any()]
    a, b, c = int(st[0]), int(st[1]), int(never_open[-1])
    assert c not in (a, b)
    planted = _open_on_holidays(sales, {a: 0.3, b: 1.0})
    origin = pd.Timestamp("2015-01-31")
    # a later holiday with a wild value must not change what the origin knows
    later = (planted["Store"] == a) & (planted["StateHoliday"] != "0") & (planted["Date"] > origin)
    assert later.any()
    wild = planted.assign(Sales=np.where(later, planted["Sales"] * 5, planted["Sales"]))
    rows = pd.DataFrame({"Store": [a, b, a, c], "Promo": 0, "SchoolHoliday": 0,
                         "Date": pd.to_datetime(["2015-05-01", "2015-05-01", "2015-05-04",
                                                 "2015-05-01"]),
                         "StateHoliday": ["a", "a", "0", "a"]})
    effects = []
    for data in (planted, wild):
        ctx = FeatureContext.fit(data, tables["stores"], calendar_rows=tables["test"],
                                 train_end=origin, params=CONTEXT)
        effects.append(build_features(rows, ctx)["store_holiday_effect"].to_numpy())
    effect = effects[0]
    assert abs(effect[0] - np.log(0.3)) < 0.15      # learnt from the holidays before the origin
    assert abs(effect[1]) < 0.15                      # open as usual
    assert effect[2] == 0.0 and effect[3] == 0.0      # not a holiday / never open on one
    np.testing.assert_array_equal(effects[1], effect)
    # an origin before the first holiday of the history: nothing to learn from yet
    early = FeatureContext.fit(planted, tables["stores"], calendar_rows=tables["test"],
                               train_end="2013-01-02", params=CONTEXT)
    assert build_features(rows, early)["store_holiday_effect"].tolist() == [0.0] * 4


def test_iso_week_matches_pandas() -> None:
    days = pd.date_range("2012-12-20", "2017-01-10", freq="D")
    ours = cal.iso_week_of(cal.to_day_numbers(pd.Series(days)))
    np.testing.assert_array_equal(ours, days.isocalendar().week.to_numpy())


def test_promo_calendar_follows_the_files_and_alternates_beyond(tables, context) -> None:
    sales = tables["sales"]
    weekday_rows = sales.loc[sales["DayOfWeek"] <= 5].drop_duplicates("Date")
    gi = cal.to_day_numbers(weekday_rows["Date"]) - context.grid_start
    np.testing.assert_array_equal(context.promo_cal["promo"][gi], weekday_rows["Promo"].to_numpy())
    promo = context.promo_cal["promo"]
    assert set(np.unique(promo)) <= {0, 1}


def _plan_rows(stores: np.ndarray, first_monday: pd.Timestamp, weeks: list[int]) -> pd.DataFrame:
    """Rows of a promo plan (test.csv's format): every store, every day of the given weeks, the
    chain's Promo on weekdays of promo weeks."""
    days = pd.date_range(first_monday, periods=7 * len(weeks), freq="D")
    store, date = np.meshgrid(stores, days, indexing="ij")
    date = pd.DatetimeIndex(date.ravel())
    weekday = date.day_of_week.to_numpy() + 1
    week = (date - first_monday).days.to_numpy() // 7
    promo = np.asarray(weeks)[week] * (weekday <= 5)
    return pd.DataFrame({"Store": store.ravel(), "DayOfWeek": weekday, "Date": date,
                         "Open": (weekday <= 6).astype(np.int64), "Promo": promo.astype(np.int64),
                         "StateHoliday": "0", "SchoolHoliday": 0})


def _promo_weeks(context: FeatureContext, monday: int, n_weeks: int = 4) -> list[int]:
    """The grid's promo flag on `n_weeks` Mondays from day number `monday`."""
    return [int(context.promo_cal["promo"][monday - context.grid_start + 7 * k])
            for k in range(n_weeks)]


def test_a_promo_plan_in_the_calendar_rows_is_followed_where_it_breaks_the_alternation(
        tables) -> None:
    """Beyond the files the grid guesses promo weeks by continuing the alternation; a plan given
    as future rows (test.csv) replaces the guess, also where it breaks the alternation (two
    weeks alike, as the chain does over Christmas), and the guess resumes from the plan's last
    week. The promo features of the plan's rows follow the plan (README, feature_engineering)."""
    sales, stores = tables["sales"], tables["stores"]
    last_day = sales["Date"].max()
    first_monday = last_day + pd.Timedelta(days=7 - last_day.day_of_week)
    monday = int(cal.to_day_numbers(pd.Series([first_monday]))[0])
    guessed = _promo_weeks(FeatureContext.fit(sales, stores, params=CONTEXT), monday)
    assert guessed[1] == 1 - guessed[0] and guessed[3] == guessed[1]  # the alternation

    plan = [guessed[0], guessed[0], 1 - guessed[0]]          # week 2 repeats week 1
    rows = _plan_rows(stores["Store"].to_numpy()[:3], first_monday, plan)
    planned = FeatureContext.fit(sales, stores, calendar_rows=rows, params=CONTEXT)
    on_grid = _promo_weeks(planned, monday)
    assert on_grid[:3] == plan
    assert on_grid[3] == 1 - plan[2]          # the guess resumes from the plan's last week ...
    assert on_grid[2:] != guessed[2:]         # ... so it differs from the guess without a plan

    X = build_features(_request_rows(rows), planned)
    week = (rows["Date"] - first_monday).dt.days.to_numpy() // 7
    np.testing.assert_array_equal(X["promo_prev_week"].to_numpy()[week == 1], plan[0])
    np.testing.assert_array_equal(X["promo_next_week"].to_numpy()[week == 1], plan[2])
    np.testing.assert_array_equal(X["promo_prev_week"].to_numpy()[week == 2], plan[1])
    weekday = rows["DayOfWeek"].to_numpy() <= 5
    # a weekday of a planned promo week is 0 days from a promo, one of a plain week is not
    in_promo_week = np.asarray(plan)[week] == 1
    assert (X["days_until_promo"].to_numpy()[weekday & in_promo_week] == 0).all()
    assert (X["days_until_promo"].to_numpy()[weekday & ~in_promo_week] > 0).all()


def test_bad_rows_raise_value_errors_naming_row_and_column(tables, context) -> None:
    good = _request_rows(tables["test"].iloc[:3]).reset_index(drop=True)
    with pytest.raises(ValueError, match=r"row 1: Store 99999"):
        build_features(good.assign(Store=[good.Store[0], 99999, good.Store[0]]), context)
    with pytest.raises(ValueError, match=r"row 0: Date 2030"):
        build_features(good.assign(Date=pd.Timestamp("2030-01-01")), context)
    with pytest.raises(ValueError, match=r"StateHoliday 'x'"):
        build_features(good.assign(StateHoliday="x"), context)
    with pytest.raises(ValueError, match=r"'Promo'"):
        build_features(good.assign(Promo=2), context)
    with pytest.raises(ValueError, match=r"lack columns"):
        build_features(good.drop(columns="Promo"), context)


def test_transformer_in_an_sklearn_pipeline(tables, context) -> None:
    rows = _request_rows(tables["test"].iloc[:20])
    pipe = Pipeline([("features", FeatureTransformer(context)), ("scale", StandardScaler())])
    out = pipe.fit_transform(rows)
    assert out.shape == (20, len(FEATURE_NAMES))
    assert list(pipe[0].get_feature_names_out()) == list(FEATURE_NAMES)
    with pytest.raises(ValueError):
        FeatureTransformer().fit(rows)
