"""Sphinx extension: serve the site's third-party assets from the site itself.

MathJax 3 comes from the npm package ``mathjax`` (pinned in package.json) and is
copied into ``_static/mathjax`` of the built site, so math renders with no internet.
``_config.yml`` points ``mathjax_path`` at ``mathjax/tex-chtml.js`` (relative to _static).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
MATHJAX_DIST = ROOT / "node_modules" / "mathjax" / "es5"


def mathjax_source() -> Path:
    """Where the vendored MathJax build lies; a clear error if npm was not run."""
    entry = MATHJAX_DIST / "tex-chtml.js"
    if not entry.is_file():
        raise ExtensionError(
            f"MathJax is not installed: {entry} is missing. "
            "Run `npm ci` (the README's set-up command does) to vendor mathjax@3."
        )
    return MATHJAX_DIST


def check_mathjax(app: Sphinx) -> None:
    mathjax_source()


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", check_mathjax)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
