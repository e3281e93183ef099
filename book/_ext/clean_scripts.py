"""Sphinx extension: each script at most once per page, so pages load without console errors.

Jupyter Book 1's extension stack adds some inline scripts twice to every page (sphinx-thebe's
configuration, ``const THEBE_JS_URL = ...``, and sphinx-togglebutton's). A ``const`` declared
twice is an error in the browser's console ("Identifier 'THEBE_JS_URL' has already been
declared"). This drops the repeats; the first copy, in its original place, is kept.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def script_key(script: Any) -> tuple:
    """What makes two script tags the same: the file, or the inline body, and the attributes."""
    attributes = getattr(script, "attributes", {}) or {}
    filename = getattr(script, "filename", str(script)) or ""  # inline: None or ""
    return (str(filename), tuple(sorted(attributes.items())))


def drop_repeated_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
