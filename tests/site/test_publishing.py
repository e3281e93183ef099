"""The publishing settings (one block of _config.yml) drive every button; unset, none is dead."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from autograder.publish.settings import DEFAULTS, Publishing
from tests.site.conftest import ROOT, TEST_PUBLISHING, jupyter_book

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from publishing import theme_options  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
# Addresses that only ever were placeholders: never a live link.
PLACEHOLDERS = re.compile(
    r'href="[^"]*(dl-foundations\.org|github\.com/dl-foundations|executablebooks/jupyter-book)'
)
THEME = {"launch_buttons": {"notebook_interface": "jupyterlab", "thebe": False}}


def test_the_settings_are_one_block_of_the_config():
    block = CONFIG["sphinx"]["config"]
    assert set(DEFAULTS) <= set(block), set(DEFAULTS) - set(block)
    assert not CONFIG.get("repository", {}).get("url"), "set the repository in the block"
    launch = CONFIG.get("launch_buttons", {})
    assert not any(launch.get(k) for k in ("binderhub_url", "jupyterhub_url", "colab_url"))
    # The committed configuration publishes nowhere until a course says where.
    assert Publishing.from_config_file(ROOT / "_config.yml", environ={}).student_repository == ""


def test_the_environment_overrides_the_file():
    settings = Publishing.from_config_file(ROOT / "_config.yml", environ=TEST_PUBLISHING)
    assert settings.student_repository == TEST_PUBLISHING["DLF_REPOSITORY_URL"]
    assert settings.jupyterhub_url == TEST_PUBLISHING["DLF_JUPYTERHUB_URL"]
    assert settings.student_branch == CONFIG["sphinx"]["config"]["student_branch"]
    other = Publishing.from_mapping(
        {"repository_url": "https://github.com/a/b"},
        environ={"DLF_STUDENT_REPOSITORY_URL": "https://github.com/a/public/"},
    )
    assert other.student_repository == "https://github.com/a/public"
    assert other.install_requirement("p") == "p @ git+https://github.com/a/public@student"


def test_without_settings_the_theme_gets_no_buttons():
    options = theme_options(THEME, Publishing())
    assert "launch_buttons" not in options
    assert options["repository_url"] == ""
    assert not options["use_repository_button"] and not options["use_issues_button"]
    # Services without a repository to open are no use either.
    services = Publishing(colab_url="https://colab.research.google.com", jupyterhub_url="https://h")
    assert "launch_buttons" not in theme_options(THEME, services)


def test_with_settings_everything_points_at_the_student_tree():
    settings = Publishing(
        repository_url="https://github.com/org/private",
        student_repository_url="https://github.com/org/public",
        student_branch="published",
        binderhub_url="https://mybinder.org",
    )
    options = theme_options(THEME, settings)
    assert options["repository_url"] == "https://github.com/org/public"
    assert options["repository_branch"] == "published"
    assert options["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert options["launch_buttons"]["jupyterhub_url"] == ""  # unset: left out
    assert options["launch_buttons"]["notebook_interface"] == "jupyterlab"
    assert options["use_repository_button"] and options["use_issues_button"]


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.xdist_group("book")
def test_the_built_site_links_no_placeholder(site):
    bad = []
    for page in sorted(site.rglob("*.html")):
        bad += [
            f"{page.relative_to(site)}: {m[0]}" for m in PLACEHOLDERS.finditer(page.read_text())
        ]
    assert not bad, "\n".join(bad[:20])


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.xdist_group("book")  # it shares the execution cache with the site's build
def test_a_build_without_settings_renders_no_dead_button(tmp_path):
    """Build one chapter with the committed configuration and no DLF_ overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLF_")}
    command = [jupyter_book(), "build", "book/sgd.md", "--config", "_config.yml"]
    command += ["--path-output", str(tmp_path)]  # alone, references to other pages dangle
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    page = next(tmp_path.rglob("sgd.html")).read_text()
    assert 'class="pst-navbar-icon"' in page or "btn" in page  # the theme's header is there
    for dead in ("launch-buttons", "source-repository-button", "Launch on", "git-pull"):
        assert dead not in page, f"{dead!r} in a build without publishing settings"
    assert not PLACEHOLDERS.search(page)
    assert "download-notebook-button" in page, "the chapter's notebook is still offered"
