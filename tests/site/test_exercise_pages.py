"""Exercise pages (book/_ext/exercise_pages.py): made from the student notebooks, configured
consistently with the table of contents, the chapters and the autograder's assignments."""

from __future__ import annotations

import ast
import json
import re
import sys
from types import SimpleNamespace

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

from autograder import assignments
from autograder.assignments import ASSIGNMENT_IDS
from tests.site.conftest import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from exercise_pages import course_order, decorate, with_exercises, write_pages  # noqa: E402
from sphinx.errors import ExtensionError  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
EXERCISES: dict[str, list[str]] = assignments.chapters()  # derived from the specs


def student_notebook(*cells: tuple[str, str]) -> str:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        make = nbformat.v4.new_markdown_cell if kind == "md" else nbformat.v4.new_code_cell
        nb.cells.append(make(source))
    return nbformat.writes(nb)


def test_released_notebooks_are_copied_as_they_are_and_the_others_announced(tmp_path):
    released = tmp_path / "exercises" / "alpha" / "alpha.ipynb"
    released.parent.mkdir(parents=True)
    released.write_text(student_notebook(("md", "# Exercise alpha")))
    written = write_pages(tmp_path, {"alpha": ["sgd"], "beta": ["rnns", "sgd"]})
    pages = tmp_path / "book" / "exercises"
    assert written == {"book/exercises/alpha": "exercises/alpha/alpha.ipynb"}
    assert (pages / "alpha.ipynb").read_bytes() == released.read_bytes()
    coming = (pages / "beta.md").read_text()
    assert "(exercise-beta)=\n# Exercise `beta` (coming soon)" in coming
    assert "{ref}`chapter-rnns` and {ref}`chapter-sgd`" in coming
    assert sorted(p.name for p in pages.iterdir()) == ["alpha.ipynb", "beta.md"]


def test_a_placeholder_gives_way_to_the_notebook_and_hand_written_pages_stay(tmp_path):
    pages = tmp_path / "book" / "exercises"
    write_pages(tmp_path, {"beta": ["rnns"]})
    (pages / "index.md").write_text("(exercises)=\n# Exercises\n")
    released = tmp_path / "exercises" / "beta" / "beta.ipynb"
    released.parent.mkdir(parents=True)
    released.write_text(student_notebook(("md", "# Exercise beta")))
    write_pages(tmp_path, {"beta": ["rnns"]})
    assert sorted(p.name for p in pages.iterdir()) == ["beta.ipynb", "index.md"]


@pytest.mark.parametrize("bad", [{"Beta-1": ["rnns"]}, {"beta": "rnns"}])
def test_a_malformed_configuration_is_refused(tmp_path, bad):
    with pytest.raises(ExtensionError, match="exercise_chapters"):
        write_pages(tmp_path, bad)


def fake_app(exercise_chapters: dict) -> SimpleNamespace:
    options = {
        "repository_url": "https://github.com/org/course",
        "repository_branch": "student",
        "launch_buttons": {"colab_url": "https://colab.research.google.com"},
    }
    config = SimpleNamespace(
        exercise_chapters=exercise_chapters, html_theme_options=options, launch_paths={}
    )
    return SimpleNamespace(config=config, env=SimpleNamespace(doc2path=lambda d: f"/{d}.ipynb"))


def test_an_exercise_page_gets_its_label_links_and_submission_steps():
    app = fake_app({"alpha": ["sgd", "optimizers"]})
    original = student_notebook(
        ("md", "# Exercise `alpha`: steps\n\nIntro."),
        ("code", 'try:\n    import dlf\nexcept ImportError:\n    %pip install --quiet "x"'),
        ("code", "from dlf.data import make_ratings"),
    )
    source = [original]
    decorate(app, "book/exercises/alpha", source)
    nb = nbformat.reads(source[0], as_version=4)
    nbformat.validate(nb)
    texts = ["".join(c.source) for c in nb.cells]
    assert texts[0] == "(exercise-alpha)=\n# Exercise `alpha`: steps\n\nIntro."
    box = texts[1]
    for expected in [
        "{ref}`chapter-sgd` and {ref}`chapter-optimizers`",
        "{download}`alpha.ipynb <alpha.ipynb>`",
        "{launch}`Colab`",
        "set-up cell installs it",
        '%pip install "dl-foundations @ git+https://github.com/org/course@student"',
        "{ref}`exercise-alpha-submit`",
    ]:
        assert expected in box, f"{expected!r} not in the box:\n{box}"
    assert texts[-2].startswith("(exercise-alpha-submit)=\n## Check and submit")
    assert texts[-1].startswith("(exercise-alpha-check)=\n## Check with the autograder")
    assert '<div class="dlf-grader" data-assignment="alpha">' in texts[-1]
    assert texts[2:-2] == ["".join(c["source"]) for c in json.loads(original)["cells"][1:]]


def test_a_notebook_without_dlf_needs_only_pytorch_and_other_pages_are_left_alone():
    app = fake_app({"alpha": ["sgd"]})
    source = [student_notebook(("code", "import torch"))]
    decorate(app, "book/exercises/alpha", source)
    texts = ["".join(c.source) for c in nbformat.reads(source[0], as_version=4).cells]
    assert texts[0] == "(exercise-alpha)=\n# Exercise `alpha`\n"  # no title: one is added
    assert "PyTorch only" in texts[1] and "pip install" not in texts[1]
    for docname in ["book/sgd", "book/exercises/index", "book/exercises/gamma"]:
        untouched = [student_notebook(("md", "# Title"))]
        before = untouched[0]
        decorate(app, docname, untouched)
        assert untouched[0] == before, docname


def test_nothing_lists_the_exercises_by_hand():
    """Their pages, table of contents entries, chapters and index rows come from the specs."""
    assert "exercise_chapters" not in CONFIG["sphinx"]["config"]
    listed = [e["file"] for part in TOC["parts"] for e in part["chapters"]]
    assert [f for f in listed if f.startswith("book/exercises/")] == ["book/exercises/index"]
    index = (ROOT / "book" / "exercises" / "index.md").read_text()
    assert "```{exercise-table}" in index and "exercise-collab" not in index
    for folder in ("solutions", "exercises"):
        ids = sorted(p.name for p in (ROOT / folder).iterdir() if p.is_dir())
        assert ids == ASSIGNMENT_IDS, f"{folder}/ holds {ids}, the specs declare {ASSIGNMENT_IDS}"


def test_exercises_follow_the_last_chapter_they_go_with():
    toc = {"parts": [
        {"caption": "A", "chapters": [{"file": "book/sgd"}, {"file": "book/rnns"}]},
        {"caption": "B", "chapters": [{"file": "book/lstm"}]},
        {"caption": "Exercises", "chapters": [{"file": "book/exercises/index"},
                                              {"file": "book/exercises/stale"}]},
        {"caption": "Guides", "chapters": [{"file": "book/guides/authors"}]},
    ]}  # fmt: skip
    catalog = {"late": {"chapters": ["lstm"]}, "both": {"chapters": ["rnns", "sgd"]},
               "early": {"chapters": ["sgd"]}}  # fmt: skip
    order = course_order(toc, catalog)
    assert order == ["early", "both", "late"]
    files = [e["file"] for e in with_exercises(toc, order)["parts"][2]["chapters"]]
    assert files == ["book/exercises/index"] + [f"book/exercises/{e}" for e in order]
    with pytest.raises(ExtensionError, match="must name chapters of _toc.yml"):
        course_order(toc, {"lost": {"chapters": ["nowhere"]}})


def test_the_built_book_lists_every_exercise_in_course_order(site):
    toc = yaml.safe_load((site.parent / ".doctrees" / "_toc.yml").read_text())
    order = course_order(TOC, {e: {"chapters": c} for e, c in EXERCISES.items()})
    files = [e["file"] for part in toc["parts"] for e in part["chapters"]]
    at = files.index("book/exercises/index")
    assert files[at + 1 : at + 1 + len(order)] == [f"book/exercises/{e}" for e in order]
    index = (site / "book" / "exercises" / "index.html").read_text()
    rows = re.findall(r'href="(\w+)\.html#exercise-\1"', index)  # the table's links
    linked = [r for r in rows if r in EXERCISES]
    assert list(dict.fromkeys(linked)) == order, linked
    for exercise_id in order:
        summary = assignments.get(exercise_id).summary.split()[0]
        assert summary in index, f"{exercise_id}: its summary is not in the exercises table"


def test_every_exercise_names_chapters_of_the_book():
    chapters = {f for part in TOC["parts"] for f in (e["file"] for e in part["chapters"])}
    for exercise_id, chapter_ids in EXERCISES.items():
        assert assignments.get(exercise_id).summary, f"{exercise_id}: the spec has no summary"
        assert chapter_ids, f"{exercise_id}: no chapter"
        for chapter in chapter_ids:
            assert f"book/{chapter}" in chapters, f"{exercise_id}: {chapter} is not in _toc.yml"
            text = (ROOT / "book" / f"{chapter}.md").read_text()
            assert f"(chapter-{chapter})=" in text, f"book/{chapter}.md has no chapter label"


# Modules every place a student may work has: Jupyter or VS Code with PyTorch, and Colab.
ANYWHERE = set(sys.stdlib_module_names) | {"torch", "numpy", "matplotlib"}
# The student tree's copy points it at the published repository (autograder/publish).
PACKAGE = '"dl-foundations @ git+https://<repository>"'
INSTALL = re.compile(
    r'^\s*%pip install [^\n]*"dl-foundations @ git\+https://[^"\s]+"', re.MULTILINE
)


def imported_modules(source: str) -> set[str]:
    tree = ast.parse(TransformerManager().transform_cell(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_the_student_notebook_runs_anywhere(exercise_id):
    """Jupyter, VS Code, Colab without the course's files: PyTorch, and `dlf` once installed."""
    path = ROOT / "exercises" / exercise_id / f"{exercise_id}.ipynb"
    if not path.is_file():
        pytest.skip(f"{exercise_id} is not released yet")
    installed = False
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        extra = imported_modules(cell.source) - ANYWHERE - ({"dlf"} if installed else set())
        if extra == {"dlf"}:
            assert INSTALL.search(cell.source), (
                f"{path.name} imports dlf before a set-up cell that installs it where it is "
                f"missing (Colab): `%pip install {PACKAGE}` under `except ImportError:`"
            )
            installed = True
        else:
            assert not extra, f"{path.name} imports {sorted(extra)}, which Colab lacks"


def test_exercises_name_chapters_by_their_real_titles():
    from autograder.publish.chapters import chapter_titles

    titles = set(chapter_titles(ROOT / "book").values())
    named = []
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        for match in re.finditer(r"\bchapters?\s+\*([^*]+)\*", " ".join(text.split())):
            named.append(match[1])
            assert match[1] in titles, f"{path.name} names the chapter *{match[1]}*: {titles}"
    assert named, "no exercise names its chapter"
