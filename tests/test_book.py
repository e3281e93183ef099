"""The book builds strictly (-n -W --keep-going) and every chapter carries executed outputs
and its plots: a broken cell, a warning or a dangling reference fails here."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.site.conftest import ROOT, built_site

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]


@pytest.fixture(scope="session")
def site():
    """The built site (one strict build per session, shared with tests/site)."""
    return built_site()


def chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part.get("chapters", [])]
    return [f for f in files if f.startswith("book/") and (ROOT / f"{f}.md").is_file()
            and "kernelspec:" in (ROOT / f"{f}.md").read_text()]  # fmt: skip


def test_every_topic_has_an_executable_chapter():
    names = {c.split("/")[-1] for c in chapters()}
    expected = {"collab", "tabular", "sgd", "neural_net", "activations", "optimizers",
                "regularization", "convolutions", "rnns", "finetuning", "using_models",
                "schedules", "batchnorm", "lstm", "data_loading"}  # fmt: skip
    assert expected <= names, expected - names


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_page_has_outputs_and_plots(site, chapter):
    page = (site / f"{chapter}.html").read_text()
    outputs = re.findall(r'class="cell_output docutils container"', page)
    images = re.findall(r"<img[^>]+(?:_images/|data:image/png)", page)
    assert len(outputs) >= 5, f"{chapter}: only {len(outputs)} executed outputs"
    assert images, f"{chapter}: no plot in the page"
    assert "Traceback (most recent call last)" not in page, f"{chapter}: an error was rendered"
    assert f"_sources/{chapter}.ipynb" in page or (site / "_sources" / f"{chapter}.ipynb").is_file()


def test_math_is_served_from_the_site(site):
    assert (site / "_static/mathjax/tex-chtml.js").is_file()
    page = (site / "book/collab.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page
    assert "cdn.jsdelivr" not in page and "mathjax@3/es5" not in page
