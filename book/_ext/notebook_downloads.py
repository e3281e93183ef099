"""Sphinx extension: a chapter's ``.ipynb`` download is the student notebook, with its outputs.

For a MyST markdown notebook (``book/<id>.md``) the download menu offers
``_sources/book/<id>.ipynb``. This writes there the notebook the student tree holds for the
chapter (``autograder/publish/chapters.py``: jupytext's conversion, a set-up cell that
installs the course package where it is missing, MyST roles made readable, glued values
filled in), with the outputs of the chapter's execution merged back from the jupyter-cache
(myst-nb 1.4 renders them from the cache but writes the notebook without them), except the
records of ``dlf.glue``, which only the build reads. So a reader who downloads a chapter gets
its text, tables and plots as the site shows them, and a notebook that runs anywhere.

sphinx-book-theme copies its own version of the notebook there (only when launch services
are configured), so the file is written before the theme builds the download menu and again
after the theme's copy.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the course's packages, when the book is built from a checkout
    sys.path.insert(0, str(ROOT))

import jupytext
import nbformat
from jupyter_cache import get_cache
from sphinx.application import Sphinx
from sphinx.util import logging

from autograder.drivers.files import write_atomic
from autograder.publish.chapters import (
    SETUP_ID,
    chapter_titles,
    glue_values,
    to_chapter_notebook,
)
from autograder.publish.settings import DEFAULTS, Publishing

LOGGER = logging.getLogger(__name__)
GLUE_PREFIX = "application/papermill.record/"


def with_cached_outputs(notebook: nbformat.NotebookNode, cache_path: Path):
    """``notebook`` with the outputs of its executed copy in the cache; None if none matches."""
    try:
        _, merged = get_cache(str(cache_path)).merge_match_into_notebook(notebook)
    except KeyError:
        return None
    return merged


def without_glue_records(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop the outputs that only carry ``glue`` records (nothing a reader can see)."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [
                out
                for out in cell.get("outputs", [])
                if not (out.get("data") and all(k.startswith(GLUE_PREFIX) for k in out["data"]))
            ]
    return notebook


def is_markdown_notebook(app: Sphinx, pagename: str, context: dict) -> bool:
    source = context.get("sourcename", "")
    metadata = app.env.metadata.get(pagename, {})
    return source.endswith((".md", ".md.txt")) and "kernelspec" in metadata


def download_notebook(app: Sphinx, pagename: str) -> nbformat.NotebookNode:
    """The chapter's student notebook, with the cached outputs when there are some."""
    source = Path(app.env.doc2path(pagename))
    raw = jupytext.read(source, fmt="md:myst")
    config = app.env.mystnb_config
    executed = None
    if config.execution_mode == "cache" and config.execution_cache_path:
        executed = with_cached_outputs(
            copy.deepcopy(raw), Path(config.execution_cache_path).resolve()
        )
    if executed is None:
        LOGGER.info(f"{pagename}: no cached execution; the .ipynb download has no outputs")
    values = glue_values(executed) if executed is not None else {}
    settings = Publishing.from_mapping({key: app.config[key] for key in DEFAULTS})
    notebook = to_chapter_notebook(
        executed if executed is not None else raw, source.stem, chapter_titles(source.parent),
        settings, values,
    )  # fmt: skip
    return without_glue_records(notebook)


def is_ours(path: Path) -> bool:
    """Whether ``path`` is a notebook this extension wrote (it has the set-up cell)."""
    try:
        return any(cell.get("id") == SETUP_ID for cell in nbformat.read(path, as_version=4).cells)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_download(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any):
    """Write ``_sources/<page>.ipynb`` and offer it in the download menu."""
    if is_markdown_notebook(app, pagename, context):
        write(app, pagename, context)


def rewrite_after_theme(app: Sphinx, pagename: str, templatename: str, context: dict, doctree):
    """Write it again if the theme replaced it with its own copy."""
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    if is_markdown_notebook(app, pagename, context) and not is_ours(target):
        write(app, pagename, context)


def write(app: Sphinx, pagename: str, context: dict) -> None:
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, nbformat.writes(download_notebook(app, pagename)) + "\n")
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict:
    app.setup_extension("publishing")  # the settings the set-up cell installs from
    # Before the theme builds the download menu (501), and again after its copy (501).
    app.connect("html-page-context", write_download, priority=500)
    app.connect("html-page-context", rewrite_after_theme, priority=700)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
