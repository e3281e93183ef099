"""No chapter types a number its outputs give: such numbers are glued (tests/site/numbers.py)."""

from __future__ import annotations

import re

import pytest

from tests.site.conftest import ROOT
from tests.site.numbers import FACTS, chapter_files, prose, typed_in_book, typed_numbers

CHAPTER = """---
kernelspec:
  name: python3
---
(chapter-x)=
# A chapter

```{code-cell} ipython3
model = train(n_users=600, lr=0.3, valid_frac=0.2)
glue("rmse", rmse(model), display=False)
```

We train on 600 users with a learning rate of 0.3 and keep 20% for validation. The model
reaches an RMSE of {glue:text}`rmse:.3f` ($0.25$ is the noise in `x = 0.87`), see
{ref}`chapter-sgd`. In 1989 Cybenko proved it.
"""


def test_no_chapter_types_a_number_its_outputs_should_give():
    typed = typed_in_book(ROOT)
    assert not typed, "\n".join(map(str, typed))


def test_settings_glued_values_years_math_and_code_are_accepted():
    assert typed_numbers("x", CHAPTER, facts={}) == []


@pytest.mark.parametrize(
    ("sentence", "flagged"),
    [
        ("The validation RMSE is 0.912 after training.", ["0.912"]),
        ("About 98% of the digits are right.", ["98%"]),
        ("It is about 16 instead of 19.", ["16", "19"]),
        ("The best models come within about 0.3 stars of the floor.", ["0.3"]),  # hedged setting
        ("The loss is about a thousand times lower.", ["about a thousand"]),
        ("It found about six useful directions.", ["about six"]),
    ],
)
def test_a_typed_output_is_flagged(sentence, flagged):
    found = typed_numbers("x", CHAPTER + "\n" + sentence + "\n", facts={})
    assert [t.text for t in found] == flagged, found
    assert found[0].line == CHAPTER.count("\n") + 2
    assert "glue it" in str(found[0]) and f"book/x.md:{found[0].line}" in str(found[0])


def test_a_declared_fact_is_accepted():
    text = CHAPTER + "\nMNIST has 70,000 digits; a stride halves it, about half as wide.\n"
    assert [t.text for t in typed_numbers("x", text, facts={})] == ["70,000", "about half"]
    assert typed_numbers("x", text, facts={"70,000": "MNIST", "about half": "stride"}) == []


def test_a_number_planted_in_a_real_chapter_is_caught(tmp_path):
    """Type a glued figure by hand into a copy of a chapter: the check names it and its line."""
    source = (ROOT / "book" / "collab.md").read_text()
    role = "{glue:text}`best_gap:.2f`"
    assert role in source, "collab.md no longer glues best_gap: plant into another role"
    planted = source.replace(role, "0.07")
    copy = tmp_path / "collab.md"
    copy.write_text(planted)
    found = typed_numbers("collab", copy.read_text())
    line = planted[: planted.index("0.07 stars")].count("\n") + 1
    assert [(t.text, t.line) for t in found] == [("0.07", line)], found
    assert typed_numbers("collab", source) == []


def test_prose_leaves_out_code_math_and_roles_but_keeps_lines():
    text = "a\n```{code-cell} ipython3\nx = 123\n```\n$$\n4.5\n$$\nb `6` {ref}`x-7` $8$ 9\n"
    kept = prose(text)
    assert kept.count("\n") == text.count("\n")
    assert re.findall(r"\d+", kept) == ["9"]


def test_every_declared_fact_is_still_used():
    """A fact nobody types any more is stale: remove it, so the list stays a true record."""
    stale = []
    for path in chapter_files(ROOT):
        facts = FACTS.get(path.stem, {})
        text = prose(path.read_text())
        flat = " ".join(text.split())
        stale += [f"{path.stem}: {fact!r}" for fact in facts if fact not in flat]
    known = {p.stem for p in chapter_files(ROOT)}
    stale += [f"{name}: no such chapter" for name in FACTS if name not in known]
    assert not stale, stale
