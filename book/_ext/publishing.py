"""Sphinx extension: the publishing settings, one block of ``_config.yml``, drive every button.

The block (under ``sphinx.config``; the keys and their environment overrides are listed in
``autograder/publish/settings.py``) says where the student tree is published and which launch
services exist. When the configuration is read, this fills the theme's options from it:

- ``repository_url`` / ``repository_branch``: the student repository and branch, so the
  repository button and every launch link (Colab, Binder, JupyterHub, via ``launch_links``)
  open the student tree, never the course's sources;
- ``launch_buttons``: only the services that are set, and none without a repository;
- ``use_repository_button`` / ``use_issues_button``: only with a repository.

So a build without settings shows no button or link that leads nowhere (sphinx-book-theme
would otherwise point at placeholders, or fail). It also marks the build for
``dlf.glue`` (``DLF_BOOK_BUILD``), whose records are only written while the book executes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the course's packages, when the book is built from a checkout
    sys.path.insert(0, str(ROOT))

from autograder.publish.settings import DEFAULTS, Publishing  # noqa: E402

SERVICES = ("binderhub_url", "jupyterhub_url", "colab_url")
REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button")


def settings_of(config: Config) -> Publishing:
    return Publishing.from_mapping({key: config[key] for key in DEFAULTS})


def theme_options(options: dict, settings: Publishing) -> dict:
    """The theme's options with the repository, launch services and buttons of ``settings``."""
    options = dict(options)
    repository = settings.student_repository
    options["repository_url"] = repository
    options["repository_branch"] = settings.student_branch
    launch = dict(options.get("launch_buttons") or {})
    for service in SERVICES:
        launch[service] = getattr(settings, service) if repository else ""
    if any(launch[s] for s in SERVICES):
        options["launch_buttons"] = launch
    else:
        options.pop("launch_buttons", None)  # the theme would build an empty or broken menu
    for button in REPOSITORY_BUTTONS:
        options[button] = bool(repository)
    options["use_edit_page_button"] = False  # the student tree has notebooks, not the sources
    return options


def apply_settings(app: Sphinx, config: Config) -> None:
    os.environ["DLF_BOOK_BUILD"] = "1"
    config.html_theme_options = theme_options(config.html_theme_options or {}, settings_of(config))


def setup(app: Sphinx) -> dict:
    for key, default in DEFAULTS.items():
        app.add_config_value(key, default, "html", types=[str])
    app.connect("config-inited", apply_settings, priority=50)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
