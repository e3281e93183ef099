"""A tiny, offline language-modelling corpus: the numbers 1..10,000 written out in English.

The stream ``one . two . three . ... ten thousand`` has a vocabulary of 30 tokens and a
structure a small recurrent network can learn (counting), so it is a convenient first
dataset for language models. Everything here is pure Python plus ``torch`` and deterministic.
"""

from collections.abc import Iterable, Sequence

import torch

ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
    "seventeen", "eighteen", "nineteen",
]  # fmt: skip
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SEPARATOR = "."
MAX_NUMBER = 10_000


def _below_hundred(n: int) -> list[str]:
    """Words for 1 <= n < 100 (no hyphens: 21 -> ['twenty', 'one'])."""
    if n < 20:
        return [ONES[n]]
    tens, ones = divmod(n, 10)
    return [TENS[tens]] + ([ONES[ones]] if ones else [])


def _below_thousand(n: int) -> list[str]:
    """Words for 1 <= n < 1000, without 'and' (101 -> ['one', 'hundred', 'one'])."""
    hundreds, rest = divmod(n, 100)
    words = [ONES[hundreds], "hundred"] if hundreds else []
    return words + (_below_hundred(rest) if rest else [])


def number_words(n: int) -> str:
    """English words for an integer 1..10,000, space separated, no hyphens and no 'and'.

    >>> number_words(9999)
    'nine thousand nine hundred ninety nine'
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"expected an int, got {type(n).__name__}")
    if not 1 <= n <= MAX_NUMBER:
        raise ValueError(f"n must be in 1..{MAX_NUMBER}, got {n}")
    thousands, rest = divmod(n, 1000)
    words = _below_hundred(thousands) + ["thousand"] if thousands else []
    return " ".join(words + (_below_thousand(rest) if rest else []))


def number_stream(start: int = 1, stop: int = MAX_NUMBER) -> list[str]:
    """Tokens of the numbers ``start..stop`` (both included), separated by '.' tokens.

    >>> number_stream(1, 3)
    ['one', '.', 'two', '.', 'three']
    """
    if not 1 <= start <= stop <= MAX_NUMBER:
        raise ValueError(f"need 1 <= start <= stop <= {MAX_NUMBER}, got {start}, {stop}")
    tokens: list[str] = []
    for n in range(start, stop + 1):
        if n > start:
            tokens.append(SEPARATOR)
        tokens.extend(number_words(n).split())
    return tokens


class Vocab:
    """A token <-> index mapping; indices follow the order of first appearance.

    ``itos[i]`` is the token of index ``i`` and ``stoi[token]`` its index.
    """

    def __init__(self, tokens: Iterable[str]):
        self.itos: list[str] = list(dict.fromkeys(tokens))
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {' '.join(self.itos[:8])} ...)"

    def encode(self, tokens: Iterable[str]) -> torch.Tensor:
        """Tokens -> LongTensor of indices, shape (len(tokens),); unknown tokens raise KeyError."""
        return torch.tensor([self.stoi[tok] for tok in tokens], dtype=torch.long)

    def decode(self, indices: Iterable[int] | torch.Tensor) -> list[str]:
        """Indices (any iterable of ints or a 1-D tensor) -> tokens."""
        if isinstance(indices, torch.Tensor):
            indices = indices.flatten().tolist()
        return [self.itos[i] for i in indices]


def lm_batches(
    tokens_idx: Sequence[int] | torch.Tensor, seq_len: int, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lay a token stream out as language-model batches that continue one another.

    The stream is cut into ``batch_size`` contiguous pieces, one per row, and each piece is
    read ``seq_len`` tokens at a time, so row ``j`` of batch ``i + 1`` starts exactly where
    row ``j`` of batch ``i`` stopped: a model can carry its hidden state from one batch to the
    next. Tokens that do not fill a whole batch are dropped at the end.

    Returns ``(inputs, targets)``, both LongTensors of shape (n_batches, batch_size, seq_len);
    ``targets`` is the stream shifted by one token (the next token of every input position).
    """
    if seq_len < 1 or batch_size < 1:
        raise ValueError("seq_len and batch_size must be positive")
    stream = torch.as_tensor(tokens_idx, dtype=torch.long).flatten()
    row_len = (len(stream) - 1) // batch_size  # -1: every input needs a following target
    n_batches = row_len // seq_len
    if n_batches == 0:
        raise ValueError(
            f"a stream of {len(stream)} tokens is too short for {batch_size} rows of {seq_len}"
        )
    used = n_batches * seq_len

    def layout(shifted: torch.Tensor) -> torch.Tensor:
        rows = shifted[: batch_size * row_len].view(batch_size, row_len)[:, :used]
        return rows.reshape(batch_size, n_batches, seq_len).transpose(0, 1).contiguous()

    return layout(stream[:-1]), layout(stream[1:])
