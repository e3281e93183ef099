"""Synthetic daily store sales with a planted truth, for tabular models and entity embeddings.

``make_store_sales`` invents a retail chain: stores sit on a small map, grouped into states
that are geographic clusters, and every store-day's sales are a product of known effects
(store level, location, weekday, month, promotion, holiday, nearby competition, trend,
regional shocks and noise). Because the effects are planted, a chapter can check what a
model learned against the truth, e.g. whether state embeddings recover the map.
Everything is generated with a seeded ``numpy.random.Generator``: same arguments, same data.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

# States and the centres of their stores on a 10 x 6 map (x grows east, y grows north).
STATE_CENTRES = {
    "Northmere": (2.0, 5.2),
    "Highmoor": (5.0, 5.0),
    "Frostvale": (8.2, 5.3),
    "Westvale": (1.2, 3.0),
    "Midland": (4.0, 3.2),
    "Eastholm": (6.5, 3.5),
    "Coastwick": (9.0, 2.8),
    "Southreach": (2.5, 0.9),
    "Riverton": (5.3, 1.0),
    "Sunmark": (8.0, 0.8),
}
STATES = list(STATE_CENTRES)
SUNDAY_CLOSED_STATES = ["Westvale", "Midland", "Southreach", "Riverton", "Sunmark"]
STORE_TYPES = ["compact", "standard", "superstore"]
STORE_TYPE_SHARES = [0.3, 0.5, 0.2]
HOLIDAY_KINDS = ["none", "state", "national"]
# National holidays as (month, day): every store is closed.
NATIONAL_HOLIDAYS = [(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)]
STATE_HOLIDAYS_PER_YEAR = 3

# Planted effects on log sales.
WEEKDAY_LOG_EFFECT = np.array([0.12, 0.0, -0.05, -0.03, 0.05, 0.08, -0.25])  # Mon..Sun
MONTH_LOG_EFFECT = np.array(
    [-0.10, -0.12, -0.02, 0.0, 0.02, 0.03, 0.05, 0.04, 0.0, 0.02, 0.08, 0.25]
)  # Jan..Dec
STORE_TYPE_LOG_EFFECT = {"compact": -0.35, "standard": 0.0, "superstore": 0.45}
STORE_TYPE_SATURDAY_LIFT = {"compact": -0.15, "standard": 0.0, "superstore": 0.2}
PROMO_LOG_LIFT = {"compact": 0.35, "standard": 0.22, "superstore": 0.08}
STATE_HOLIDAY_LOG_EFFECT = -0.3  # open, but on short hours
SUMMER_MONTHS = (6, 7, 8)
MEDIAN_SALES = 5000.0
STORE_SD = 0.25  # spread of the store's own level
STORE_SPREAD = 0.45  # spread of a store's position around its state centre (map units)
GROWTH_MEAN, GROWTH_SD = 0.03, 0.04  # per-store log-sales trend per year
SHOCK_SD, SHOCK_PERSISTENCE = 0.05, 0.9  # regional AR(1) shocks, one series per state
NOISE_SD = 0.07  # store-day noise


@dataclass
class SalesData:
    """A generated chain: ``sales`` (one row per store-day), ``stores`` (one row per store)
    and ``truth`` (the planted effects, numpy arrays and dicts, indexed like ``stores``)."""

    sales: pd.DataFrame
    stores: pd.DataFrame
    truth: dict


def location_level(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Log-sales effect of a map position: richer to the east, a little richer to the north."""
    return 0.25 * np.tanh((x - 5.0) / 3.0) + 0.1 * (y - 3.0) / 3.0


def saturday_lift(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Extra log sales on Saturdays from location: strong in the north, none in the south.
    (A store's total Saturday lift adds ``STORE_TYPE_SATURDAY_LIFT`` of its type.)"""
    return np.zeros_like(x) + 0.3 * np.clip(y / 6.0, 0.0, 1.0)


def summer_lift(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Extra log sales in June-August: tourism on the west coast, fading to the east."""
    return np.zeros_like(y) + 0.35 * np.clip((10.0 - x) / 10.0, 0.0, 1.0)


def competition_log_effect(distance: np.ndarray) -> np.ndarray:
    """Log-sales effect of the nearest competitor ``distance`` metres away (up to -25%)."""
    return np.log1p(-0.25 * np.exp(-distance / 1500.0))


def _make_stores(n_stores: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per store: state, position, type and competition distance."""
    state_idx = rng.permutation(np.arange(n_stores) % len(STATES))
    centres = np.array([STATE_CENTRES[s] for s in STATES])[state_idx]
    xy = centres + rng.normal(0.0, STORE_SPREAD, size=(n_stores, 2))
    store_type = rng.choice(len(STORE_TYPES), size=n_stores, p=STORE_TYPE_SHARES)
    distance = np.clip(rng.lognormal(np.log(2500.0), 1.0, size=n_stores), 20.0, 60_000.0)
    return pd.DataFrame(
        {
            "store": np.arange(n_stores),
            "state": pd.Categorical.from_codes(state_idx, categories=STATES),
            "x": xy[:, 0],
            "y": xy[:, 1],
            "store_type": pd.Categorical.from_codes(store_type, categories=STORE_TYPES),
            "competition_distance": distance.round(-1),
        }
    )


def _holiday_kind(
    dates: pd.DatetimeIndex, n_states: int, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """Holiday code per (state, day): 0 none, 1 state holiday, 2 national holiday."""
    kind = np.zeros((n_states, len(dates)), dtype=np.int64)
    state_days = {}
    for s, name in enumerate(STATES):
        # Each state keeps its own holidays (day of year) every year; avoid national ones.
        doys = rng.choice(np.arange(15, 350), size=STATE_HOLIDAYS_PER_YEAR, replace=False)
        state_days[name] = np.sort(doys)
        kind[s, np.isin(dates.day_of_year, doys)] = 1
    national = np.zeros(len(dates), dtype=bool)
    for month, day in NATIONAL_HOLIDAYS:
        national |= (dates.month == month) & (dates.day == day)
    kind[:, national] = 2
    return kind, state_days


def _promo_days(n_stores: int, dates: pd.DatetimeIndex, rng: np.random.Generator) -> np.ndarray:
    """Promotion flag per (store, day): campaigns run Monday-Friday of a random 40% of weeks."""
    week = (dates - dates[0]).days // 7
    campaign = rng.random((n_stores, week.max() + 1)) < 0.4
    return campaign[:, week] & (dates.day_of_week < 5)[None, :]


def _regional_shocks(n_states: int, n_days: int, rng: np.random.Generator) -> np.ndarray:
    """Slowly varying AR(1) log-sales shocks per (state, day), stationary sd ``SHOCK_SD``."""
    innovations = rng.normal(0.0, SHOCK_SD * np.sqrt(1 - SHOCK_PERSISTENCE**2), (n_states, n_days))
    shocks = np.empty((n_states, n_days))
    shocks[:, 0] = rng.normal(0.0, SHOCK_SD, n_states)
    for t in range(1, n_days):
        shocks[:, t] = SHOCK_PERSISTENCE * shocks[:, t - 1] + innovations[:, t]
    return shocks


def make_store_sales(
    n_stores: int = 100, n_days: int = 730, seed: int = 0, start: str = "2023-01-02"
) -> SalesData:
    """Daily sales of ``n_stores`` stores over ``n_days`` days starting at ``start``.

    ``sales`` has one row per store-day, sorted by date then store, with columns date, store,
    state, store_type, day_of_week (0 = Monday), month (1..12), promo (0/1), state_holiday
    ('none', 'state' or 'national'), competition_distance (metres), open (0/1), customers and
    sales (0 on closed days). Stores close on national holidays and, in
    ``SUNDAY_CLOSED_STATES``, on Sundays.
    """
    if n_stores < len(STATES):
        raise ValueError(f"need at least one store per state: n_stores >= {len(STATES)}")
    if n_days < 1:
        raise ValueError("n_days must be positive")
    rng = np.random.default_rng(seed)
    stores = _make_stores(n_stores, rng)
    dates = pd.date_range(start, periods=n_days, freq="D")
    state_idx = stores["state"].cat.codes.to_numpy()
    type_idx = stores["store_type"].cat.codes.to_numpy()
    type_names = np.array(STORE_TYPES)[type_idx]
    x, y = stores["x"].to_numpy(), stores["y"].to_numpy()

    # Per-store effects, shape (n_stores,).
    store_own = rng.normal(0.0, STORE_SD, n_stores)
    growth = rng.normal(GROWTH_MEAN, GROWTH_SD, n_stores)
    loc_level, sum_lift = location_level(x, y), summer_lift(x, y)
    sat_lift = saturday_lift(x, y) + np.array([STORE_TYPE_SATURDAY_LIFT[t] for t in type_names])
    comp = competition_log_effect(stores["competition_distance"].to_numpy())
    type_effect = np.array([STORE_TYPE_LOG_EFFECT[t] for t in type_names])
    promo_lift = np.array([PROMO_LOG_LIFT[t] for t in type_names])
    store_log_base = np.log(MEDIAN_SALES) + store_own + type_effect + loc_level + comp

    # Per-day and per-(store, day) effects, shape (n_stores, n_days).
    weekday, month = dates.day_of_week.to_numpy(), dates.month.to_numpy()
    years = (dates - dates[0]).days.to_numpy() / 365.25
    holiday, state_holiday_days = _holiday_kind(dates, len(STATES), rng)
    holiday = holiday[state_idx]
    promo = _promo_days(n_stores, dates, rng)
    shocks = _regional_shocks(len(STATES), n_days, rng)
    log_sales = (
        store_log_base[:, None]
        + WEEKDAY_LOG_EFFECT[weekday][None, :]
        + sat_lift[:, None] * (weekday == 5)[None, :]
        + MONTH_LOG_EFFECT[month - 1][None, :]
        + sum_lift[:, None] * np.isin(month, SUMMER_MONTHS)[None, :]
        + promo_lift[:, None] * promo
        + STATE_HOLIDAY_LOG_EFFECT * (holiday == 1)
        + growth[:, None] * years[None, :]
        + shocks[state_idx]
        + rng.normal(0.0, NOISE_SD, (n_stores, n_days))
    )
    sunday_closed = np.isin(np.array(STATES)[state_idx], SUNDAY_CLOSED_STATES)
    is_open = (holiday != 2) & ~(sunday_closed[:, None] & (weekday == 6)[None, :])
    sales = np.where(is_open, np.round(np.exp(log_sales)), 0.0)
    basket = np.exp(rng.normal(np.log(9.0), 0.05, (n_stores, n_days)))  # spend per customer
    customers = np.where(is_open, np.round(sales / basket), 0.0)

    # Flatten to one row per store-day, ordered by date then store (day-major).
    def flat(a: np.ndarray) -> np.ndarray:
        return a.T.reshape(-1)

    store_col = np.tile(np.arange(n_stores), n_days)
    frame = pd.DataFrame(
        {
            "date": np.repeat(dates.to_numpy(), n_stores),
            "store": store_col,
            "state": pd.Categorical.from_codes(state_idx[store_col], categories=STATES),
            "store_type": pd.Categorical.from_codes(type_idx[store_col], categories=STORE_TYPES),
            "day_of_week": np.repeat(weekday, n_stores).astype(np.int64),
            "month": np.repeat(month, n_stores).astype(np.int64),
            "promo": flat(promo).astype(np.int64),
            "state_holiday": pd.Categorical.from_codes(flat(holiday), categories=HOLIDAY_KINDS),
            "competition_distance": stores["competition_distance"].to_numpy()[store_col],
            "open": flat(is_open).astype(np.int64),
            "customers": flat(customers).astype(np.int64),
            "sales": flat(sales).astype(np.int64),
        }
    )
    centres = np.array([STATE_CENTRES[s] for s in STATES])
    truth = {
        "states": list(STATES),
        "state_centres": centres,  # (n_states, 2)
        "state_location_level": location_level(centres[:, 0], centres[:, 1]),  # (n_states,)
        "state_saturday_lift": saturday_lift(centres[:, 0], centres[:, 1]),
        "state_summer_lift": summer_lift(centres[:, 0], centres[:, 1]),
        "sunday_closed_states": list(SUNDAY_CLOSED_STATES),
        "state_holiday_days_of_year": state_holiday_days,
        "store_log_base": store_log_base,  # (n_stores,), includes the effects below
        "store_own_effect": store_own,
        "location_level": loc_level,
        "competition_effect": comp,
        "saturday_lift": sat_lift,  # location part + STORE_TYPE_SATURDAY_LIFT of the store's type
        "summer_lift": sum_lift,
        "growth_per_year": growth,
        "weekday_effect": WEEKDAY_LOG_EFFECT.copy(),  # (7,), Monday first
        "month_effect": MONTH_LOG_EFFECT.copy(),  # (12,), January first
        "store_type_effect": dict(STORE_TYPE_LOG_EFFECT),
        "promo_lift": dict(PROMO_LOG_LIFT),
        "state_holiday_effect": STATE_HOLIDAY_LOG_EFFECT,
        "regional_shocks": shocks,  # (n_states, n_days)
        "noise_sd": NOISE_SD,
    }
    return SalesData(sales=frame, stores=stores, truth=truth)


def time_split(sales: pd.DataFrame, valid_days: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by date: the last ``valid_days`` days are validation, everything before is training.

    Returns ``(train, valid)`` with fresh indices; every validation date is after every
    training date, as when forecasting the future from the past.
    """
    if valid_days < 1:
        raise ValueError("valid_days must be positive")
    cutoff = sales["date"].max() - pd.Timedelta(days=valid_days)
    is_valid = sales["date"] > cutoff
    if is_valid.all():
        raise ValueError(f"valid_days={valid_days} leaves no training days")
    return sales[~is_valid].reset_index(drop=True), sales[is_valid].reset_index(drop=True)
