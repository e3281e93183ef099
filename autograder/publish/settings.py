"""The publishing settings: every address the site and the student tree point at, in one place.

They live in one block of ``_config.yml`` (under ``sphinx.config``; the book's extension
``book/_ext/publishing.py`` reads the same keys) and each may be overridden by an
environment variable, which is how the pages workflow passes the repository it runs in:

=========================  ==============================  =====================================
key                        environment variable            what it is
=========================  ==============================  =====================================
``repository_url``         ``DLF_REPOSITORY_URL``          the course's repository (GitHub)
``student_repository_url`` ``DLF_STUDENT_REPOSITORY_URL``  where the student tree is published;
                                                           empty: ``repository_url``
``student_branch``         ``DLF_STUDENT_BRANCH``          the student tree's branch
``jupyterhub_url``         ``DLF_JUPYTERHUB_URL``          a course JupyterHub with nbgitpuller
``binderhub_url``          ``DLF_BINDERHUB_URL``           a BinderHub (mybinder.org)
``colab_url``              ``DLF_COLAB_URL``               Google Colab
=========================  ==============================  =====================================

An empty value means "not set up": whatever depends on it is left out, so a build without
them shows no button or link that leads nowhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

DEFAULTS = {
    "repository_url": "",
    "student_repository_url": "",
    "student_branch": "student",
    "jupyterhub_url": "",
    "binderhub_url": "",
    "colab_url": "",
}


def env_name(key: str) -> str:
    return f"DLF_{key.upper()}"


@dataclass(frozen=True)
class Publishing:
    """Where the course is published (see the module doc); empty strings are unset."""

    repository_url: str = ""
    student_repository_url: str = ""
    student_branch: str = "student"
    jupyterhub_url: str = ""
    binderhub_url: str = ""
    colab_url: str = ""

    @classmethod
    def from_mapping(cls, values: dict[str, Any], environ: dict[str, str] | None = None):
        """From config values (missing ones take the defaults), environment overriding them."""
        environ = os.environ if environ is None else environ
        chosen = {}
        for field in fields(cls):
            value = environ.get(env_name(field.name), values.get(field.name, DEFAULTS[field.name]))
            chosen[field.name] = str(value or "").strip().rstrip("/")
        chosen["student_branch"] = chosen["student_branch"] or DEFAULTS["student_branch"]
        return cls(**chosen)

    @classmethod
    def from_config_file(cls, path: Path, environ: dict[str, str] | None = None):
        """From the ``sphinx.config`` block of a Jupyter Book ``_config.yml``."""
        config = yaml.safe_load(Path(path).read_text()) or {}
        block = (config.get("sphinx") or {}).get("config") or {}
        return cls.from_mapping(block, environ)

    @property
    def student_repository(self) -> str:
        """The repository students get (launch links, the install line); "" if none."""
        return self.student_repository_url or self.repository_url

    def install_requirement(self, package: str) -> str:
        """``<package> @ git+<student repository>@<branch>``; "" when there is no repository."""
        if not self.student_repository:
            return ""
        return f"{package} @ git+{self.student_repository}@{self.student_branch}"
