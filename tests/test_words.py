import pytest
import torch

from dlf.data.words import Vocab, lm_batches, number_stream, number_words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "one"),
        (13, "thirteen"),
        (20, "twenty"),
        (21, "twenty one"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (110, "one hundred ten"),
        (999, "nine hundred ninety nine"),
        (1000, "one thousand"),
        (1001, "one thousand one"),
        (2019, "two thousand nineteen"),
        (9999, "nine thousand nine hundred ninety nine"),
        (10000, "ten thousand"),
    ],
)
def test_number_words_known_spellings(n, words):
    assert number_words(n) == words


@pytest.mark.parametrize("n", [0, -3, 10_001])
def test_number_words_rejects_out_of_range(n):
    with pytest.raises(ValueError):
        number_words(n)


def test_number_words_are_unique():
    spelled = {number_words(n) for n in range(1, 10_001)}
    assert len(spelled) == 10_000


def test_number_stream_starts_and_ends_as_expected():
    tokens = number_stream()
    assert tokens[:5] == ["one", ".", "two", ".", "three"]
    assert tokens[-2:] == ["ten", "thousand"]
    assert tokens.count(".") == 9_999


def test_number_stream_range_is_inclusive():
    assert number_stream(99, 101) == "ninety nine . one hundred . one hundred one".split()
    assert number_stream(7, 7) == ["seven"]
    with pytest.raises(ValueError):
        number_stream(5, 4)


def test_number_stream_is_deterministic():
    assert number_stream() == number_stream()
    assert Vocab(number_stream()).itos == Vocab(number_stream()).itos


def test_vocab_size_and_round_trip():
    tokens = number_stream()
    vocab = Vocab(tokens)
    # one..nineteen, twenty..ninety, hundred, thousand and the separator
    assert len(vocab) == 30
    assert vocab.itos[:3] == ["one", ".", "two"]
    encoded = vocab.encode(tokens[:50])
    assert encoded.dtype == torch.long
    assert vocab.decode(encoded) == tokens[:50]
    assert "zero" not in vocab
    with pytest.raises(KeyError):
        vocab.encode(["zero"])


def test_lm_batches_shapes_and_types():
    x, y = lm_batches(torch.arange(100), seq_len=4, batch_size=3)
    # 99 usable positions -> rows of 33 -> 8 sequences of 4 per row
    assert x.shape == y.shape == (8, 3, 4)
    assert x.dtype == y.dtype == torch.long


def test_lm_batches_targets_are_inputs_shifted_by_one():
    stream = torch.arange(1000) * 7 % 31
    x, y = lm_batches(stream, seq_len=5, batch_size=4)
    assert torch.equal(y[:, :, :-1], x[:, :, 1:])
    # the last target of a row is the first input of that row in the next batch
    assert torch.equal(y[:-1, :, -1], x[1:, :, 0])


def test_lm_batches_rows_continue_across_batches():
    stream = torch.arange(1000)  # token i is its own position in the stream
    x, y = lm_batches(stream, seq_len=6, batch_size=5)
    n_batches = x.shape[0]
    for j in range(5):
        row = x[:, j, :].flatten()  # row j read batch after batch
        assert torch.equal(row, torch.arange(row[0], row[0] + n_batches * 6))
        assert torch.equal(y[:, j, :].flatten(), row + 1)
    # the rows are different, non-overlapping pieces of the stream
    starts = x[0, :, 0]
    assert torch.all(starts[1:] - starts[:-1] >= n_batches * 6)


def test_lm_batches_accepts_lists_and_rejects_short_streams():
    x, y = lm_batches(list(range(11)), seq_len=2, batch_size=2)
    assert x.tolist() == [[[0, 1], [5, 6]], [[2, 3], [7, 8]]]
    assert y.tolist() == [[[1, 2], [6, 7]], [[3, 4], [8, 9]]]
    with pytest.raises(ValueError):
        lm_batches(list(range(5)), seq_len=4, batch_size=2)
