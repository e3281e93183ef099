"""Every chapter ends with "Check your understanding": 8 to 15 numbered questions, as many
answers in a collapsed block, and the exercise the chapter leads to named by its label."""

from __future__ import annotations

import re

import pytest
import yaml

from autograder import assignments
from tests.site.conftest import ROOT

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
EXERCISES: dict[str, list[str]] = assignments.chapters()  # derived from the specs
HEADING = "## Check your understanding"


def chapters() -> list[str]:
    """The executable chapters listed in _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part.get("chapters", [])]
    paths = [ROOT / f"{f}.md" for f in files if f.startswith("book/")]
    return [p.stem for p in paths if p.is_file() and "kernelspec:" in p.read_text()]


def numbered(text: str) -> list[int]:
    """The numbers of the top-level items of the numbered lists in a block of markdown."""
    return [int(n) for n in re.findall(r"^(\d+)\. ", text, flags=re.MULTILINE)]


def section(chapter: str) -> tuple[str, str]:
    """The questions and the answers of a chapter's closing section."""
    text = (ROOT / "book" / f"{chapter}.md").read_text()
    assert text.count(HEADING) == 1, f"{chapter}: expected one {HEADING!r} section"
    closing = text.split(HEADING, 1)[1]
    assert "\n## " not in closing, f"{chapter}: {HEADING!r} must be the last section"
    questions, sep, answers = closing.partition(":::{admonition} Answers\n:class: dropdown\n")
    assert sep, f"{chapter}: the answers must be in a ':class: dropdown' admonition"
    assert answers.rstrip().endswith(":::"), f"{chapter}: the answers block is not closed"
    return questions, answers


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_ends_with_questions_and_collapsed_answers(chapter):
    questions, answers = section(chapter)
    asked, answered = numbered(questions), numbered(answers)
    assert 8 <= len(asked) <= 15, f"{chapter}: {len(asked)} questions"
    assert asked == list(range(1, len(asked) + 1)), f"{chapter}: questions numbered {asked}"
    assert answered == asked, f"{chapter}: answers numbered {answered}, questions {asked}"


@pytest.mark.parametrize("chapter", chapters())
def test_questions_name_the_exercise_the_chapter_leads_to(chapter):
    questions, _ = section(chapter)
    named = set(re.findall(r"\{ref\}`exercise-([a-z_]+)`", questions))
    assert named, f"{chapter}: the questions name no exercise"
    assert named <= set(EXERCISES), f"{chapter}: unknown exercises {named - set(EXERCISES)}"
    own = {exercise for exercise, where in EXERCISES.items() if chapter in where}
    assert own <= named, f"{chapter}: its exercise {own - named} is not named"
