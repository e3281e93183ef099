"""The built site in a real browser: Chromium driven by Playwright, the site on localhost.

Every page is visited once (a crawl from the home page, then any page it missed); what the
browser saw is recorded and the tests below check it: no console error and no request
leaving the machine, math typeset by the vendored MathJax, plots loaded, links that lead
somewhere, download and launch links that open the right notebook, a search that finds
each chapter. Screenshots of three pages are kept in test-artifacts/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

import pytest
import yaml

from autograder import assignments
from autograder.publish.chapters import SETUP_ID
from autograder.publish.settings import Publishing
from autograder.publish.student_tree import build_student_tree
from tests.site.conftest import ROOT, TEST_PUBLISHING

pytestmark = [pytest.mark.book, pytest.mark.slow, pytest.mark.xdist_group("book")]

ARTIFACTS = ROOT / "test-artifacts"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
EXERCISES: dict[str, list[str]] = assignments.chapters()  # derived from the specs
PAGE_TIMEOUT_MS = 30_000

# What a page looked like once its scripts ran (MathJax included) and its images loaded.
SNAPSHOT_JS = """async () => {
  const wait = (promise) => Promise.race([promise, new Promise(r => setTimeout(r, 15000))]);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await wait(MathJax.startup.promise);
  }
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await wait(Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done); img.addEventListener("error", done);
  }))));
  const math = Array.from(document.querySelectorAll(".math"));
  return {
    links: Array.from(document.querySelectorAll("a[href]"), a => a.href),
    ids: Array.from(document.querySelectorAll("[id], a[name]"), e => e.id || e.name),
    math: math.length,
    unrendered: math.filter(e => !e.querySelector("mjx-container")).length,
    images: images.map(img => [img.currentSrc || img.src, img.naturalWidth]),
    title: (document.querySelector("main h1") || {}).textContent || "",
  };
}"""


def chapters() -> list[str]:
    """Chapter ids: the pages of the captioned parts other than Exercises and Guides."""
    ids = []
    for part in TOC["parts"]:
        if part["caption"] not in ("Exercises", "Guides"):
            ids += [entry["file"].removeprefix("book/") for entry in part["chapters"]]
    return ids


def released(exercise_id: str) -> Path:
    return ROOT / "exercises" / exercise_id / f"{exercise_id}.ipynb"


@dataclass
class Visit:
    """What the browser saw on one page."""

    path: str
    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    math: int = 0
    unrendered: int = 0
    images: list[tuple[str, int]] = field(default_factory=list)
    title: str = ""


def site_pages(site: Path) -> list[str]:
    return sorted(
        str(p.relative_to(site)) for p in site.rglob("*.html") if p.parts[-2:-1] != ("_static",)
    )


@pytest.fixture(scope="session")
def visits(browser, served_site, site) -> dict[str, Visit]:
    """Every page of the site, visited once: a crawl from index.html, then the rest."""
    current: list[Visit] = []
    page = browser.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.on("console", lambda m: current[-1].errors.append(m.text) if m.type == "error" else 0)
    page.on("pageerror", lambda exc: current[-1].errors.append(f"uncaught: {exc}"))
    page.on(
        "response",
        lambda r: current[-1].errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else 0,
    )
    seen: dict[str, Visit] = {}
    queue = ["index.html"]
    leftovers = site_pages(site)
    while queue or leftovers:
        path = queue.pop(0) if queue else leftovers.pop(0)
        if path in seen:
            continue
        current.append(Visit(path))
        blocked_before = len(browser.blocked)
        page.goto(served_site + path, wait_until="load")
        if path == "index.html":  # the home page is a redirect to book/index.html
            page.wait_for_url("**/book/index.html")
        snapshot = page.evaluate(SNAPSHOT_JS)
        visit = current[-1]
        visit.external = browser.blocked[blocked_before:]
        visit.links, visit.ids = snapshot["links"], set(snapshot["ids"])
        visit.math, visit.unrendered = snapshot["math"], snapshot["unrendered"]
        visit.images, visit.title = [tuple(i) for i in snapshot["images"]], snapshot["title"]
        seen[path] = visit
        for link in visit.links:
            target = local_path(link, served_site)
            if target and target.endswith(".html") and target not in seen:
                queue.append(target)
    page.close()
    return seen


def local_path(url: str, served_site: str) -> str | None:
    """The site-relative file a same-site URL names ('' for the site's root), else None."""
    if not url.startswith(served_site):
        return None
    path = unquote(urlsplit(url).path).lstrip("/")
    return path + "index.html" if path == "" or path.endswith("/") else path


def test_every_page_loads_without_console_errors(visits):
    broken = {p: v.errors for p, v in visits.items() if v.errors}
    assert not broken, json.dumps(broken, indent=1)
    assert {"book/index.html", "book/collab.html", "search.html"} <= set(visits)


def test_no_request_leaves_the_machine(visits):
    outside = {p: v.external for p, v in visits.items() if v.external}
    assert not outside, json.dumps(outside, indent=1)


def test_every_page_is_reachable_from_the_home_page(site, visits):
    reached = {"index.html"}
    for visit in visits.values():
        reached |= {urlsplit(u).path.lstrip("/") for u in visit.links}
    orphans = [p for p in site_pages(site) if p.startswith("book/") and p not in reached]
    assert not orphans, orphans


def test_math_is_typeset_by_mathjax(visits):
    with_math = {p: v for p, v in visits.items() if v.math}
    assert "book/sgd.html" in with_math, "the SGD chapter shows no math"
    unrendered = {p: f"{v.unrendered} of {v.math}" for p, v in with_math.items() if v.unrendered}
    assert not unrendered, f"math left untypeset (no mjx-container): {unrendered}"


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_plots_load(visits, chapter):
    images = visits[f"book/{chapter}.html"].images
    assert images, f"{chapter}: no image on the page"
    broken = [src for src, width in images if width == 0]
    assert not broken, f"{chapter}: images that did not load: {broken}"


def test_no_broken_internal_link(site, visits, served_site):
    broken = []
    for page, visit in visits.items():
        for link in visit.links:
            target = local_path(link, served_site)
            if target is None:
                continue
            fragment = urlsplit(link).fragment
            if not (site / target).is_file():
                broken.append(f"{page}: {link} (no file {target})")
            elif fragment and target.endswith(".html"):
                ids = visits[target].ids if target in visits else set()
                if unquote(fragment) not in ids:
                    broken.append(f"{page}: {link} (no #{fragment} in {target})")
    assert not broken, "\n".join(broken)


# ------------------------------------------------------------------ downloads and launching
PUBLISHING = Publishing.from_config_file(ROOT / "_config.yml", environ=TEST_PUBLISHING)


@pytest.fixture(scope="session")
def student_files(tmp_path_factory) -> set[str]:
    """The files of the student tree, which every launch link must open."""
    tree = tmp_path_factory.mktemp("student-tree")
    return set(build_student_tree(tree, ROOT, PUBLISHING, cache=tree / "no-cache"))


def launch_target(url: str) -> tuple[str, str | None] | None:
    """(service, student tree path) of a Colab/Binder/JupyterHub link; None for other links.

    The path is None when the link goes to the service but not to the student tree's
    repository and branch (the publishing settings of the test build), in the shape that
    service understands.
    """
    repo_url = PUBLISHING.student_repository
    org, repo = repo_url.split("/")[-2:]
    branch = PUBLISHING.student_branch
    launch = {
        "colab_url": PUBLISHING.colab_url,
        "binderhub_url": PUBLISHING.binderhub_url,
        "jupyterhub_url": PUBLISHING.jupyterhub_url,
    }
    interface = CONFIG["launch_buttons"].get("notebook_interface", "classic")
    ui = {"jupyterlab": "lab/tree", "classic": "tree"}[interface]
    parts, query = urlsplit(url), parse_qs(urlsplit(url).query)
    host = f"{parts.scheme}://{parts.netloc}"
    if host == launch.get("colab_url", "").rstrip("/"):
        match = re.fullmatch(f"/github/{org}/{repo}/blob/{branch}/(.+)", parts.path)
        return "Colab", match and match[1]
    if host == launch.get("binderhub_url", "").rstrip("/"):
        urlpath = query.get("urlpath", [""])[0]
        ok = parts.path == f"/v2/gh/{org}/{repo}/{branch}" and urlpath.startswith(f"{ui}/")
        return "Binder", urlpath.removeprefix(f"{ui}/") if ok else None
    if host == launch.get("jupyterhub_url", "").rstrip("/"):
        urlpath = query.get("urlpath", [""])[0]
        ok = (
            parts.path == "/hub/user-redirect/git-pull"
            and query.get("repo") == [repo_url]
            and query.get("branch") == [branch]
            and urlpath.startswith(f"{ui}/{repo}/")
        )
        return "JupyterHub", urlpath.removeprefix(f"{ui}/{repo}/") if ok else None
    return None


def launches(visit: Visit) -> dict[str, set[str | None]]:
    found: dict[str, set[str | None]] = {}
    for link in visit.links:
        target = launch_target(link)
        if target:
            found.setdefault(target[0], set()).add(target[1])
    return found


def test_every_launch_link_opens_a_file_of_the_student_tree(visits, student_files):
    bad = []
    for page, visit in visits.items():
        for service, paths in launches(visit).items():
            for path in paths:
                if path is None or path not in student_files:
                    bad.append(f"{page}: {service} link to {path!r}")
                elif service == "Colab" and not path.endswith(".ipynb"):
                    bad.append(f"{page}: Colab cannot open {path}")
    assert not bad, "\n".join(bad)


def downloads(visit: Visit, served_site: str, suffix: str) -> list[str]:
    paths = (local_path(link, served_site) for link in visit.links)
    return sorted({p for p in paths if p and p.endswith(suffix)})


@pytest.mark.parametrize("exercise_id", sorted(EXERCISES))
def test_exercise_page_offers_the_student_notebook(site, visits, served_site, exercise_id):
    visit = visits[f"book/exercises/{exercise_id}.html"]
    linked = {urlsplit(u).path.removeprefix("/") for u in visit.links}
    for chapter in EXERCISES[exercise_id]:
        assert f"book/{chapter}.html" in linked, f"no link to the chapter {chapter}"
    if not released(exercise_id).is_file():
        assert "coming soon" in visit.title, visit.title
        assert not launches(visit), "launch links to a notebook that does not exist"
        return
    notebooks = downloads(visit, served_site, ".ipynb")
    assert f"_sources/book/exercises/{exercise_id}.ipynb" in notebooks, notebooks  # header
    assert any(p.startswith("_downloads/") for p in notebooks), notebooks  # in the page
    for path in notebooks:  # byte for byte the released student notebook
        assert (site / path).read_bytes() == released(exercise_id).read_bytes(), path
    expected = {f"exercises/{exercise_id}/{exercise_id}.ipynb"}
    assert launches(visit) == {s: expected for s in ("Colab", "Binder", "JupyterHub")}


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_page_offers_its_executed_notebook(site, visits, served_site, chapter):
    visit = visits[f"book/{chapter}.html"]
    assert f"_sources/book/{chapter}.ipynb" in downloads(visit, served_site, ".ipynb")
    notebook = json.loads((site / "_sources" / "book" / f"{chapter}.ipynb").read_text())
    outputs = sum(len(c.get("outputs", [])) for c in notebook["cells"])
    assert outputs > 0, f"{chapter}.ipynb has no outputs: not the executed notebook"
    first_code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    assert first_code["id"] == SETUP_ID, f"{chapter}.ipynb does not start with its set-up cell"
    # Colab, Binder and JupyterHub open the chapter's notebook in the student tree.
    services = ("Colab", "Binder", "JupyterHub")
    assert launches(visit) == {s: {f"book/{chapter}.ipynb"} for s in services}


def test_chapters_link_to_their_exercises(visits):
    missing = []
    for exercise_id, chapter_ids in EXERCISES.items():
        for chapter in chapter_ids:
            linked = {urlsplit(u).path for u in visits[f"book/{chapter}.html"].links}
            if f"/book/exercises/{exercise_id}.html" not in linked:
                missing.append(f"book/{chapter}.md has no {{ref}}`exercise-{exercise_id}`")
    assert not missing, "\n".join(missing)


# ------------------------------------------------------------------ search and screenshots
def title_word(title: str) -> str:
    """The longest word of a title: what a reader would type to find the chapter again."""
    return max(re.findall(r"[A-Za-z]{4,}", title), key=len)


def test_search_finds_every_chapter(browser, served_site, visits):
    page = browser.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    misses = []
    for chapter in chapters():
        term = title_word(visits[f"book/{chapter}.html"].title)
        page.goto(f"{served_site}search.html?q={term}", wait_until="load")
        page.wait_for_function(
            "() => (document.querySelector('#search-results .search-summary') || {}).textContent"
        )
        hits = page.eval_on_selector_all(
            "#search-results ul.search li a", "as => as.map(a => a.href)"
        )
        if not any(urlsplit(h).path == f"/book/{chapter}.html" for h in hits):
            misses.append(f"{term!r} did not find book/{chapter}.html among {len(hits)} results")
    page.close()
    assert not misses, "\n".join(misses)
    assert not browser.blocked, f"requests that left the machine: {browser.blocked}"


SCREENSHOTS = {
    "home": "book/index.html",
    "chapter-collab": "book/collab.html",
    "exercise-collab": "book/exercises/collab.html",
}


@pytest.mark.parametrize("name", sorted(SCREENSHOTS))
def test_screenshot(browser, served_site, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page()
    page.goto(urljoin(served_site, SCREENSHOTS[name]), wait_until="load")
    page.evaluate(SNAPSHOT_JS)  # math typeset, images loaded
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    page.close()
    assert target.stat().st_size > 10_000, f"{target} looks empty"
    assert not browser.blocked, f"requests that left the machine: {browser.blocked}"
