"""Tests for dlf.data.digits: the bundled 8x8 digits, the stratified split and the IDX reader."""

import gzip
import struct
from pathlib import Path

import pytest
import torch

from dlf.data.digits import (
    DataFormatError,
    MissingDataError,
    load_digits,
    load_mnist_idx,
    read_idx,
    stratified_split,
)

FIXTURES = Path(__file__).parent / "fixtures" / "mnist"
IMAGES = FIXTURES / "tiny-images-idx3-ubyte"
LABELS = FIXTURES / "tiny-labels-idx1-ubyte"
IMAGES_GZ = FIXTURES / "tiny-images-idx3-ubyte.gz"
LABELS_GZ = FIXTURES / "tiny-labels-idx1-ubyte.gz"


def test_load_digits_shapes_dtypes_and_range():
    images, labels = load_digits()
    assert images.shape == (1797, 1, 8, 8)
    assert images.dtype == torch.float32
    assert labels.shape == (1797,)
    assert labels.dtype == torch.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert set(labels.tolist()) == set(range(10))


def test_stratified_split_is_a_deterministic_partition():
    _, labels = load_digits()
    train_idx, valid_idx = stratified_split(labels, valid_fraction=0.2, seed=0)
    again_train, again_valid = stratified_split(labels, valid_fraction=0.2, seed=0)
    assert torch.equal(train_idx, again_train) and torch.equal(valid_idx, again_valid)
    combined = torch.sort(torch.cat([train_idx, valid_idx])).values
    assert torch.equal(combined, torch.arange(len(labels)))


def test_stratified_split_keeps_class_proportions():
    _, labels = load_digits()
    _, valid_idx = stratified_split(labels, valid_fraction=0.2, seed=0)
    expected = torch.round(0.2 * torch.bincount(labels).double()).long()
    assert torch.equal(torch.bincount(labels[valid_idx], minlength=10), expected)


def test_stratified_split_depends_on_seed():
    _, labels = load_digits()
    _, valid_a = stratified_split(labels, seed=0)
    _, valid_b = stratified_split(labels, seed=1)
    assert not torch.equal(valid_a, valid_b)


def test_stratified_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="valid_fraction"):
        stratified_split(torch.tensor([0, 1, 0, 1]), valid_fraction=1.0)


@pytest.mark.parametrize(
    ("images_path", "labels_path"),
    [(IMAGES, LABELS), (IMAGES_GZ, LABELS_GZ), (IMAGES, LABELS_GZ)],
    ids=["plain", "gzip", "mixed"],
)
def test_load_mnist_idx_reads_fixture_values(images_path, labels_path):
    images, labels = load_mnist_idx(images_path, labels_path)
    assert images.shape == (5, 1, 4, 4)
    assert images.dtype == torch.float32
    assert labels.dtype == torch.int64
    assert labels.tolist() == [3, 1, 4, 1, 5]
    # The fixture's image k has pixel i (row-major) equal to 16 * k + i.
    expected = torch.arange(80, dtype=torch.float32).reshape(5, 1, 4, 4) / 255.0
    assert torch.equal(images, expected)


def test_read_idx_returns_raw_dimensions():
    pixels = read_idx(IMAGES_GZ, 2051)
    assert pixels.shape == (5, 4, 4)
    assert pixels[1, 0, 0] == 16 and pixels[4, 3, 3] == 79


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "train-images-idx3-ubyte.gz"
    with pytest.raises(MissingDataError, match="train-images-idx3-ubyte.gz: no such file"):
        load_mnist_idx(missing, LABELS)


def test_missing_file_is_both_a_format_error_and_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent", 2051)
    with pytest.raises(ValueError):
        read_idx(tmp_path / "absent", 2051)


def test_swapped_files_report_wrong_magic():
    with pytest.raises(DataFormatError, match=r"tiny-labels-idx1-ubyte.*magic number 2049"):
        load_mnist_idx(LABELS, IMAGES)


def test_truncated_data_is_reported(tmp_path):
    truncated = tmp_path / "truncated-images"
    truncated.write_bytes(IMAGES.read_bytes()[:-3])
    with pytest.raises(DataFormatError, match=r"truncated-images: truncated"):
        load_mnist_idx(truncated, LABELS)


def test_truncated_header_is_reported(tmp_path):
    truncated = tmp_path / "short-header"
    truncated.write_bytes(IMAGES.read_bytes()[:10])
    with pytest.raises(DataFormatError, match="short-header: truncated header"):
        read_idx(truncated, 2051)


def test_truncated_gzip_is_reported(tmp_path):
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(IMAGES_GZ.read_bytes()[:40])
    with pytest.raises(DataFormatError, match="cut.gz: corrupt or truncated gzip"):
        read_idx(truncated, 2051)


def test_trailing_bytes_are_reported(tmp_path):
    padded = tmp_path / "padded"
    padded.write_bytes(LABELS.read_bytes() + b"\x00")
    with pytest.raises(DataFormatError, match="padded: 1 unexpected bytes"):
        read_idx(padded, 2049)


def test_count_mismatch_names_both_files(tmp_path):
    four_labels = tmp_path / "four-labels.gz"
    four_labels.write_bytes(gzip.compress(struct.pack(">II", 2049, 4) + bytes([3, 1, 4, 1])))
    with pytest.raises(DataFormatError, match=r"5 images but .*four-labels.gz holds 4 labels"):
        load_mnist_idx(IMAGES_GZ, four_labels)


def test_data_format_error_is_the_shared_value_error():
    from dlf.data.movielens import DataFormatError as movielens_error

    assert DataFormatError is movielens_error
    assert issubclass(DataFormatError, ValueError)
