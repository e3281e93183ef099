"""Launch links (book/_ext/launch_links.py): the theme's formulas, for the right file."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from tests.site.conftest import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from launch_links import LaunchSettings, fix_launch_menu, launch_links, page_links  # noqa: E402

OPTIONS = {
    "repository_url": "https://github.com/org/course",
    "repository_branch": "main",
    "launch_buttons": {
        "notebook_interface": "jupyterlab",
        "binderhub_url": "https://mybinder.org",
        "jupyterhub_url": "https://hub.example.org/",
        "colab_url": "https://colab.research.google.com",
    },
}


class Config(SimpleNamespace):
    """Sphinx's config answers both config.name and config["name"]."""

    def __getitem__(self, name):
        return getattr(self, name)


def config(**options) -> Config:
    return Config(html_theme_options={**OPTIONS, **options}, launch_paths={})


def test_links_to_a_notebook():
    links = launch_links(LaunchSettings.from_config(config()), "exercises/a/a.ipynb")
    assert links == {
        "Colab": "https://colab.research.google.com/github/org/course/blob/main/exercises/a/a.ipynb",
        "Binder": "https://mybinder.org/v2/gh/org/course/main?urlpath=lab/tree/exercises/a/a.ipynb",
        "JupyterHub": "https://hub.example.org/hub/user-redirect/git-pull?"
        "repo=https%3A//github.com/org/course&urlpath=lab/tree/course/exercises/a/a.ipynb"
        "&branch=main",
    }


def test_colab_only_opens_notebooks_and_unset_services_are_left_out():
    settings = LaunchSettings.from_config(config())
    assert set(launch_links(settings, "book/sgd.md")) == {"Binder", "JupyterHub"}
    assert set(page_links(config(), "book/sgd", "book/sgd.md")) == {"Colab", "Binder", "JupyterHub"}
    bare = config(launch_buttons={"colab_url": "https://colab.research.google.com"})
    assert set(launch_links(LaunchSettings.from_config(bare), "x.ipynb")) == {"Colab"}
    assert launch_links(LaunchSettings.from_config(config(repository_url="")), "x.ipynb") == {}


def test_a_book_in_a_folder_of_the_repository():
    settings = LaunchSettings.from_config(config(path_to_docs="docs/"))
    assert settings.repo_path("exercises/a/a.ipynb") == "docs/exercises/a/a.ipynb"
    assert launch_links(settings, settings.repo_path("x.ipynb"))["Colab"].endswith(
        "/blob/main/docs/x.ipynb"
    )


def theme_menu(pagename: str, source: str) -> dict:
    """The launch menu sphinx-book-theme itself makes for a page (run on stand-ins)."""
    from sphinx_book_theme.header_buttons.launch import add_launch_buttons

    app = SimpleNamespace(
        config=config(),
        env=SimpleNamespace(doc2path=lambda name: f"/book/{source}", metadata={pagename: {}}),
        outdir="/nonexistent/html",
    )
    context = {
        "pagename": pagename,
        "sourcename": source,
        "page_source_suffix": ".ipynb",
        "header_buttons": [],
        "github_url": "https://github.com",
        "github_user": "org",
        "github_repo": "course",
    }
    add_launch_buttons(app, pagename, "page.html", context, None)
    return app, context


def test_our_links_are_the_themes_and_the_menu_is_pointed_at_the_real_notebook():
    app, context = theme_menu("book/exercises/a", "book/exercises/a.ipynb")
    theirs = {b["text"]: b["url"] for b in context["header_buttons"][0]["buttons"]}
    ours = launch_links(LaunchSettings.from_config(app.config), "book/exercises/a.ipynb")
    assert theirs == ours
    app.config.launch_paths = {"book/exercises/a": "exercises/a/a.ipynb"}
    fix_launch_menu(app, "book/exercises/a", "page.html", context, None)
    fixed = {b["text"]: b["url"] for b in context["header_buttons"][0]["buttons"]}
    assert fixed == launch_links(LaunchSettings.from_config(app.config), "exercises/a/a.ipynb")


def test_the_menu_of_a_markdown_notebook_opens_its_notebook_in_the_student_tree():
    app, context = theme_menu("book/sgd", "book/sgd.ipynb")
    context["sourcename"] = "book/sgd.md"
    fix_launch_menu(app, "book/sgd", "page.html", context, None)
    buttons = {b["text"]: b["url"] for b in context["header_buttons"][0]["buttons"]}
    assert set(buttons) == {"Colab", "Binder", "JupyterHub"}
    assert buttons == launch_links(LaunchSettings.from_config(app.config), "book/sgd.ipynb")
    assert all(
        url.endswith("book/sgd.ipynb") or "book/sgd.ipynb&" in url for url in buttons.values()
    )
