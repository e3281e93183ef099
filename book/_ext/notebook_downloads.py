"""Sphinx extension: a chapter's ``.ipynb`` download carries the outputs of its execution.

For a MyST markdown notebook (``book/<id>.md``), sphinx-book-theme offers in its download menu
the notebook myst-nb wrote to ``jupyter_execute/``, copied to ``_sources/book/<id>.ipynb``.
With ``execute_notebooks: cache`` that notebook has no outputs: myst-nb 1.4 takes them from
the jupyter-cache while it renders the page and writes the notebook as it read it. Here the
outputs are merged back from the same cache, so a reader who downloads a chapter gets its
text, tables and plots as the site shows them (and can run it again).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat
from jupyter_cache import get_cache
from sphinx.application import Sphinx
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)


def with_cached_outputs(notebook: nbformat.NotebookNode, cache_path: Path):
    """``notebook`` with the outputs of its executed copy in the cache; None if none matches."""
    try:
        _, merged = get_cache(str(cache_path)).merge_match_into_notebook(notebook)
    except KeyError:
        return None
    return merged


def add_outputs(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any):
    """After the theme copied the page's notebook into ``_sources``, put its outputs in."""
    source = context.get("ipynb_source")  # set by sphinx-book-theme for markdown notebooks
    config = app.env.mystnb_config
    if not source or config.execution_mode != "cache" or not config.execution_cache_path:
        return
    target = Path(app.outdir) / "_sources" / source
    if not target.is_file():
        return
    notebook = nbformat.read(target, as_version=4)
    if any(cell.get("outputs") for cell in notebook.cells):
        return
    merged = with_cached_outputs(notebook, Path(config.execution_cache_path).resolve())
    if merged is None:
        LOGGER.info(f"{pagename}: no cached execution; the .ipynb download has no outputs")
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(nbformat.writes(merged), encoding="utf-8")
    os.replace(tmp, target)


def setup(app: Sphinx) -> dict:
    # sphinx-book-theme copies the notebook at priority 501.
    app.connect("html-page-context", add_outputs, priority=700)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
