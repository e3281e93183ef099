"""Tests for dlf.data.movielens: loading ml-100k and ml-latest-small, and clear format errors."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from dlf.data.movielens import (
    DataFormatError,
    MissingDataError,
    MovieLensData,
    load_ml100k,
    load_movielens,
)
from dlf.data.ratings import RatingsData

FIXTURES = Path(__file__).parent / "fixtures" / "movielens"
ML100K = FIXTURES / "ml-100k"
LATEST = FIXTURES / "ml-latest-small"


@pytest.fixture
def ml100k_copy(tmp_path) -> Path:
    return Path(shutil.copytree(ML100K, tmp_path / "ml-100k"))


@pytest.fixture
def latest_copy(tmp_path) -> Path:
    return Path(shutil.copytree(LATEST, tmp_path / "ml-latest-small"))


def _replace_line(path: Path, number: int, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = new
    path.write_bytes(b"\n".join(lines))


def _check_ratings_frame(data: RatingsData, n_users: int, n_movies: int, n_ratings: int):
    r = data.ratings
    assert list(r.columns) == ["user", "movie", "rating", "timestamp"]
    assert len(r) == n_ratings
    assert sorted(r["user"].unique()) == list(range(n_users))
    assert r["movie"].between(0, n_movies - 1).all()
    assert r["rating"].between(0.5, 5.0).all()
    assert data.movies["movie"].tolist() == list(range(n_movies))
    assert data.truth is None


def test_load_ml100k_detects_the_format_and_reindexes():
    data = load_movielens(ML100K)
    assert isinstance(data, MovieLensData) and isinstance(data, RatingsData)
    assert data.source == "ml-100k"
    _check_ratings_frame(data, n_users=4, n_movies=6, n_ratings=12)
    np.testing.assert_array_equal(data.user_ids, [22, 186, 196, 244])
    np.testing.assert_array_equal(data.movie_ids, [1, 2, 3, 5, 7, 9])
    # Original rating "196 7 3": user 196 -> 2, movie 7 -> 4.
    row = data.ratings[(data.ratings["user"] == 2) & (data.ratings["movie"] == 4)]
    assert row["rating"].tolist() == [3.0] and row["timestamp"].tolist() == [881250949]
    assert data.ratings["user"].is_monotonic_increasing


def test_ml100k_titles_are_latin1_and_genres_come_from_the_flags():
    movies = load_movielens(ML100K).movies.set_index("movie_id")
    assert movies.loc[5, "title"] == "Misérables, Les (1995)"
    assert movies.loc[1, "genre"] == "Animation"
    assert movies.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert movies.loc[7, "genre"] == "Drama"
    assert movies.loc[9, "genre"] == "unknown"


def test_load_ml_latest_small_with_quoted_titles():
    data = load_movielens(LATEST / "ratings.csv")  # a file in the folder works too
    assert data.source == "ml-latest"
    _check_ratings_frame(data, n_users=3, n_movies=8, n_ratings=11)
    movies = data.movies.set_index("movie_id")
    assert movies.loc[11, "title"] == "American President, The (1995)"
    assert movies.loc[32, "genre"] == "Mystery"
    assert movies.loc[114335, "genre"] == "unknown" and movies.loc[114335, "genres"] == ""
    np.testing.assert_array_equal(data.user_ids, [1, 5, 12])
    assert set(data.ratings["rating"]) >= {0.5, 3.5, 4.5}


def test_wrong_path_raises_a_clear_error(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataFormatError, match="no such file or folder"):
        load_movielens(missing)
    with pytest.raises(FileNotFoundError):  # MissingDataError is also a FileNotFoundError
        load_movielens(missing)
    with pytest.raises(MissingDataError, match="u.data and u.item"):
        load_movielens(tmp_path)  # exists, but holds no MovieLens files


def test_missing_companion_file_is_named(ml100k_copy, latest_copy):
    (ml100k_copy / "u.item").unlink()
    with pytest.raises(MissingDataError, match=r"u\.item: file not found"):
        load_movielens(ml100k_copy)
    (latest_copy / "movies.csv").unlink()
    with pytest.raises(MissingDataError, match=r"movies\.csv: file not found"):
        load_movielens(latest_copy)


def test_wrong_number_of_columns_names_file_and_line(ml100k_copy):
    _replace_line(ml100k_copy / "u.data", 3, b"22\t1\t1")
    with pytest.raises(DataFormatError) as info:
        load_movielens(ml100k_copy)
    message = str(info.value)
    assert "u.data, line 3" in message
    assert "expected 4 tab-separated fields" in message and "got 3" in message


def test_non_numeric_rating_names_file_and_line(latest_copy):
    _replace_line(latest_copy / "ratings.csv", 4, b"1,50,five,964982931")
    with pytest.raises(DataFormatError, match=r"ratings\.csv, line 4: expected a number for "):
        load_movielens(latest_copy)


def test_rating_out_of_range_is_rejected(ml100k_copy):
    _replace_line(ml100k_copy / "u.data", 2, b"186\t3\t7\t891717742")
    with pytest.raises(DataFormatError, match=r"u\.data, line 2: expected a rating between"):
        load_ml100k(ml100k_copy)


def test_malformed_item_line_is_reported(ml100k_copy):
    _replace_line(ml100k_copy / "u.item", 2, b"2|GoldenEye (1995)|01-Jan-1995")
    with pytest.raises(DataFormatError, match=r"u\.item, line 2: expected 24 pipe-separated"):
        load_movielens(ml100k_copy)
    _replace_line(ml100k_copy / "u.item", 2, b"x|GoldenEye (1995)|||" + b"|0" * 19)
    with pytest.raises(DataFormatError, match=r"u\.item, line 2: expected an integer for"):
        load_movielens(ml100k_copy)


def test_wrong_header_and_bad_encoding_are_reported(latest_copy):
    _replace_line(latest_copy / "movies.csv", 1, b"id,name,genres")
    with pytest.raises(DataFormatError, match=r"movies\.csv, line 1: expected the header"):
        load_movielens(latest_copy)
    _replace_line(latest_copy / "movies.csv", 1, b"movieId,title,genres")
    _replace_line(latest_copy / "movies.csv", 3, b"3,Grumpier Old M\xe9n (1995),Comedy")
    with pytest.raises(DataFormatError, match=r"movies\.csv, line 3: expected utf-8 text"):
        load_movielens(latest_copy)


def test_rated_movie_missing_from_movies_file(latest_copy):
    _replace_line(latest_copy / "ratings.csv", 6, b"5,999,4.0,847434962")
    with pytest.raises(DataFormatError, match=r"ratings\.csv, line 6: movie id 999 is not in"):
        load_movielens(latest_copy)


def test_empty_ratings_file_is_reported(ml100k_copy):
    (ml100k_copy / "u.data").write_bytes(b"")
    with pytest.raises(DataFormatError, match=r"u\.data: expected rating lines"):
        load_movielens(ml100k_copy)


def test_errors_are_value_errors():
    assert issubclass(DataFormatError, ValueError)
    assert issubclass(MissingDataError, DataFormatError)
