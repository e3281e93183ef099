"""Datasets for the course: synthetic generators with a planted truth and loaders for real files.

Every public function is importable from ``dlf.data`` directly (``from dlf.data import
make_ratings``). The submodule is imported only when one of its names is first used, so
``import dlf.data`` stays cheap (no torch, pandas or scikit-learn until needed).
To export a new module, add one line to ``_EXPORTS``: module name -> its public names.
"""

import importlib

_EXPORTS = {
    "errors": ["DataFormatError", "MissingDataError"],
    "digits": ["load_digits", "stratified_split", "read_idx", "load_mnist_idx"],
    "movielens": ["load_movielens"],
    "ratings": [
        "RatingsData",
        "RatingsTruth",
        "make_ratings",
        "noise_floor_rmse",
        "train_valid_split",
    ],
    "sales": ["SalesData", "make_store_sales", "time_split"],
    "words": ["Vocab", "number_words", "number_stream", "lm_batches"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    """Import the submodule that defines ``name`` on first use (PEP 562)."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
