"""A chapter (``book/<id>.md``, a MyST markdown notebook) as a notebook readers can open anywhere.

Colab opens only ``.ipynb`` files, and JupyterLab shows a ``.md`` file as text unless jupytext
is set up, so the chapters are converted with jupytext (never kept by hand): the same cells,
then

- a set-up cell first among the code cells, which installs the course package only where it
  is missing (Colab, a fresh JupyterHub): ``try: import dlf`` / ``except ImportError:``
  ``%pip install "dl-foundations @ git+<student repository>@<branch>"``;
- in the markdown cells, MyST syntax Jupyter does not know made readable: labels
  ``(name)=`` dropped, ``{ref}`chapter-x``` and ``{ref}`exercise-x``` turned into links to
  the notebooks beside it in the student tree, ``{glue:text}`key:fmt``` replaced by the value
  of the build's execution when it is known (else the key, in code style);
- deterministic cell ids and no jupytext metadata, so the same source always gives the same
  bytes (a test regenerates and compares).

The site offers this notebook, with the executed outputs, for download
(``book/_ext/notebook_downloads.py``), and the student tree holds it at ``book/<id>.ipynb``
(:mod:`autograder.publish.student_tree`), where the launch links open it.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat

from .settings import Publishing

PACKAGE = "dl-foundations"
SETUP_ID = "dlf-setup"
LABEL = re.compile(r"^\([\w-]+\)=[ \t]*\n", re.MULTILINE)
REF = re.compile(r"\{ref\}`(?:([^`<]*?)\s*<([\w-]+)>|([\w-]+))`")
GLUE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")
TITLE = re.compile(r"^#\s+(.+)$", re.MULTILINE)


def setup_source(settings: Publishing) -> str:
    """The set-up cell: install the course package where it is missing."""
    requirement = settings.install_requirement(PACKAGE)
    if requirement:
        install = f'    %pip install --quiet "{requirement}"'
    else:  # no published repository: say what to do instead of pointing at nothing
        install = (
            '    raise ImportError("This notebook needs the course package `dlf`: run '
            "`pip install -e .` in the course's folder\") from None"
        )
    return (
        "# Set-up: the course package `dlf` (data generators, glue). Installed only where it is\n"
        "# missing (Colab, a fresh JupyterHub); in the course's environment it is already there.\n"
        "try:\n"
        "    import dlf  # noqa: F401\n"
        "except ImportError:\n"
        f"{install}"
    )


def chapter_titles(book: Path) -> dict[str, str]:
    """Chapter id -> title, for the links that replace ``{ref}`chapter-<id>```."""
    titles = {}
    for path in sorted(book.glob("*.md")):
        match = TITLE.search(path.read_text())
        if match:
            titles[path.stem] = match[1].strip()
    return titles


def format_glue(key_format: str, values: dict[str, str]) -> str:
    """``key:fmt`` with the glued ``text/plain`` values; the key in code style if unknown."""
    from myst_nb.core.variables import format_plain_text  # the build's own formatting

    key, _, fmt = key_format.partition(":")
    if key not in values:
        return f"`{key}`"
    try:
        return format_plain_text(values[key], fmt or "")
    except (ValueError, TypeError):
        return values[key]


def readable_markdown(text: str, titles: dict[str, str], values: dict[str, str]) -> str:
    """A chapter's markdown with the MyST roles Jupyter cannot render made plain."""

    def ref(match: re.Match) -> str:
        label = match[2] or match[3]
        kind, _, name = label.partition("-")
        shown = match[1]
        if kind == "chapter" and name in titles:
            return f"[{shown or titles[name]}]({name}.ipynb)"
        if kind == "exercise" and re.fullmatch(r"[a-z][a-z0-9_]*", name):
            return f"[{shown or f'the exercise {name}'}](../exercises/{name}/{name}.ipynb)"
        return f"*{shown or label}*"

    text = LABEL.sub("", text)
    text = REF.sub(ref, text)
    return GLUE.sub(lambda m: format_glue(m[1], values), text)


def glue_values(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """Key -> ``text/plain`` of every value a notebook's outputs glued (myst-nb's format)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            for mime, data in output.get("data", {}).items():
                if name and mime.endswith("text/plain"):
                    values[name] = "".join(data) if isinstance(data, list) else str(data)
    return values


def chapter_notebook(
    path: Path, settings: Publishing, values: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """``book/<id>.md`` as a notebook (see the module doc); ``values``: glued outputs."""
    notebook = jupytext.read(path, fmt="md:myst")
    return to_chapter_notebook(notebook, path.stem, chapter_titles(path.parent), settings, values)


def to_chapter_notebook(
    notebook: nbformat.NotebookNode,
    chapter: str,
    titles: dict[str, str],
    settings: Publishing,
    values: dict[str, str] | None = None,
) -> nbformat.NotebookNode:
    """jupytext's reading of a chapter (outputs merged in or not), made a student notebook."""
    notebook.metadata.pop("jupytext", None)
    cells = list(notebook.cells)
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = readable_markdown(cell.source, titles, values or {})
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    setup = nbformat.v4.new_code_cell(setup_source(settings))
    cells.insert(first_code, setup)
    for index, cell in enumerate(cells):
        cell.id = SETUP_ID if cell is setup else f"{chapter}-{index}"
    notebook.cells = cells
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    return notebook


def write_chapter_notebook(notebook: nbformat.NotebookNode, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
