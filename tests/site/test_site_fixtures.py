"""The site fixtures (tests/site/conftest.py): when the book is rebuilt, when Chromium may be
missing."""

from __future__ import annotations

import pytest

from tests.site import conftest
from tests.site.conftest import ROOT, require_chromium, source_files, sources_fingerprint


def test_the_fingerprint_covers_the_sources_but_not_the_generated_pages():
    files = {str(p.relative_to(ROOT)) for p in source_files()}
    for needed in ["_config.yml", "_toc.yml", "book/index.md", "book/_ext/exercise_pages.py"]:
        assert needed in files, needed
    assert "exercises/collab/collab.ipynb" in files
    generated = [f for f in files if f.startswith("book/exercises/") and not f.endswith("index.md")]
    assert not generated, generated
    assert not any("__pycache__" in f for f in files)
    assert sources_fingerprint() == sources_fingerprint()


@pytest.mark.parametrize("ci", ["", "0", "false"])
def test_without_chromium_the_browser_tests_are_skipped_locally(monkeypatch, tmp_path, ci):
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        require_chromium()


@pytest.mark.parametrize("ci", ["true", "1"])
def test_without_chromium_the_browser_tests_fail_under_ci(monkeypatch, tmp_path, ci):
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_chromium()
