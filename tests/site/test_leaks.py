"""No solution and no hidden test reaches students: not in exercises/, not in the student tree
(what the launch links open), not on the site."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from autograder.publish.settings import Publishing
from autograder.publish.student_tree import build_student_tree
from tests.site.conftest import ROOT
from tests.site.leaks import course_secrets, files_under, find_leaks, find_secrets, normalise


def book(test):
    """Needs the built site: slow, and run in the one worker that builds it."""
    for mark in (pytest.mark.book, pytest.mark.slow, pytest.mark.xdist_group("book")):
        test = mark(test)
    return test


def notebook(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": s.splitlines(True),
              "outputs": [], "execution_count": None} for i, s in enumerate(sources)]  # fmt: skip
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


SOURCE = """def blend(weights, inputs, bias):
    ### BEGIN SOLUTION
    total = (weights * inputs).sum(dim=1) + bias
    return total
    ### END SOLUTION
"""
TESTS = """assert blend(w, x, b).shape == (3,)
### BEGIN HIDDEN TESTS
assert torch.allclose(blend(w, x, b), reference_blend(w, x, b))
assert blend(w, x, b).shape == (3,)
### END HIDDEN TESTS
"""


def test_short_and_public_lines_are_not_secrets(tmp_path):
    chapter = "In the chapter: `return torch.sigmoid(x) * (high - low) + low`."
    sigmoid = "    return torch.sigmoid(x) * (high - low) + low\n"
    source = SOURCE.replace("    return total\n", sigmoid)
    path = notebook(tmp_path / "a.ipynb", source, TESTS)
    found = {s.line: s.region for s in find_secrets([path], [chapter], tmp_path)}
    # `return total` is short; the sigmoid line is in the chapter; the shape assert is visible.
    assert found == {
        "total = (weights * inputs).sum(dim=1) + bias": "solution",
        "assert torch.allclose(blend(w, x, b), reference_blend(w, x, b))": "hidden tests",
    }


def test_the_guard_sees_through_reformatting(tmp_path):
    secrets = find_secrets([notebook(tmp_path / "a.ipynb", SOURCE, TESTS)], [], tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    # As Pygments renders it, rewrapped, with other spaces and a trailing comma.
    (site / "page.html").write_text(
        '<pre><span class="n">total</span><span class="o">=</span>(<span class="n">weights'
        "</span>*inputs).sum(\n    dim=1,\n) &#43; bias</pre>"
    )
    rewrapped = "x = 1\nassert torch.allclose(blend(w,x,b),\n  reference_blend(w,x,b))"
    notebook(site / "copy.ipynb", rewrapped)
    (site / "clean.html").write_text("<p>total = weights.sum() + bias</p>")
    leaks = {(leak.path, leak.secret.region) for leak in find_leaks(secrets, [site], tmp_path)}
    assert leaks == {("site/page.html", "solution"), ("site/copy.ipynb", "hidden tests")}


def test_every_source_notebook_has_secrets_to_guard():
    secrets = course_secrets(ROOT)
    notebooks = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "solutions").glob("*/*.ipynb"))
    assert notebooks, "no source notebooks under solutions/"
    for name in notebooks:
        mine = [s for s in secrets if s.notebook == name]
        assert any(s.region == "solution" for s in mine), f"{name}: no solution line to guard"


def test_no_secret_in_the_exercises():
    leaks = find_leaks(course_secrets(ROOT), [ROOT / "exercises"], ROOT)
    assert not leaks, "solution text in the student notebooks:\n" + "\n".join(map(str, leaks))


def test_no_secret_in_the_student_tree(tmp_path):
    tree = tmp_path / "tree"
    settings = Publishing(repository_url="https://github.com/example-org/course")
    files = build_student_tree(tree, ROOT, settings, cache=tmp_path / "no-cache")
    assert {"book/collab.ipynb", "exercises/collab/collab.ipynb", "dlf/__init__.py"} <= set(files)
    secrets = course_secrets(ROOT)
    leaks = find_leaks(secrets, [tree], tree)
    assert not leaks, "solution text in the student tree:\n" + "\n".join(map(str, leaks))
    # The guard reads the whole tree: a source notebook planted in it is caught.
    shutil.copy(ROOT / "solutions" / "collab" / "collab.ipynb", tree / "exercises" / "x.ipynb")
    assert {leak.path for leak in find_leaks(secrets, [tree], tree)} == {"exercises/x.ipynb"}


@book
def test_no_secret_on_the_site(site):
    scanned = {str(p.relative_to(site)) for p in files_under(site)}
    # The guard reads what students download, not only the pages.
    assert "_sources/book/exercises/collab.ipynb" in scanned, sorted(scanned)[:20]
    assert any(name.startswith("_downloads/") for name in scanned), "no download was scanned"
    leaks = find_leaks(course_secrets(ROOT), [site], site)
    assert not leaks, "solution text on the site:\n" + "\n".join(map(str, leaks))


@book
def test_the_guard_catches_a_leak_planted_in_a_built_page(site, tmp_path):
    secrets = [s for s in course_secrets(ROOT) if s.notebook == "solutions/collab/collab.ipynb"]
    secret = next(s for s in secrets if s.region == "solution")
    copy = tmp_path / "collab.html"
    shutil.copy(site / "book" / "exercises" / "collab.html", copy)
    assert find_leaks(secrets, [tmp_path], tmp_path) == [], "the clean page already leaks"
    page = copy.read_text()
    first_pre = re.search(r"<pre>", page)
    assert first_pre, "the exercise page shows no code"
    planted = " ".join(secret.line.split()).replace(", ", ",  ").replace("(", "( ")
    assert normalise(planted) == secret.key
    copy.write_text(page[: first_pre.end()] + planted + "\n" + page[first_pre.end() :])
    leaks = find_leaks(secrets, [tmp_path], tmp_path)
    assert [(leak.path, leak.secret) for leak in leaks] == [("collab.html", secret)]
