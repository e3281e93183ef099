"""Handwritten digits: scikit-learn's bundled 8x8 set, and a reader for real MNIST IDX files.

The chapters train on `load_digits()` because it ships with scikit-learn (no download, 1797
images of 8x8 pixels). Readers who have the MNIST files can load them with `load_mnist_idx()`;
both return the same layout: float images of shape (N, 1, H, W) in 0..1 and int64 labels (N,).

IDX format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number -- two zero bytes, a
type code (0x08 = unsigned byte) and the number of dimensions -- then one big-endian uint32 per
dimension, then the values. Images use magic 2051 (0x00000803, three dims: count, rows, cols),
labels use magic 2049 (0x00000801, one dim: count). Files may be gzipped.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

# One error type for all the course's loaders of real files (defined with the MovieLens loader).
from dlf.data.errors import DataFormatError, MissingDataError

__all__ = [
    "DataFormatError",
    "MissingDataError",
    "load_digits",
    "load_mnist_idx",
    "read_idx",
    "stratified_split",
]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_GZIP_SIGNATURE = b"\x1f\x8b"


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """Scikit-learn's 8x8 digits as tensors.

    Returns:
        images: float32 (1797, 1, 8, 8), pixel intensities scaled from 0..16 to 0..1.
        labels: int64 (1797,), the digit 0..9 of each image.
    """
    from sklearn.datasets import load_digits as _sklearn_load_digits

    bunch = _sklearn_load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    return images, labels


def stratified_split(
    labels: torch.Tensor, valid_fraction: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into train and validation sets with the same class proportions.

    Each class contributes round(valid_fraction * class_count) examples to validation, chosen
    by a permutation seeded with `seed`, so the split is the same on every run and machine.

    Args:
        labels: int (N,) class of each example.
        valid_fraction: share of each class that goes to validation, strictly between 0 and 1.
        seed: seed of the permutation.

    Returns:
        train_idx, valid_idx: int64 index tensors, each sorted, disjoint, together 0..N-1.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be between 0 and 1, got {valid_fraction}")
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {tuple(labels.shape)}")
    generator = torch.Generator().manual_seed(seed)
    valid_parts = []
    for cls in torch.unique(labels):
        members = torch.nonzero(labels == cls).flatten()
        shuffled = members[torch.randperm(len(members), generator=generator)]
        valid_parts.append(shuffled[: round(valid_fraction * len(members))])
    valid_idx = torch.sort(torch.cat(valid_parts)).values
    is_valid = torch.zeros(len(labels), dtype=torch.bool)
    is_valid[valid_idx] = True
    train_idx = torch.nonzero(~is_valid).flatten()
    return train_idx, valid_idx


def _read_bytes(path: Path) -> bytes:
    """Raw contents of `path`, gunzipped when the file starts with the gzip signature."""
    if not path.is_file():
        raise MissingDataError(f"{path}: no such file (download the MNIST IDX files first)")
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_SIGNATURE):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataFormatError(f"{path}: corrupt or truncated gzip data ({error})") from error


def read_idx(path: str | Path, expected_magic: int) -> np.ndarray:
    """Read one unsigned-byte IDX file (plain or gzipped) into a uint8 array of its dimensions.

    Raises:
        MissingDataError: `path` does not exist (a DataFormatError and a FileNotFoundError).
        DataFormatError: wrong magic number, truncated header or data, or trailing bytes.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataFormatError(f"{path}: truncated, only {len(data)} bytes (no IDX header)")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise DataFormatError(
            f"{path}: magic number {magic} (0x{magic:08x}), expected {expected_magic} "
            f"(0x{expected_magic:08x}); is this the right file, images vs labels?"
        )
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataFormatError(f"{path}: truncated header, {len(data)} of {header_size} bytes")
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    expected_size = header_size + int(np.prod(dims))
    if len(data) < expected_size:
        raise DataFormatError(
            f"{path}: truncated, {len(data)} bytes but dimensions {dims} need {expected_size}"
        )
    if len(data) > expected_size:
        raise DataFormatError(
            f"{path}: {len(data) - expected_size} unexpected bytes after the {dims} values"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)


def load_mnist_idx(
    images_path: str | Path, labels_path: str | Path
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST-style IDX files, e.g. train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz.

    Returns:
        images: float32 (N, 1, rows, cols), pixel intensities scaled from 0..255 to 0..1.
        labels: int64 (N,).

    Raises:
        MissingDataError: a path does not exist (a DataFormatError and a FileNotFoundError).
        DataFormatError: a file is not a valid IDX file of its kind, or the counts differ.
    """
    pixels = read_idx(images_path, IMAGES_MAGIC)
    targets = read_idx(labels_path, LABELS_MAGIC)
    if len(pixels) != len(targets):
        raise DataFormatError(
            f"{images_path} holds {len(pixels)} images but {labels_path} holds "
            f"{len(targets)} labels"
        )
    images = torch.tensor(pixels, dtype=torch.float32).unsqueeze(1) / 255.0
    labels = torch.tensor(targets, dtype=torch.int64)
    return images, labels
