"""The answers of "Check your understanding" are collapsed in the browser until the reader
opens them (sphinx-togglebutton, offline), on every chapter page."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from tests.test_chapter_questions import chapters

pytestmark = [pytest.mark.book, pytest.mark.slow, pytest.mark.xdist_group("book")]

ANSWERS = "section#check-your-understanding div.admonition.dropdown"


def test_answers_are_collapsed_until_opened(browser, served_site):
    page = browser.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    problems = []
    for chapter in chapters():
        page.goto(urljoin(served_site, f"book/{chapter}.html"), wait_until="load")
        answers = page.locator(ANSWERS)
        if answers.count() != 1:
            problems.append(f"{chapter}: {answers.count()} answer blocks")
            continue
        first_answer = answers.locator("li").first
        if first_answer.is_visible():
            problems.append(f"{chapter}: the answers are shown before the reader asks")
            continue
        answers.locator(".admonition-title").click()
        first_answer.wait_for(state="visible", timeout=5_000)
    page.close()
    assert not problems, "\n".join(problems)
    assert not errors, f"console errors: {errors}"
    assert not browser.blocked, f"requests that left the machine: {browser.blocked}"
