"""Loaders for the real MovieLens files, for readers who have downloaded them.

``load_movielens(path)`` reads either release into the same shape as ``make_ratings``:

* ml-100k: ``u.data`` (tab-separated: user id, item id, rating, timestamp) and ``u.item``
  (pipe-separated, latin-1: id, title, release date, video release date, IMDb URL, then 19
  genre flags, 0 or 1, in the order of ``ML100K_GENRES``).
* ml-latest-small: ``ratings.csv`` (header ``userId,movieId,rating,timestamp``) and
  ``movies.csv`` (header ``movieId,title,genres``, UTF-8, genres joined by ``|``).

Original ids become 0-based contiguous ids (users in increasing original id, movies in the
order of increasing original id over the movies file), and the original ids are kept. A file
that is missing or not in the expected format raises ``DataFormatError`` naming the file, the
line and what was expected. Nothing is downloaded.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dlf.data.errors import DataFormatError, MissingDataError
from dlf.data.ratings import RatingsData

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
ML100K_ITEM_FIELDS = 5 + len(ML100K_GENRES)
LATEST_NO_GENRE = "(no genres listed)"


@dataclass(kw_only=True)
class MovieLensData(RatingsData):
    """RatingsData from real files (``truth`` is None) plus the original ids.

    user_ids[u] and movie_ids[m] are the ids the files use for user u and movie m; the movies
    frame also has a ``movie_id`` column and a ``genres`` column (all genres, ``|``-joined).
    """

    user_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    movie_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    source: str = ""


def _read_text(path: Path, encoding: str) -> str:
    if not path.is_file():
        raise MissingDataError(f"{path}: file not found")
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataFormatError(f"{path}, line {line}: expected {encoding} text") from None


def _numbered_rows(path: Path, text: str, sep: str, n_fields: int, what: str) -> Iterator:
    """Yield (line number, fields) for each non-blank line, checking the number of fields."""
    if sep == ",":
        reader = csv.reader(io.StringIO(text))
        lines = ((reader.line_num, fields) for fields in reader)  # quotes may span lines
    else:
        lines = enumerate((line.rstrip("\r").split(sep) for line in text.split("\n")), start=1)
    for number, fields in lines:
        if not fields or fields == [""]:
            continue
        if len(fields) != n_fields:
            shown = sep.join(fields)[:80]
            raise DataFormatError(
                f"{path}, line {number}: expected {n_fields} {_sep_name(sep)}-separated fields "
                f"({what}), got {len(fields)}: {shown!r}"
            )
        yield number, fields


def _sep_name(sep: str) -> str:
    return {"\t": "tab", "|": "pipe", ",": "comma"}[sep]


def _number(path: Path, number: int, name: str, text: str, kind: type) -> int | float:
    try:
        return kind(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise DataFormatError(
            f"{path}, line {number}: expected {expected} for {name}, got {text!r}"
        ) from None


def _check_header(path: Path, text: str, header: str) -> str:
    """Return ``text`` without its first line, which must be ``header``."""
    first, _, rest = text.partition("\n")
    if first.strip().lstrip("\ufeff") != header:
        raise DataFormatError(f"{path}, line 1: expected the header {header!r}, got {first!r}")
    return "\n" + rest  # keep line numbers: the header stays line 1


def _read_ratings(path: Path, text: str, sep: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse rating rows into a frame of original ids; also return each row's line number."""
    what = "user id, movie id, rating, timestamp"
    users, movies, ratings, times, lines = [], [], [], [], []
    for number, (user, movie, rating, time) in _numbered_rows(path, text, sep, 4, what):
        users.append(_number(path, number, "the user id", user, int))
        movies.append(_number(path, number, "the movie id", movie, int))
        value = _number(path, number, "the rating", rating, float)
        if not 0.5 <= value <= 5.0:
            raise DataFormatError(
                f"{path}, line {number}: expected a rating between 0.5 and 5, got {rating!r}"
            )
        ratings.append(value)
        times.append(_number(path, number, "the timestamp", time, int))
        lines.append(number)
    if not users:
        raise DataFormatError(f"{path}: expected rating lines ({what}), found none")
    frame = pd.DataFrame(
        {
            "user": np.array(users, dtype=np.int64),
            "movie": np.array(movies, dtype=np.int64),
            "rating": np.array(ratings, dtype=np.float32),
            "timestamp": np.array(times, dtype=np.int64),
        }
    )
    return frame, np.array(lines)


def _read_ml100k_items(path: Path) -> pd.DataFrame:
    text = _read_text(path, "latin-1")
    what = "id, title, release date, video release date, IMDb URL and 19 genre flags"
    rows = []
    for number, fields in _numbered_rows(path, text, "|", ML100K_ITEM_FIELDS, what):
        movie_id = _number(path, number, "the movie id", fields[0], int)
        flags = fields[5:]
        if any(flag not in ("0", "1") for flag in flags):
            raise DataFormatError(
                f"{path}, line {number}: expected genre flags 0 or 1, got {flags}"
            )
        genres = [g for g, flag in zip(ML100K_GENRES, flags, strict=True) if flag == "1"]
        rows.append((movie_id, fields[1], genres, number))
    return _movies_frame(path, rows)


def _read_latest_movies(path: Path) -> pd.DataFrame:
    text = _check_header(path, _read_text(path, "utf-8"), "movieId,title,genres")
    rows = []
    for number, (movie, title, genres) in _numbered_rows(
        path, text, ",", 3, "movieId,title,genres"
    ):
        movie_id = _number(path, number, "movieId", movie, int)
        names = [] if genres == LATEST_NO_GENRE else genres.split("|")
        rows.append((movie_id, title, names, number))
    return _movies_frame(path, rows)


def _movies_frame(path: Path, rows: list) -> pd.DataFrame:
    """Movies sorted by original id: movie (0-based), movie_id, title, genre, genres."""
    if not rows:
        raise DataFormatError(f"{path}: expected movie lines, found none")
    rows = sorted(rows)
    for (a, *_), (b, *_, number) in zip(rows, rows[1:], strict=False):
        if a == b:
            raise DataFormatError(f"{path}, line {number}: movie id {b} appears twice")
    ids, titles, genres, _ = zip(*rows, strict=True)
    main = [next((g for g in names if g != "unknown"), "unknown") for names in genres]
    return pd.DataFrame(
        {
            "movie": np.arange(len(ids)),
            "movie_id": np.array(ids, dtype=np.int64),
            "title": list(titles),
            "genre": main,
            "genres": ["|".join(names) for names in genres],
        }
    )


def _index_ratings(
    ratings: pd.DataFrame, lines: np.ndarray, movies: pd.DataFrame, ratings_path: Path, source: str
) -> MovieLensData:
    """Replace original ids by 0-based contiguous ones; every rated movie must be listed."""
    movie_ids = movies["movie_id"].to_numpy()
    position = np.searchsorted(movie_ids, ratings["movie"].to_numpy())
    position = np.minimum(position, len(movie_ids) - 1)
    unknown = movie_ids[position] != ratings["movie"].to_numpy()
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataFormatError(
            f"{ratings_path}, line {lines[row]}: movie id {ratings['movie'].iloc[row]} is not "
            "in the movies file"
        )
    user_ids, users = np.unique(ratings["user"].to_numpy(), return_inverse=True)
    frame = pd.DataFrame(
        {
            "user": users.astype(np.int64),
            "movie": position.astype(np.int64),
            "rating": ratings["rating"].to_numpy(),
            "timestamp": ratings["timestamp"].to_numpy(),
        }
    )
    frame = frame.sort_values(["user", "timestamp"], kind="stable", ignore_index=True)
    return MovieLensData(
        ratings=frame, movies=movies, user_ids=user_ids, movie_ids=movie_ids, source=source
    )


def load_ml100k(folder: str | Path) -> MovieLensData:
    """Load ml-100k from a folder holding ``u.data`` and ``u.item``."""
    folder = Path(folder)
    data_path = folder / "u.data"
    ratings, lines = _read_ratings(data_path, _read_text(data_path, "latin-1"), "\t")
    movies = _read_ml100k_items(folder / "u.item")
    return _index_ratings(ratings, lines, movies, data_path, "ml-100k")


def load_ml_latest(folder: str | Path) -> MovieLensData:
    """Load ml-latest-small (or any ml-latest) from a folder with ratings.csv and movies.csv."""
    folder = Path(folder)
    ratings_path = folder / "ratings.csv"
    text = _check_header(
        ratings_path, _read_text(ratings_path, "utf-8"), "userId,movieId,rating,timestamp"
    )
    ratings, lines = _read_ratings(ratings_path, text, ",")
    movies = _read_latest_movies(folder / "movies.csv")
    return _index_ratings(ratings, lines, movies, ratings_path, "ml-latest")


def load_movielens(path: str | Path) -> MovieLensData:
    """Load a MovieLens release from its folder (or a file in it), detecting which one it is.

    A folder with ``u.data`` is read as ml-100k, one with ``ratings.csv`` as ml-latest-small.
    Returns MovieLensData: ratings (user, movie, rating, timestamp; 0-based ids, sorted by
    user then timestamp), movies (movie, movie_id, title, genre, genres), truth=None, and the
    original ids in user_ids and movie_ids.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise MissingDataError(f"{path}: no such file or folder (expected a MovieLens folder)")
    folder = path if path.is_dir() else path.parent
    if (folder / "u.data").exists():
        return load_ml100k(folder)
    if (folder / "ratings.csv").exists():
        return load_ml_latest(folder)
    raise MissingDataError(
        f"{folder}: expected a MovieLens folder with u.data and u.item (ml-100k) or "
        "ratings.csv and movies.csv (ml-latest-small)"
    )
