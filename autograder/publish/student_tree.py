"""The student tree: what students get, built from the repository, with nothing to hide.

``python -m autograder.publish OUT`` (or ``make student-tree``) writes into ``OUT``:

- ``book/<id>.ipynb``: every chapter of ``_toc.yml`` as a notebook
  (:mod:`autograder.publish.chapters`), with the values its build glued when the execution
  cache (``_build/.jupyter_cache``) has them;
- ``exercises/<id>/<id>.ipynb``: the released student notebooks, their set-up cell pointed at
  the published tree (nbgrader's checksum of that locked cell recomputed);
- ``dlf/``: the course package, with a ``pyproject.toml`` that packages it alone;
- ``binder/``: the environment Binder (and ``pip install -r``) builds;
- ``README.md``: what is where, and how to open it.

Never ``solutions/``, never the autograder (its assignments hold the reference
implementations), never hidden tests: the tree is made of an explicit list of sources, and
``tests/test_student_tree.py`` runs the leak guard over it. The pages workflow publishes it to
the ``student_branch`` of the student repository, which every launch link opens.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import nbformat
import yaml

from .chapters import PACKAGE, chapter_notebook, glue_values, setup_source, write_chapter_notebook
from .settings import Publishing

ROOT = Path(__file__).resolve().parents[2]
CACHE = "_build/.jupyter_cache"
SETUP_GRADE_ID = "setup"  # the exercises' locked set-up cell


def chapter_ids(root: Path) -> list[str]:
    """The chapters of ``_toc.yml``: MyST notebooks under book/ (no guides, no exercise pages)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [entry["file"] for part in toc.get("parts", []) for entry in part.get("chapters", [])]
    ids = []
    for name in files:
        path = root / f"{name}.md"
        if name.count("/") == 1 and path.is_file() and "kernelspec:" in path.read_text():
            ids.append(path.stem)
    return ids


def executed_values(notebook: nbformat.NotebookNode, cache: Path) -> dict[str, str]:
    """The glued values of the cached execution of ``notebook``; {} when there is none."""
    if not cache.is_dir():
        return {}
    from jupyter_cache import get_cache

    try:
        _, merged = get_cache(str(cache)).merge_match_into_notebook(notebook)
    except KeyError:
        return {}
    return glue_values(merged)


def chapter_for_students(root: Path, chapter: str, settings: Publishing, cache: Path):
    """The notebook of ``book/<chapter>.md``, glue roles filled from the cache if it can."""
    import jupytext

    raw = jupytext.read(root / "book" / f"{chapter}.md", fmt="md:myst")
    return chapter_notebook(root / "book" / f"{chapter}.md", settings, executed_values(raw, cache))


def student_exercise(path: Path, settings: Publishing) -> str:
    """The student notebook with its set-up cell installing from the published tree."""
    from nbgrader.utils import compute_checksum

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id == SETUP_GRADE_ID and "import dlf" in cell.source:
            cell.source = setup_source(settings)
            if "checksum" in cell.metadata["nbgrader"]:
                cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    return nbformat.writes(notebook) + "\n"


def student_pyproject(root: Path) -> str:
    """The repository's pyproject.toml, packaging ``dlf`` only (no autograder, no scripts, no
    extras such as the grading service's)."""
    lines, skipping = [], False
    for line in (root / "pyproject.toml").read_text().splitlines():
        if line.startswith("["):
            skipping = line.strip() in ("[project.scripts]", "[project.optional-dependencies]")
            skipping = skipping or line.startswith("[tool.")
            if line.strip() == "[tool.setuptools.packages.find]":
                skipping = False
        if skipping:
            continue
        if line.startswith("include = ") and "autograder" in line:
            line = 'include = ["dlf*"]'
        if line.startswith("description = "):
            line = 'description = "Deep Learning Foundations: the course package (dlf)"'
        lines.append(line)
    return "\n".join(lines).rstrip() + "\n"


def readme(chapters: list[str], exercises: list[str], settings: Publishing) -> str:
    """The tree's README: what is where and how to open it."""
    chapter_lines = "\n".join(f"- [`book/{c}.ipynb`](book/{c}.ipynb)" for c in chapters)
    exercise_lines = "\n".join(
        f"- [`exercises/{e}/{e}.ipynb`](exercises/{e}/{e}.ipynb)" for e in exercises
    )
    install = settings.install_requirement(PACKAGE)
    install_line = f'pip install "{install}"' if install else "pip install -e ."
    return (
        "# Deep Learning Foundations: the student materials\n\n"
        "Generated from the course's repository (`python -m autograder.publish`): do not edit "
        "here, your changes would be replaced at the next publication.\n\n"
        "## The chapters, as notebooks\n\n"
        f"{chapter_lines}\n\n"
        "## The exercises\n\n"
        f"{exercise_lines}\n\n"
        "## Working here\n\n"
        "Open a notebook in Jupyter, VS Code, Colab, Binder or your course's JupyterHub. Each "
        "one starts with a set-up cell that installs the course package `dlf` where it is "
        f"missing. To install it yourself: `{install_line}`; Binder uses "
        "`binder/requirements.txt`.\n"
    )


def build_student_tree(
    out: Path, root: Path = ROOT, settings: Publishing | None = None, cache: Path | None = None
) -> list[str]:
    """Write the student tree into ``out`` (emptied first); return the files, relative, sorted."""
    settings = settings or Publishing.from_config_file(root / "_config.yml")
    cache = root / CACHE if cache is None else cache
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    chapters = chapter_ids(root)
    for chapter in chapters:
        notebook = chapter_for_students(root, chapter, settings, cache)
        write_chapter_notebook(notebook, out / "book" / f"{chapter}.ipynb")
    exercises = sorted(p.parent.name for p in (root / "exercises").glob("*/*.ipynb"))
    for exercise in exercises:
        target = out / "exercises" / exercise / f"{exercise}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            student_exercise(root / "exercises" / exercise / f"{exercise}.ipynb", settings)
        )
    shutil.copytree(
        root / "dlf", out / "dlf", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copytree(root / "binder", out / "binder")
    (out / "pyproject.toml").write_text(student_pyproject(root))
    (out / "README.md").write_text(readme(chapters, exercises, settings))
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.publish",
        description="Write the student tree (chapters as notebooks, exercises, dlf, binder/; "
        "no solutions, no autograder) into OUT.",
    )
    parser.add_argument("out", type=Path, help="the folder to write (emptied first)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course repository")
    args = parser.parse_args(argv)
    root, out = args.root.resolve(), args.out.resolve()
    # It empties OUT first: never the repository, a folder above it, or one of its sources.
    if root.is_relative_to(out) or (
        out.is_relative_to(root) and not out.is_relative_to(root / "_build")
    ):
        print(f"refusing to write the student tree into {args.out}: use a folder of its own, "
              "outside the repository or under _build/ (make student-tree: _build/student)",
              file=sys.stderr)  # fmt: skip
        return 2
    files = build_student_tree(args.out, root)
    print(json.dumps({"out": str(args.out), "files": len(files)}))
    return 0
