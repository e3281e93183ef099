"""The exercise page's *Check with the autograder* panel in a real browser (Chromium via
Playwright, offline): a reader uploads a correct and a wrong notebook on the built site and
reads the scores and the parts' feedback on the page; without a service the panel explains
local grading. The site is the shared build (tests/site/conftest.py); the service URL goes
in its one configuration file, ``_static/grading-service.js``, as a deployment would set it."""

from __future__ import annotations

import functools
import sys
import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.service.conftest import Service, notebook_bytes, require_bwrap
from tests.site.conftest import ROOT, Chromium, _QuietHandler, built_site
from tests.submissions import replace_in_cell, source_notebook

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from grader_panel import config_script, service_url  # noqa: E402

pytestmark = [
    pytest.mark.task("service"),
    pytest.mark.slow,
    pytest.mark.book,
    pytest.mark.xdist_group("book"),
]


def test_the_configuration_file_names_the_service(monkeypatch):
    monkeypatch.delenv("DLF_GRADING_SERVICE_URL", raising=False)
    assert service_url("") == ""
    assert service_url("https://grader.example.org/") == "https://grader.example.org"
    monkeypatch.setenv("DLF_GRADING_SERVICE_URL", "http://127.0.0.1:9")
    assert service_url("https://grader.example.org") == "http://127.0.0.1:9"
    assert 'window.DLF_GRADING_SERVICE = "http://127.0.0.1:9";' in config_script(
        "http://127.0.0.1:9"
    )
    monkeypatch.setenv("DLF_GRADING_SERVICE_URL", "javascript:alert(1)")
    with pytest.raises(ValueError):
        service_url("")


@pytest.fixture(scope="module")
def site_url():
    handler = functools.partial(_QuietHandler, directory=str(built_site()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_reader_checks_a_correct_and_a_wrong_notebook_on_the_page(
    browser: Chromium, site_url, tmp_path
):
    require_bwrap()
    service = Service(
        tmp_path, "--workers", "1", "--warm", "collab:quick", "--allow-origin", site_url
    ).start()
    page = browser.new_page()
    try:
        page.goto(f"{site_url}/book/exercises/collab.html")
        panel = page.locator(".dlf-grader")
        assert panel.get_attribute("data-ready") == "local"  # the default build: no service
        assert "python -m autograder grade collab.ipynb" in panel.inner_text()

        page.route(
            "**/_static/grading-service.js*",  # with its ?v=<checksum>
            lambda route: route.fulfill(
                body=config_script(service.url), content_type="text/javascript"
            ),
        )
        page.reload()
        page.wait_for_selector(".dlf-grader[data-ready=service]")
        right = tmp_path / "right" / "collab.ipynb"
        wrong = tmp_path / "wrong" / "collab.ipynb"
        for path, nb in [
            (right, source_notebook("collab")),
            (wrong, replace_in_cell(source_notebook("collab"), "sigmoid_range-solution",
                                    "* (high - low) + low", "* high + low")),
        ]:  # fmt: skip
            path.parent.mkdir()
            path.write_bytes(notebook_bytes(nb))
        status = page.locator(".dlf-grader-status")
        page.check(".dlf-grader-quick")
        page.set_input_files(".dlf-grader-file", str(right))
        page.wait_for_function(
            "document.querySelector('.dlf-grader-status').textContent.startsWith('Score')",
            timeout=120_000,
        )
        assert status.inner_text() == "Score: 8 / 8"
        assert page.locator(".dlf-grader-part.dlf-pass").count() == 5

        page.set_input_files(".dlf-grader-file", str(wrong))
        page.wait_for_function(
            "document.querySelector('.dlf-grader-status').textContent.startsWith('Score: 5')",
            timeout=120_000,
        )
        sigmoid = page.locator(".dlf-grader-part[data-part=sigmoid_range]").inner_text()
        assert "[FAIL] sigmoid_range (sigmoid_range): 0 / 1" in sigmoid
        assert "Likely mistake" in sigmoid and "scaled by `high`" in sigmoid
        link = page.locator(".dlf-grader-link").get_attribute("href")
        assert link.startswith(f"{service.url}/submissions/")
        assert browser.blocked == []
    finally:
        page.close()
        service.stop()
