"""The student tree (autograder/publish): chapters as notebooks, exercises, dlf; no secret."""

from __future__ import annotations

import ast
import json
import sys

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from nbgrader.utils import compute_checksum

from autograder.publish.chapters import SETUP_ID, chapter_notebook
from autograder.publish.settings import Publishing
from autograder.publish.student_tree import build_student_tree, chapter_ids, main
from tests.site.conftest import ROOT

SETTINGS = Publishing(
    repository_url="https://github.com/example-org/course",
    student_branch="student",
    binderhub_url="https://mybinder.org",
    colab_url="https://colab.research.google.com",
)
REQUIREMENT = "dl-foundations @ git+https://github.com/example-org/course@student"
# What every place a student may open a notebook has (Colab, Jupyter with the course's env).
ANYWHERE = set(sys.stdlib_module_names) | {"torch", "numpy", "matplotlib", "pandas", "sklearn"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "tree"
    files = build_student_tree(out, ROOT, SETTINGS, cache=out.parent / "no-cache")
    return out, files


def test_the_tree_holds_the_student_materials_and_nothing_else(tree):
    out, files = tree
    tops = {f.split("/")[0] for f in files}
    assert tops == {"book", "exercises", "dlf", "binder", "pyproject.toml", "README.md"}, tops
    chapters = chapter_ids(ROOT)
    assert {"collab", "sgd", "rnns"} <= set(chapters)
    assert {f"book/{c}.ipynb" for c in chapters} == {f for f in files if f.startswith("book/")}
    released = {str(p.relative_to(ROOT)) for p in (ROOT / "exercises").glob("*/*.ipynb")}
    assert released and released == {f for f in files if f.startswith("exercises/")}
    pyproject = (out / "pyproject.toml").read_text()
    assert 'include = ["dlf*"]' in pyproject and "autograder" not in pyproject


def test_no_solution_marker_in_the_tree(tree):
    """The leak guard itself runs over the tree in tests/site/test_leaks.py."""
    out, files = tree
    for name in files:
        text = (out / name).read_text(errors="replace")
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, name


def setup_cell(notebook) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.cell_type == "code")


def imported(source: str) -> set[str]:
    tree = ast.parse(TransformerManager().transform_cell(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("chapter", chapter_ids(ROOT))
def test_each_chapter_opens_as_a_notebook_that_installs_what_it_needs(tree, chapter):
    out, _ = tree
    notebook = nbformat.read(out / "book" / f"{chapter}.ipynb", as_version=4)
    nbformat.validate(notebook)
    setup = setup_cell(notebook)
    assert setup.id == SETUP_ID
    compile(TransformerManager().transform_cell(setup.source), "set-up cell", "exec")
    assert "except ImportError:" in setup.source and f'%pip install --quiet "{REQUIREMENT}"' in (
        setup.source
    )
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell is not setup:
            # What the set-up cell installs: dlf and its dependencies (pyproject.toml).
            assert not imported(cell.source) - ANYWHERE - {"dlf", "safetensors"}, cell.source[:200]
        if cell.cell_type == "markdown":
            for myst in ("{ref}", "{glue", ")=\n"):
                assert myst not in cell.source, f"{chapter}: MyST {myst!r} left in:\n{cell.source}"
    # Fresh: made from the current chapter, and the same bytes every time.
    again = chapter_notebook(ROOT / "book" / f"{chapter}.md", SETTINGS)
    assert nbformat.writes(again) + "\n" == (out / "book" / f"{chapter}.ipynb").read_text()


def test_chapter_links_point_at_the_notebooks_beside_them(tree):
    out, _ = tree
    text = "".join(c.source for c in nbformat.read(out / "book" / "sgd.ipynb", 4).cells)
    assert "](optimizers.ipynb)" in text and "](../exercises/optimizers/optimizers.ipynb)" in text


def test_exercises_install_from_the_published_tree_and_keep_valid_checksums(tree):
    out, _ = tree
    for path in sorted((out / "exercises").glob("*/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            nbgrader = cell.metadata.get("nbgrader", {})
            if "checksum" in nbgrader:
                assert compute_checksum(cell) == nbgrader["checksum"], (path.name, cell.id)
            if nbgrader.get("grade_id") == "setup":
                assert REQUIREMENT in cell.source, path.name
        original = nbformat.read(ROOT / path.relative_to(out), as_version=4)
        pairs = zip(notebook.cells, original.cells, strict=True)
        changed = [a.id for a, b in pairs if a.source != b.source]
        assert changed in ([], ["setup"]), changed


def test_without_a_repository_nothing_points_at_a_placeholder(tmp_path):
    files = build_student_tree(tmp_path / "t", ROOT, Publishing(), cache=tmp_path / "none")
    text = "".join((tmp_path / "t" / f).read_text(errors="replace") for f in files)
    assert "git+" not in text and "dl-foundations.org" not in text
    chapter = nbformat.read(tmp_path / "t" / "book" / "sgd.ipynb", as_version=4)
    assert "pip install -e ." in setup_cell(chapter).source


def test_the_command_refuses_to_empty_the_repository(capsys):
    assert main([str(ROOT)]) == 2
    assert main([str(ROOT / "book")]) == 2
    assert "refusing" in capsys.readouterr().err


def test_the_command_writes_the_tree(tmp_path, capsys):
    assert main([str(tmp_path / "tree")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] > 20 and (tmp_path / "tree" / "book" / "collab.ipynb").is_file()
