"""Sphinx extension: the *Check with the autograder* panel of every exercise page.

:mod:`exercise_pages` puts a ``<div class="dlf-grader" data-assignment="<id>">`` on each
exercise page; its static text explains how to grade locally (``python -m autograder
grade``). This extension adds the vanilla script and style that turn it into an upload form
(pick or drop the notebook; its place in the queue and the expected wait; then the parts,
worded as in the feedback notebook) when the book is published with a grading service:
``sphinx.config.grading_service_url`` in ``_config.yml``, or the environment variable
``DLF_GRADING_SERVICE_URL`` at build time, which wins. The URL goes into one small file of
the built site, ``_static/grading-service.js``, so a deployment can repoint a built site.
No CDN: the assets are in ``grader_panel_static/``, copied into ``_static``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sphinx.application import Sphinx

STATIC = Path(__file__).resolve().parent / "grader_panel_static"
CONFIG_FILE = "grading-service.js"
ENV = "DLF_GRADING_SERVICE_URL"


def service_url(configured: str) -> str:
    """The service's base URL (no trailing slash): the environment's, else the config's."""
    url = (os.environ.get(ENV) or configured or "").strip().rstrip("/")
    if url and not url.startswith(("https://", "http://")):
        raise ValueError(f"grading_service_url must be an http(s) URL, not {url!r}")
    return url


def config_script(url: str) -> str:
    """``_static/grading-service.js``: the one place the built site names the service."""
    return (
        "// Written by book/_ext/grader_panel.py from grading_service_url (_config.yml).\n"
        f"window.DLF_GRADING_SERVICE = {json.dumps(url)};\n"
    )


def add_static(app: Sphinx) -> None:
    app.config.html_static_path.append(str(STATIC))


def write_config(app: Sphinx, exception: Exception | None = None) -> None:
    """Write ``_static/grading-service.js``; before the pages are (so that they link it with
    its checksum, as every static file) and again at the end."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / CONFIG_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config_script(service_url(app.config.grading_service_url)))


def setup(app: Sphinx) -> dict:
    app.add_config_value("grading_service_url", "", "html", types=[str])
    app.connect("builder-inited", add_static)
    app.connect("builder-inited", write_config)
    app.connect("build-finished", write_config)
    app.add_js_file(CONFIG_FILE)
    app.add_js_file("grader-panel.js", defer="defer")
    app.add_css_file("grader-panel.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
