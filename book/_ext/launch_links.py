"""Sphinx extension: launch links (Colab, Binder, JupyterHub) that open the right notebook.

All three links are made from one place, ``_config.yml``: ``repository`` (url, branch) and
``launch_buttons`` (the services' addresses, the notebook interface). The formulas are
sphinx-book-theme's, so the page's launch menu and the links written into a page agree.

sphinx-book-theme points a page's launch menu at the page's own source file. Two kinds of
page need another target, and this extension fixes the menu after the theme made it:

- a page built from a copy of a notebook kept elsewhere in the repository (the exercise
  pages: ``book/exercises/<id>.ipynb`` is a build-time copy of ``exercises/<id>/<id>.ipynb``)
  declares the real file in the config value ``launch_paths`` (docname -> path relative to
  the book's root);
- a MyST markdown notebook (a chapter, ``book/<id>.md``) is opened as the notebook the student
  tree holds in its place, ``book/<id>.ipynb`` (``autograder/publish/chapters.py``), which
  Colab, Binder and JupyterHub all open.

The repository and branch are the student tree's (``book/_ext/publishing.py`` puts them in
the theme's options), so students never open the course's sources.

In a page, the role ``{launch}`Colab``` (or ``Binder``, ``JupyterHub``) writes the same link
as the menu's. (A MyST markdown link would not do: myst-parser 3 escapes the ``&`` of a
query string twice.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from docutils import nodes
from sphinx.application import Sphinx

LAUNCH_GROUP = "launch-buttons"  # the label sphinx-book-theme gives the launch menu
UI_PREFIXES = {"classic": "tree", "jupyterlab": "lab/tree"}


@dataclass(frozen=True)
class LaunchSettings:
    """Where the repository is and which launch services are configured."""

    repo_url: str  # https://github.com/<org>/<repo>
    branch: str
    path_to_book: str = ""  # the book's folder in the repository ("" = the root)
    binderhub_url: str = ""
    jupyterhub_url: str = ""
    colab_url: str = ""
    interface: str = "classic"

    @property
    def org_repo(self) -> tuple[str, str]:
        org, repo = self.repo_url.rstrip("/").split("/")[-2:]
        return org, repo

    def repo_path(self, book_path: str) -> str:
        """The repository path of a file given relative to the book's root."""
        return f"{self.path_to_book}/{book_path}" if self.path_to_book else book_path

    @classmethod
    def from_config(cls, config: Any) -> LaunchSettings:
        """Read Jupyter Book's translation of ``_config.yml`` (html_theme_options)."""
        options = config.html_theme_options or {}
        launch = options.get("launch_buttons", {}) or {}
        return cls(
            repo_url=str(options.get("repository_url", "")).rstrip("/"),
            branch=str(options.get("repository_branch") or "main"),
            path_to_book=str(options.get("path_to_docs", "") or "").strip("/"),
            binderhub_url=str(launch.get("binderhub_url", "")).strip("/"),
            jupyterhub_url=str(launch.get("jupyterhub_url", "")).strip("/"),
            colab_url=str(launch.get("colab_url", "")).strip("/"),
            interface=str(launch.get("notebook_interface", "classic")),
        )


def launch_links(settings: LaunchSettings, repo_path: str) -> dict[str, str]:
    """Launch URLs, by service name, for the file ``repo_path`` (relative to the repository).

    Colab is offered for ``.ipynb`` files only; services with no configured URL are left out.
    """
    if not settings.repo_url:
        return {}
    org, repo = settings.org_repo
    ui = UI_PREFIXES.get(settings.interface, "tree")
    links = {}
    if settings.colab_url and repo_path.endswith(".ipynb"):
        links["Colab"] = (
            f"{settings.colab_url}/github/{org}/{repo}/blob/{settings.branch}/{repo_path}"
        )
    if settings.binderhub_url:
        links["Binder"] = (
            f"{settings.binderhub_url}/v2/gh/{org}/{repo}/{settings.branch}"
            f"?urlpath={ui}/{repo_path}"
        )
    if settings.jupyterhub_url:
        query = urlencode(
            {
                "repo": settings.repo_url,
                "urlpath": f"{ui}/{repo}/{repo_path}",
                "branch": settings.branch,
            },
            safe="/",
        )
        links["JupyterHub"] = f"{settings.jupyterhub_url}/hub/user-redirect/git-pull?{query}"
    return links


def fix_launch_menu(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Point the theme's launch menu at the right notebook (see :func:`page_links`)."""
    menu = next(
        (b for b in context.get("header_buttons", []) if b.get("label") == LAUNCH_GROUP), None
    )
    if menu is None:
        return
    links = page_links(app.config, pagename, context.get("sourcename", ""))
    kept = []
    for button in menu["buttons"]:
        name = button.get("text")
        if button.get("type") == "link" and name in ("Colab", "Binder", "JupyterHub"):
            if name not in links:
                continue
            button = {**button, "url": links[name]}
        kept.append(button)
    menu["buttons"] = kept


def page_links(config: Any, docname: str, source_path: str) -> dict[str, str]:
    """The launch links of a page: for its ``launch_paths`` entry, or its own source file
    (a MyST notebook ``.md``: the ``.ipynb`` made from it in the student tree)."""
    settings = LaunchSettings.from_config(config)
    path = config.launch_paths.get(docname, source_path)
    if path.endswith(".md"):
        path = path.removesuffix(".md") + ".ipynb"
    return launch_links(settings, settings.repo_path(path))


def launch_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{launch}`Colab```: a link that opens this page's notebook on that service."""
    env = inliner.document.settings.env
    source_path = str(env.doc2path(env.docname, False))
    links = page_links(env.config, env.docname, source_path)
    service = text.strip()
    if service not in links:
        known = ", ".join(links) or "none (see _config.yml's launch_buttons and repository)"
        message = inliner.reporter.error(
            f"no {service!r} launch link for {env.docname}; this page has: {known}", line=lineno
        )
        return [inliner.problematic(rawtext, rawtext, message)], [message]
    return [nodes.reference(rawtext, service, refuri=links[service], classes=["launch-link"])], []


def setup(app: Sphinx) -> dict:
    app.add_config_value("launch_paths", {}, "html", types=[dict])
    app.add_role("launch", launch_role)
    # sphinx-book-theme builds the menu at priority 501; fix it afterwards.
    app.connect("html-page-context", fix_launch_menu, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
