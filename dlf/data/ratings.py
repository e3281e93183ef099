"""Synthetic movie ratings with a planted truth, for collaborative filtering.

``make_ratings`` invents a small film catalogue and its audience. Every latent factor is a
named genre: a movie has non-negative loadings on genres (mostly its main genre, sometimes a
second one), a user has a taste for each genre (positive = likes it), and a rating is

    global_mean + user_bias + movie_bias + user_factors @ movie_factors + noise,

rounded to half stars and clipped to 0.5..5, like MovieLens. Users rate movies with a
popularity skew (good movies are watched more), and never rate the same movie twice. Because
the truth is kept, a model's learned biases and factors can be compared with the real ones,
and its error with the noise floor (``noise_floor_rmse``). Everything is generated with a
seeded ``numpy.random.Generator``: same arguments, same data.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Genres in order of how common they are as a movie's main genre; factor k is GENRES[k].
GENRES = [
    "Drama", "Comedy", "Action", "Romance", "Horror",
    "Sci-Fi", "Thriller", "Animation", "Western", "Documentary",
]  # fmt: skip
GENRE_SHARES = np.array([0.22, 0.2, 0.15, 0.12, 0.09, 0.08, 0.06, 0.04, 0.02, 0.02])
TITLE_ADJECTIVES = [
    "Silent", "Crimson", "Broken", "Golden", "Hidden", "Last", "Lonely", "Burning", "Frozen",
    "Wild", "Distant", "Midnight", "Electric", "Gentle", "Hollow", "Secret", "Restless",
    "Forgotten", "Velvet", "Iron", "Little", "Endless", "Bitter", "Silver", "Savage", "Quiet",
    "Final", "Crooked", "Brave", "Scarlet",
]  # fmt: skip
TITLE_NOUNS = {
    "Drama": ["Harbor", "Letters", "Winter", "Inheritance", "Verdict", "Orchard", "Promise",
              "Widow", "Season", "Road", "Brothers", "Tide"],
    "Comedy": ["Wedding", "Neighbors", "Vacation", "Roommates", "Weekend", "Mix-Up", "Party",
               "Cousins", "Bakery", "Road Trip", "Interns", "Reunion"],
    "Action": ["Strike", "Protocol", "Fury", "Pursuit", "Convoy", "Vendetta", "Mission",
               "Showdown", "Getaway", "Siege", "Bullet", "Agent"],
    "Romance": ["Kiss", "Summer", "Heart", "Waltz", "Letter", "Embrace", "Sunset", "Affair",
                "Rose", "Bride", "Serenade", "Valentine"],
    "Horror": ["Crypt", "Shadows", "Cellar", "Curse", "Asylum", "Whispers", "Ritual",
               "Haunting", "Doll", "Swamp", "Scream", "Coffin"],
    "Sci-Fi": ["Orbit", "Android", "Nebula", "Colony", "Signal", "Paradox", "Reactor",
               "Starship", "Clone", "Horizon", "Singularity", "Moonbase"],
    "Thriller": ["Witness", "Alibi", "Conspiracy", "Hostage", "Stranger", "Motive", "Trap",
                 "Informant", "Ransom", "Suspect", "Cipher", "Deadline"],
    "Animation": ["Dragon", "Robot", "Kingdom", "Penguin", "Forest", "Balloon", "Toy",
                  "Fox", "Island", "Lantern", "Puppy", "Wizard"],
    "Western": ["Frontier", "Saddle", "Canyon", "Outlaw", "Sheriff", "Gulch", "Stagecoach",
                "Ranch", "Gunslinger", "Mesa", "Prairie", "Rider"],
    "Documentary": ["Planet", "Ocean", "Archive", "Chronicle", "Expedition", "Voices",
                    "Glacier", "Rivers", "Cities", "Machines", "Bees", "Coral"],
}  # fmt: skip

GLOBAL_MEAN = 3.5
USER_BIAS_SD, MOVIE_BIAS_SD = 0.35, 0.5
TASTE_SD = 0.7  # spread of a user's taste for each genre
SECOND_GENRE_PROB = 0.4  # chance a movie also leans towards a second genre
MIN_PER_USER = 10  # every user rates at least this many movies
START_TIME, END_TIME = 946_684_800, 1_072_915_200  # 2000-01-01 .. 2004-01-01, Unix seconds


@dataclass
class RatingsTruth:
    """The planted model behind ``make_ratings``, with k = len(genres) factors.

    user_factors: (n_users, k) taste for each genre; movie_factors: (n_movies, k) non-negative
    genre loadings; user_bias: (n_users,); movie_bias: (n_movies,); global_mean: scalar;
    genres: the genre name of each factor; noise: standard deviation of the rating noise.
    """

    user_factors: np.ndarray
    movie_factors: np.ndarray
    user_bias: np.ndarray
    movie_bias: np.ndarray
    global_mean: float
    genres: list[str]
    noise: float

    def expected_rating(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """Noiseless rating of each (user, movie) pair, (N,) ints -> (N,) floats, clipped
        to 0.5..5 but not rounded."""
        users, movies = np.asarray(users), np.asarray(movies)
        dot = np.einsum("nk,nk->n", self.user_factors[users], self.movie_factors[movies])
        raw = self.global_mean + self.user_bias[users] + self.movie_bias[movies] + dot
        return np.clip(raw, 0.5, 5.0)


@dataclass
class RatingsData:
    """Ratings and movies; ``truth`` is the planted model (None for real data).

    ratings: DataFrame with columns user, movie (0-based contiguous ids), rating (0.5..5 in
    half steps, float32) and timestamp (Unix seconds). movies: DataFrame with columns movie,
    title, genre (the main genre's name), one row per movie id, in id order.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    truth: RatingsTruth | None = None


def _movie_factors(
    n_movies: int, n_factors: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Main genre index (n_movies,) and non-negative genre loadings (n_movies, n_factors)."""
    shares = GENRE_SHARES[:n_factors] / GENRE_SHARES[:n_factors].sum()
    main = rng.choice(n_factors, size=n_movies, p=shares)
    factors = np.abs(rng.normal(0.0, 0.08, (n_movies, n_factors)))
    factors[np.arange(n_movies), main] = rng.uniform(0.8, 1.2, n_movies)
    if n_factors > 1:
        # A second genre, never the main one: shift the main index by 1..k-1.
        second = (main + rng.integers(1, n_factors, n_movies)) % n_factors
        has_second = rng.random(n_movies) < SECOND_GENRE_PROB
        rows = np.flatnonzero(has_second)
        factors[rows, second[rows]] = rng.uniform(0.3, 0.6, rows.size)
    return main, factors


def _titles(main: np.ndarray, rng: np.random.Generator) -> list[str]:
    """An original title with a release year for each movie, worded after its main genre."""
    titles = [""] * main.size
    n_adj = len(TITLE_ADJECTIVES)
    years = np.clip(np.round(2004 - rng.exponential(12.0, main.size)), 1930, 2003).astype(int)
    for g in np.unique(main):
        movies = np.flatnonzero(main == g)
        nouns = TITLE_NOUNS[GENRES[g]]
        n_combos = n_adj * len(nouns)
        # Unique adjective-noun pairs; past n_combos titles, sequels get a number.
        order = np.concatenate(
            [rng.permutation(n_combos) for _ in range(-(-movies.size // n_combos))]
        )
        for i, (movie, combo) in enumerate(zip(movies, order[: movies.size], strict=True)):
            adj, noun = TITLE_ADJECTIVES[combo // len(nouns)], nouns[combo % len(nouns)]
            sequel = f" {i // n_combos + 1}" if i >= n_combos else ""
            titles[movie] = f"The {adj} {noun}{sequel} ({years[movie]})"
    return titles


def _sample_pairs(
    n_users: int, n_movies: int, n_ratings: int, popularity: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(user, movie) pairs without duplicates: skewed user activity and movie popularity."""
    cap = n_movies // 2  # no user rates more than half the catalogue
    activity = rng.lognormal(0.0, 0.8, n_users)
    counts = MIN_PER_USER + rng.multinomial(
        n_ratings - MIN_PER_USER * n_users, activity / activity.sum()
    )
    while (over := counts > cap).any():  # move the excess of very active users to others
        excess = int((counts[over] - cap).sum())
        counts[over] = cap
        room = np.where(counts < cap, activity, 0.0)
        counts += rng.multinomial(excess, room / room.sum())
    users = np.repeat(np.arange(n_users), counts)
    p = popularity / popularity.sum()
    movies = rng.choice(n_movies, size=users.size, p=p)
    for _ in range(200):  # redraw the movie of repeated pairs until all pairs are distinct
        _, first = np.unique(users * n_movies + movies, return_index=True)
        repeated = np.ones(users.size, dtype=bool)
        repeated[first] = False
        if not repeated.any():
            break
        movies[repeated] = rng.choice(n_movies, size=int(repeated.sum()), p=p)
    else:  # pragma: no cover - only for extreme popularity skews
        raise RuntimeError("could not draw distinct (user, movie) pairs")
    return users, movies


def make_ratings(
    n_users: int = 900,
    n_movies: int = 1600,
    n_ratings: int = 100_000,
    n_factors: int = 6,
    noise: float = 0.5,
    seed: int = 0,
) -> RatingsData:
    """Generate ``n_ratings`` ratings of ``n_movies`` movies by ``n_users`` users.

    Args:
        n_users: number of users, ids 0..n_users-1 (each rates at least 10 movies).
        n_movies: number of movies, ids 0..n_movies-1 (rare ones may have no rating).
        n_ratings: number of distinct (user, movie) ratings, at most a quarter of all pairs.
        n_factors: number of latent factors, each a genre: the first n_factors of ``GENRES``
            (1..10).
        noise: standard deviation of the Gaussian noise added before rounding to half stars.
        seed: seed of the ``numpy.random.Generator``; same arguments give identical data.

    Returns:
        RatingsData with ratings sorted by user then timestamp, movies, and the planted truth.
    """
    if not 1 <= n_factors <= len(GENRES):
        raise ValueError(f"n_factors must be in 1..{len(GENRES)}, got {n_factors}")
    if n_users < 1 or n_movies < 2:
        raise ValueError("need at least one user and two movies")
    if not MIN_PER_USER * n_users <= n_ratings <= n_users * n_movies // 4:
        raise ValueError(
            f"n_ratings must be between {MIN_PER_USER} per user and a quarter of all "
            f"user-movie pairs: {MIN_PER_USER * n_users}..{n_users * n_movies // 4}"
        )
    if noise < 0:
        raise ValueError("noise must be non-negative")
    rng = np.random.default_rng(seed)
    main, movie_factors = _movie_factors(n_movies, n_factors, rng)
    truth = RatingsTruth(
        user_factors=rng.normal(0.0, TASTE_SD, (n_users, n_factors)),
        movie_factors=movie_factors,
        user_bias=rng.normal(0.0, USER_BIAS_SD, n_users),
        movie_bias=rng.normal(0.0, MOVIE_BIAS_SD, n_movies),
        global_mean=GLOBAL_MEAN,
        genres=GENRES[:n_factors],
        noise=float(noise),
    )
    # Better movies are watched more: log popularity mixes chance and the movie's bias.
    popularity = np.exp(rng.normal(0.0, 1.0, n_movies) + 1.2 * truth.movie_bias)
    users, movies = _sample_pairs(n_users, n_movies, n_ratings, popularity, rng)

    dot = np.einsum("nk,nk->n", truth.user_factors[users], truth.movie_factors[movies])
    raw = GLOBAL_MEAN + truth.user_bias[users] + truth.movie_bias[movies] + dot
    raw = raw + rng.normal(0.0, noise, raw.size)
    rating = np.clip(np.round(raw * 2) / 2, 0.5, 5.0).astype(np.float32)

    start = rng.integers(START_TIME, END_TIME - 86_400 * 365, n_users)
    timestamp = start[users] + rng.integers(0, 86_400 * 365, users.size)
    ratings = pd.DataFrame(
        {"user": users, "movie": movies, "rating": rating, "timestamp": timestamp}
    )
    ratings = ratings.sort_values(["user", "timestamp"], kind="stable", ignore_index=True)
    movies_frame = pd.DataFrame(
        {
            "movie": np.arange(n_movies),
            "title": _titles(main, rng),
            "genre": np.array(GENRES)[main],
        }
    )
    return RatingsData(ratings=ratings, movies=movies_frame, truth=truth)


def train_valid_split(
    ratings: pd.DataFrame, valid_frac: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split of the rating rows into (train, valid), each with a fresh 0.. index."""
    if not 0.0 < valid_frac < 1.0:
        raise ValueError(f"valid_frac must be between 0 and 1, got {valid_frac}")
    is_valid = np.random.default_rng(seed).random(len(ratings)) < valid_frac
    return ratings[~is_valid].reset_index(drop=True), ratings[is_valid].reset_index(drop=True)


def noise_floor_rmse(truth: RatingsTruth, ratings: pd.DataFrame) -> float:
    """RMSE of the true noiseless rating on ``ratings``: about the best any model can reach.

    Only the Gaussian noise and the rounding to half stars remain in it, so a model whose
    validation RMSE is near this number has learned nearly all there is to learn.
    """
    users, movies = ratings["user"].to_numpy(), ratings["movie"].to_numpy()
    error = ratings["rating"].to_numpy(dtype=np.float64) - truth.expected_rating(users, movies)
    return float(np.sqrt(np.mean(error**2)))
