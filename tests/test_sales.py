import numpy as np
import pandas as pd
import pytest

from dlf.data import SalesData, make_store_sales, time_split
from dlf.data.sales import HOLIDAY_KINDS, STATES, STORE_TYPES, SUNDAY_CLOSED_STATES

STORE_COLUMNS = ["store", "state", "x", "y", "store_type", "competition_distance"]
SALES_COLUMNS = [
    "date", "store", "state", "store_type", "day_of_week", "month", "promo", "state_holiday",
    "competition_distance", "open", "customers", "sales",
]  # fmt: skip


@pytest.fixture(scope="module")
def data() -> SalesData:
    return make_store_sales(n_stores=60, n_days=400, seed=3)


@pytest.fixture(scope="module")
def open_days(data) -> pd.DataFrame:
    days = data.sales[data.sales.open == 1].copy()
    days["log_sales"] = np.log(days.sales)
    return days


def test_same_seed_same_data_and_other_seed_differs():
    a, b = make_store_sales(20, 50, seed=1), make_store_sales(20, 50, seed=1)
    pd.testing.assert_frame_equal(a.sales, b.sales)
    pd.testing.assert_frame_equal(a.stores, b.stores)
    np.testing.assert_array_equal(a.truth["store_log_base"], b.truth["store_log_base"])
    c = make_store_sales(20, 50, seed=2)
    assert not np.array_equal(a.sales.sales.to_numpy(), c.sales.sales.to_numpy())


def test_shapes_columns_and_dtypes(data):
    sales, stores = data.sales, data.stores
    assert list(sales.columns) == SALES_COLUMNS
    assert len(sales) == 60 * 400 and len(stores) == 60
    assert list(stores.columns) == STORE_COLUMNS
    assert pd.api.types.is_datetime64_any_dtype(sales.date)
    for col in ["store", "day_of_week", "month", "promo", "open", "customers", "sales"]:
        assert pd.api.types.is_integer_dtype(sales[col]), col
    assert list(sales.state.cat.categories) == STATES
    assert list(sales.store_type.cat.categories) == STORE_TYPES
    assert list(sales.state_holiday.cat.categories) == HOLIDAY_KINDS
    # One row per store-day, sorted by date then store.
    assert not sales.duplicated(["date", "store"]).any()
    assert sales.date.is_monotonic_increasing
    assert sales.date.nunique() == 400


def test_value_ranges(data):
    sales, stores = data.sales, data.stores
    assert sales.day_of_week.between(0, 6).all() and sales.month.between(1, 12).all()
    assert (sales.day_of_week == sales.date.dt.day_of_week).all()
    assert (sales.month == sales.date.dt.month).all()
    assert set(sales.promo.unique()) == {0, 1} and set(sales.open.unique()) == {0, 1}
    assert (sales.sales >= 0).all() and (sales.customers >= 0).all()
    assert (stores.competition_distance > 0).all()
    assert stores.x.between(-2, 12).all() and stores.y.between(-2, 8).all()
    assert set(stores.state) == set(STATES)  # every state has stores


def test_store_attributes_are_copied_to_every_row(data):
    merged = data.sales.merge(data.stores, on="store", suffixes=("", "_store"))
    for col in ["state", "store_type", "competition_distance"]:
        assert (merged[col].astype(str) == merged[f"{col}_store"].astype(str)).all(), col


def test_closed_days_sell_nothing_and_open_days_sell(data):
    sales = data.sales
    closed = sales[sales.open == 0]
    assert len(closed) > 0
    assert (closed.sales == 0).all() and (closed.customers == 0).all()
    assert (sales[sales.open == 1].sales > 0).all()


def test_closures_follow_the_rules(data):
    sales = data.sales
    assert (sales[sales.state_holiday == "national"].open == 0).all()
    sundays = sales[(sales.day_of_week == 6) & (sales.state_holiday != "national")]
    in_closed_state = sundays.state.isin(SUNDAY_CLOSED_STATES)
    assert in_closed_state.any() and (~in_closed_state).any()  # some states close, some don't
    assert (sundays[in_closed_state].open == 0).all()
    assert (sundays[~in_closed_state].open == 1).all()
    weekdays = sales[(sales.day_of_week < 6) & (sales.state_holiday != "national")]
    assert (weekdays.open == 1).all()


def test_holidays_national_everywhere_state_holidays_local(data):
    sales = data.sales
    national_dates = sales[sales.state_holiday == "national"].date.unique()
    assert len(national_dates) > 0
    assert (sales[sales.date.isin(national_dates)].state_holiday == "national").all()
    state_days = sales[sales.state_holiday == "state"]
    assert len(state_days) > 0
    # On a state holiday, only the stores of the celebrating state(s) are on holiday.
    states_per_day = state_days.groupby("date").state.nunique()
    assert (states_per_day < len(STATES)).all()


def test_promo_days_sell_more(open_days):
    means = open_days.groupby("promo").log_sales.mean()
    assert means[1] - means[0] > 0.1


def test_weekday_pattern_matches_the_planted_one(data, open_days):
    no_holiday = open_days[open_days.state_holiday == "none"]
    # Compare within stores open on Sundays so the Sunday mean has the same store mix.
    mix = no_holiday[~no_holiday.state.isin(SUNDAY_CLOSED_STATES)]
    observed = mix.groupby("day_of_week").log_sales.mean().to_numpy()
    planted = data.truth["weekday_effect"]
    assert np.corrcoef(observed, planted)[0, 1] > 0.9
    assert observed.argmin() == 6  # Sunday is the quietest day


def test_december_is_the_busiest_month(data, open_days):
    by_month = open_days.groupby("month").log_sales.mean()
    assert by_month.idxmax() == 12 == int(np.argmax(data.truth["month_effect"])) + 1


def test_closer_competition_means_lower_sales(data, open_days):
    per_store = open_days.groupby("store").log_sales.mean()
    effect = data.truth["competition_effect"][per_store.index]
    assert (effect <= 0).all()
    near = data.stores.competition_distance.to_numpy() < 500
    assert effect[near].mean() < effect[~near].mean() - 0.05


def test_states_are_geographic_clusters(data):
    stores, centres = data.stores, data.truth["state_centres"]
    xy = stores[["x", "y"]].to_numpy()
    distances = np.linalg.norm(xy[:, None, :] - centres[None, :, :], axis=2)  # (stores, states)
    own = stores.state.cat.codes.to_numpy()
    assert (distances.argmin(axis=1) == own).mean() > 0.9
    spread = np.linalg.norm(xy - centres[own], axis=1).mean()
    gaps = np.linalg.norm(centres[:, None] - centres[None, :], axis=2)
    assert spread < gaps[gaps > 0].min() / 2


def test_nearby_states_have_similar_planted_effects(data):
    centres = data.truth["state_centres"]
    effects = np.stack(
        [
            data.truth["state_location_level"],
            data.truth["state_saturday_lift"],
            data.truth["state_summer_lift"],
        ],
        axis=1,
    )
    map_distance = np.linalg.norm(centres[:, None] - centres[None, :], axis=2)
    effect_distance = np.linalg.norm(effects[:, None] - effects[None, :], axis=2)
    upper = np.triu_indices(len(centres), k=1)
    assert np.corrcoef(map_distance[upper], effect_distance[upper])[0, 1] > 0.6
    # Each state's nearest neighbour on the map is closer in effects than the average state.
    np.fill_diagonal(map_distance, np.inf)
    nearest = map_distance.argmin(axis=1)
    neighbour_gap = effect_distance[np.arange(len(centres)), nearest]
    assert neighbour_gap.mean() < effect_distance[upper].mean()


def test_saturday_lift_grows_to_the_north(data, open_days):
    # Saturday minus weekday log sales per state, against the state's latitude.
    days = open_days[(open_days.day_of_week < 6) & (open_days.state_holiday == "none")]
    is_saturday = days.day_of_week == 5
    lift = (
        days[is_saturday].groupby("state", observed=True).log_sales.mean()
        - days[~is_saturday].groupby("state", observed=True).log_sales.mean()
    )
    north = data.truth["state_centres"][[STATES.index(s) for s in lift.index], 1]
    assert np.corrcoef(lift.to_numpy(), north)[0, 1] > 0.7


def test_truth_arrays_have_store_and_state_shapes(data):
    truth = data.truth
    for key in ["store_log_base", "location_level", "saturday_lift", "summer_lift"]:
        assert truth[key].shape == (60,), key
    assert truth["state_centres"].shape == (len(STATES), 2)
    assert truth["regional_shocks"].shape == (len(STATES), 400)
    assert truth["weekday_effect"].shape == (7,) and truth["month_effect"].shape == (12,)


def test_make_store_sales_rejects_bad_sizes():
    with pytest.raises(ValueError):
        make_store_sales(n_stores=len(STATES) - 1)
    with pytest.raises(ValueError):
        make_store_sales(n_stores=20, n_days=0)


def test_time_split_puts_the_last_days_in_validation(data):
    train, valid = time_split(data.sales, valid_days=28)
    assert len(train) + len(valid) == len(data.sales)
    assert valid.date.nunique() == 28
    assert train.date.max() < valid.date.min()
    assert valid.date.max() == data.sales.date.max()
    train_keys = set(zip(train.date, train.store, strict=True))
    assert train_keys.isdisjoint(zip(valid.date, valid.store, strict=True))
    assert list(train.index) == list(range(len(train)))  # fresh indices


def test_time_split_works_on_a_subset_and_rejects_bad_sizes(data):
    open_only = data.sales[data.sales.open == 1]
    train, valid = time_split(open_only, valid_days=7)
    assert (train.open == 1).all() and (valid.open == 1).all()
    assert train.date.max() < valid.date.min()
    with pytest.raises(ValueError):
        time_split(data.sales, valid_days=0)
    with pytest.raises(ValueError):
        time_split(data.sales, valid_days=400)
