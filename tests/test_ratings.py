"""Tests for dlf.data.ratings: the synthetic ratings generator, its planted truth and the split."""

import numpy as np
import pandas as pd
import pytest

import dlf.data
from dlf.data.ratings import (
    GENRES,
    RatingsData,
    make_ratings,
    noise_floor_rmse,
    train_valid_split,
)


@pytest.fixture(scope="module")
def data() -> RatingsData:
    return make_ratings(seed=0)


def test_same_seed_gives_identical_data(data):
    again = make_ratings(seed=0)
    pd.testing.assert_frame_equal(data.ratings, again.ratings)
    pd.testing.assert_frame_equal(data.movies, again.movies)
    np.testing.assert_array_equal(data.truth.user_factors, again.truth.user_factors)
    np.testing.assert_array_equal(data.truth.movie_bias, again.truth.movie_bias)


def test_different_seed_gives_different_data(data):
    other = make_ratings(seed=1)
    assert not data.ratings.equals(other.ratings)
    assert not data.movies["title"].equals(other.movies["title"])
    assert not np.allclose(data.truth.user_bias, other.truth.user_bias)


def test_default_shapes_columns_and_ids(data):
    ratings, movies, truth = data.ratings, data.movies, data.truth
    assert len(ratings) == 100_000
    assert list(ratings.columns) == ["user", "movie", "rating", "timestamp"]
    assert list(movies.columns) == ["movie", "title", "genre"]
    n_users, n_movies, k = 900, 1600, 6
    assert ratings["user"].between(0, n_users - 1).all()
    assert ratings["movie"].between(0, n_movies - 1).all()
    assert ratings["user"].nunique() == n_users  # every user rated something
    assert movies["movie"].tolist() == list(range(n_movies))
    assert truth.user_factors.shape == (n_users, k)
    assert truth.movie_factors.shape == (n_movies, k)
    assert truth.user_bias.shape == (n_users,) and truth.movie_bias.shape == (n_movies,)
    assert truth.genres == GENRES[:k]
    assert set(movies["genre"]) == set(truth.genres)
    assert (truth.movie_factors >= 0).all()


def test_ratings_are_half_stars_between_half_and_five(data):
    rating = data.ratings["rating"].to_numpy()
    assert rating.min() >= 0.5 and rating.max() <= 5.0
    np.testing.assert_array_equal(rating * 2, np.round(rating * 2))
    assert len(np.unique(rating)) == 10  # all ten half-star values occur
    assert 3.0 < rating.mean() < 4.2 and 0.7 < rating.std() < 1.3


def test_no_user_rates_a_movie_twice(data):
    assert not data.ratings.duplicated(["user", "movie"]).any()


def test_popularity_and_activity_are_skewed(data):
    per_movie = data.ratings.groupby("movie").size()
    per_user = data.ratings.groupby("user").size()
    assert per_movie.max() > 8 * per_movie.median()
    assert per_user.max() > 4 * per_user.median()
    assert per_user.min() >= 10


def test_titles_are_unique_and_end_with_a_year(data):
    titles = data.movies["title"]
    assert titles.is_unique
    assert titles.str.fullmatch(r"The .+ \((19|20)\d\d\)").all()


def test_main_genre_is_the_largest_loading(data):
    main = np.array([GENRES.index(g) for g in data.movies["genre"]])
    np.testing.assert_array_equal(data.truth.movie_factors.argmax(axis=1), main)


def test_true_factors_explain_most_of_the_variance(data):
    r, truth = data.ratings, data.truth
    users, movies = r["user"].to_numpy(), r["movie"].to_numpy()
    # Least squares on the planted terms: bias columns and the true dot product.
    features = np.column_stack(
        [
            np.ones(len(r)),
            truth.user_bias[users],
            truth.movie_bias[movies],
            np.einsum("nk,nk->n", truth.user_factors[users], truth.movie_factors[movies]),
        ]
    )
    y = r["rating"].to_numpy(dtype=np.float64)
    coef, *_ = np.linalg.lstsq(features, y, rcond=None)
    r2 = 1 - np.var(y - features @ coef) / np.var(y)
    assert r2 > 0.6
    assert np.all(coef[1:] > 0.7)  # every planted term pushes the rating the right way


def test_fans_of_a_genre_rate_its_movies_higher(data):
    r = data.ratings.merge(data.movies[["movie", "genre"]], on="movie")
    for k, genre in enumerate(data.truth.genres):
        in_genre = r[r["genre"] == genre]
        taste = data.truth.user_factors[in_genre["user"].to_numpy(), k]
        fans, haters = in_genre[taste > 0.5], in_genre[taste < -0.5]
        assert fans["rating"].mean() > haters["rating"].mean() + 0.7, genre


def test_true_movie_bias_tracks_mean_rating(data):
    stats = data.ratings.groupby("movie")["rating"].agg(["mean", "size"])
    stats = stats[stats["size"] >= 20]
    corr = np.corrcoef(stats["mean"], data.truth.movie_bias[stats.index])[0, 1]
    assert corr > 0.7


def test_noise_floor_matches_the_noise_level(data):
    floor = noise_floor_rmse(data.truth, data.ratings)
    # Noise plus rounding to half stars (variance 1/48), a little less where clipping helps.
    assert 0.45 < floor < np.sqrt(0.5**2 + 1 / 48) + 0.01
    quiet = make_ratings(n_users=200, n_movies=300, n_ratings=10_000, noise=0.0)
    assert noise_floor_rmse(quiet.truth, quiet.ratings) < 0.2
    assert floor < data.ratings["rating"].std() / 1.5


def test_small_configurations_and_factor_count():
    small = make_ratings(n_users=50, n_movies=80, n_ratings=1000, n_factors=3, seed=4)
    assert len(small.ratings) == 1000
    assert small.truth.genres == GENRES[:3]
    assert not small.ratings.duplicated(["user", "movie"]).any()
    assert small.movies["title"].is_unique


@pytest.mark.parametrize(
    "kwargs",
    [{"n_factors": 0}, {"n_factors": 11}, {"n_ratings": 10}, {"n_ratings": 10**7}, {"noise": -1}],
)
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        make_ratings(**kwargs)


def test_train_valid_split_is_a_deterministic_partition(data):
    train, valid = train_valid_split(data.ratings, valid_frac=0.2, seed=0)
    again_train, _ = train_valid_split(data.ratings, valid_frac=0.2, seed=0)
    other_train, _ = train_valid_split(data.ratings, valid_frac=0.2, seed=1)
    pd.testing.assert_frame_equal(train, again_train)
    assert not train.equals(other_train)
    assert len(train) + len(valid) == len(data.ratings)
    assert 0.18 < len(valid) / len(data.ratings) < 0.22
    assert train.index.tolist() == list(range(len(train)))
    combined = pd.concat([train, valid]).sort_values(["user", "movie"], ignore_index=True)
    expected = data.ratings.sort_values(["user", "movie"], ignore_index=True)
    pd.testing.assert_frame_equal(combined, expected)
    with pytest.raises(ValueError):
        train_valid_split(data.ratings, valid_frac=1.5)


def test_package_exports_resolve_lazily():
    assert dlf.data.make_ratings is make_ratings
    for name in dlf.data.__all__:
        assert getattr(dlf.data, name) is not None, name
    with pytest.raises(AttributeError):
        dlf.data.no_such_function  # noqa: B018
