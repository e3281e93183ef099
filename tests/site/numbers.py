"""Typed numbers in a chapter's prose: each must be glued, a setting, or a declared fact.

A number the prose states about an output (an RMSE, an accuracy, a count of images, "about
16 instead of 19") drifts from that output as soon as data, seeds or library versions change.
So the chapters glue such numbers (``dlf.glue.glue`` in a code cell, ``{glue:text}`key:.3f` ``
in the prose) and the build writes this run's value. This module finds the numbers a
chapter types instead. A typed number is accepted when it is:

- a *setting* the reader can see: it is a literal of the chapter's code (``600`` users,
  learning rate ``0.3``; a percentage counts when its fraction is, ``80%`` for ``0.8``),
  unless a hedge comes before it ("about 0.05 stars" describes an output, whatever the code);
- a year (1900 to 2099);
- a *fact* that no run can change (28 x 28 = 784, a version number, a theorem's exponent),
  declared in :data:`FACTS` with its reason.

Everything else is reported with its line: glue it, or declare it. Numbers written in words
after a hedge ("about six", "almost seven times") are reported too, since they usually
describe an output; a fact of that kind goes into :data:`FACTS` as the phrase.

The prose is the chapter without its front matter, code cells and other fenced blocks,
math, inline code, roles (``{glue:text}``, ``{ref}``...), link targets, comments, labels,
list numbers and its *Check your understanding* section: the questions pose their own
numbers ("a learning rate of 0.01 and 300 steps") and the answers work them out by hand,
so none of them describes a run's output.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

# chapter id -> {typed number or hedged phrase, as written: why it is not an output}
FACTS: dict[str, dict[str, str]] = {
    "activations": {},
    "collab": {
        "1,000": "an example input of the embedding-size rule",
        "77": "the embedding-size rule at 1,000 levels, arithmetic",
        "100": "the name of the MovieLens ml-100k data set",
    },
    "convolutions": {
        "72": "2 channels of 6 x 6 in the im2col example (arithmetic)",
        "288": "18 rows of 16 columns in the im2col example (arithmetic)",
        "1797": "the size of scikit-learn's digits data set",
        "24": "the window positions of a worked example (arithmetic)",
        "26": "the window positions of a worked example (arithmetic)",
        "27": "the window positions of a worked example (arithmetic)",
        "75%": "max pooling 2 by 2 keeps one value in four (arithmetic)",
        "about half": "stride 2 halves the grid (arithmetic)",
    },
    "finetuning": {"256": "the body's output size, fixed by the architecture"},
    "data_loading": {"about a tenth": "the digits data set's ten classes are balanced"},
    "neural_net": {
        "1,797": "the size of scikit-learn's digits data set",
        "88": "log of float32's largest value, where exp overflows",
        "70,000": "the size of MNIST",
        "28": "the size of MNIST's images (28x28)",
        "784": "28 x 28 inputs",
        "0.0064": "128 x 0.01**2 / 2, the variance factor of the theory (arithmetic)",
        "0.08": "the square root of 0.0064 (arithmetic)",
    },
    "optimizers": {
        "50": "the effective window 1 / (1 - beta) for beta = 0.98 (arithmetic)",
        "30%": "OneCycleLR's default warm-up fraction (pct_start=0.3), not a run's output",
        "more than three": "the threshold the glued count of steps is measured against",
        "more than twice": "the threshold the glued count of steps is measured against",
    },
    "regularization": {},
    "rnns": {},
    "sgd": {"about two": "the cost of a backward pass, from counting its products"},
    "tabular": {
        "50": "the cap of the 2018 lessons' embedding-size rule",
        "about half": "the 2018 lessons' embedding-size rule",
        "21": "the embedding-size rule at 100 levels, arithmetic",
    },
    "using_models": {"2.6": "a PyTorch version"},
}

NUMBER = re.compile(r"(?<![\w.$\\-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?(?![\w])")
WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    "forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|half|third|quarter|"
    "fifth|tenth|hundredth|dozen|twice|thrice"
)
HEDGED_WORD = re.compile(
    r"\b(?:about|around|roughly|approximately|nearly|almost|over|under|some|less than|"
    rf"more than)\s+(?:a\s+|an\s+)?(?:{WORDS})\b(?:-?fold)?",
    re.IGNORECASE,
)
HEDGE_BEFORE = re.compile(
    r"\b(?:about|around|roughly|approximately|nearly|almost|over|under|some|within)\s+$",
    re.IGNORECASE,
)
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.S | re.M)
CODE_CELL = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)
HIDDEN = [
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\{[\w:.-]+\}`[^`]*`"),  # roles: {glue:text}`key:.2f`, {ref}`label`
    re.compile(r"`+[^`]*`+"),
    re.compile(r"(?<![\\$])\$[^$\n]+\$"),
    re.compile(r"\]\([^)\n]*\)"),  # link targets
    re.compile(r"^[ \t]*%.*$", re.M),  # MyST comments
    re.compile(r"^\([\w-]+\)=[ \t]*$", re.M),  # labels
    re.compile(r"^:[\w-]+:.*$", re.M),  # directive options
    re.compile(r"^[ \t]*\d+\.(?=[ \t])", re.M),  # ordered-list numbers
]
# The questions at a chapter's end, up to the next section of the same level (or the end).
QUESTIONS = re.compile(r"^## Check your understanding[ \t]*$.*?(?=^## |\Z)", re.S | re.M)


@dataclass(frozen=True)
class Typed:
    """A number typed into a chapter's prose that is neither glued, a setting nor a fact."""

    chapter: str
    line: int
    text: str
    context: str

    def __str__(self) -> str:
        return (
            f"book/{self.chapter}.md:{self.line}: {self.text!r} is typed in the prose "
            f"(...{self.context}...): glue it from the output it describes "
            "(dlf.glue.glue + {glue:text}), or, if no run can change it, declare it in "
            "tests/site/numbers.py FACTS"
        )


def blank(match: re.Match) -> str:
    """The matched text as spaces, newlines kept (so line numbers stay right)."""
    return re.sub(r"[^\n]", " ", match.group())


def prose(text: str) -> str:
    """The chapter's prose: everything that is not code, math, roles, markup or metadata."""
    text = FRONT_MATTER.sub(blank, text)
    text = QUESTIONS.sub(blank, text)
    text = FENCE.sub(blank, text)
    for pattern in HIDDEN:
        text = pattern.sub(blank, text)
    return text


def value(number: str) -> float:
    return float(number.rstrip("%").replace(",", ""))


def code_numbers(text: str) -> set[float]:
    """The numeric literals of the chapter's code cells (its visible settings)."""
    found: set[float] = set()
    for _, source in CODE_CELL.findall(text):
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!", ":"))]
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            tokens = []
        for token in tokens:
            if token.type == tokenize.NUMBER and not token.string.lower().endswith("j"):
                try:
                    found.add(float(token.string.replace("_", "")))
                except ValueError:
                    found.add(float(int(token.string.replace("_", ""), 0)))
    return found


def is_setting(number: str, settings: set[float]) -> bool:
    v = value(number)
    return v in settings or (number.endswith("%") and round(v / 100, 10) in settings)


def typed_numbers(chapter: str, text: str, facts: dict[str, str] | None = None) -> list[Typed]:
    """The numbers of ``text`` (a chapter's MyST source) that should be glued or declared."""
    facts = FACTS.get(chapter, {}) if facts is None else facts
    settings = code_numbers(text)
    body = prose(text)
    found = []
    for match in NUMBER.finditer(body):
        number = match.group()
        v = value(number)
        is_year = "." not in number and 1900 <= v < 2100 and "," not in number
        hedged = HEDGE_BEFORE.search(body[max(0, match.start() - 20) : match.start()])
        if number in facts or is_year or (is_setting(number, settings) and not hedged):
            continue
        found.append(typed(chapter, body, match))
    for match in HEDGED_WORD.finditer(body):
        phrase = " ".join(match.group().split())
        if not any(phrase.lower().endswith(fact.lower()) for fact in facts):
            found.append(typed(chapter, body, match))
    return sorted(found, key=lambda t: t.line)


def typed(chapter: str, body: str, match: re.Match) -> Typed:
    start, end = match.span()
    context = " ".join(body[max(0, start - 40) : end + 30].split())
    return Typed(chapter, body.count("\n", 0, start) + 1, " ".join(match.group().split()), context)


def chapter_files(root: Path) -> list[Path]:
    """Every chapter: a MyST notebook under book/ (pages without outputs are not checked)."""
    return sorted(p for p in (root / "book").glob("*.md") if "kernelspec:" in p.read_text())


def typed_in_book(root: Path) -> list[Typed]:
    return [t for path in chapter_files(root) for t in typed_numbers(path.stem, path.read_text())]
