"""The built site, shared by the site tests and tests/test_book.py: built at most once.

``built_site()`` returns ``_build/html``, building the book first with the README's command
(``jupyter-book build . -n -W --keep-going``) unless it was already built, successfully, from
the current sources (a fingerprint of every file the build reads is kept next to the site).
After a change of an extension (``book/_ext``) it adds ``--all``: Sphinx would not rewrite
the pages whose own sources did not change.
A failed build raises :class:`SiteBuildError` with the end of the build log. Builds from
parallel test workers are serialised by a file lock; the second one finds the site fresh.

``DLF_SITE_OUTPUT=/some/dir`` builds into ``/some/dir/_build/html`` instead (jupyter-book's
``--path-output``), to leave the checkout's ``_build`` alone.

The tests build the site as the pages workflow does, with the publishing settings of
:data:`TEST_PUBLISHING` (a repository and a JupyterHub, on example hosts the browser never
reaches), so the launch links are there to be checked; ``tests/site/test_publishing.py``
checks a build without them.

The browser fixtures (``served_site``, ``browser``) skip when Chromium is missing, except
under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# What the build reads: the configuration, the pages, the notebooks shown, the code they run.
SOURCES = ["_config.yml", "_toc.yml", "book", "exercises", "dlf", "package-lock.json"]
SOURCES += ["autograder/publish"]  # the chapter notebooks and settings the extensions use
SOURCES += ["autograder/assignments"]  # the exercises: their pages, order and summaries
BUILD_TIMEOUT_S = 30 * 60
# Publishing settings of the test build (environment overrides of _config.yml's block).
TEST_PUBLISHING = {
    "DLF_REPOSITORY_URL": "https://github.com/example-org/course",
    "DLF_JUPYTERHUB_URL": "https://hub.example.org",
}
LOG_TAIL = 12_000


class SiteBuildError(RuntimeError):
    """The book did not build; the message ends with the build log's last lines."""


def output_root() -> Path:
    return Path(os.environ.get("DLF_SITE_OUTPUT") or ROOT)


def source_files() -> list[Path]:
    """The files of SOURCES that git would track (so the generated exercise pages are left out)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", *SOURCES],
            cwd=ROOT, capture_output=True, check=True, text=True,
        ).stdout.split("\0")  # fmt: skip
        files = [ROOT / name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):  # no git: every file but the caches
        files = [
            p
            for s in SOURCES
            for p in sorted((ROOT / s).rglob("*"))
            if "__pycache__" not in p.parts
        ]
        files += [ROOT / s for s in SOURCES if (ROOT / s).is_file()]
    return sorted(p for p in files if p.is_file())


def sources_fingerprint(files: list[Path] | None = None) -> str:
    digest = hashlib.sha256()
    for path in source_files() if files is None else files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def machinery_fingerprint() -> str:
    """The extensions (book/_ext and the code they use): Sphinx does not notice its changes."""
    machinery = [p for p in source_files() if p.parent.name == "_ext" or "publish" in p.parts]
    return sources_fingerprint(machinery)


def jupyter_book() -> str:
    beside = Path(sys.executable).with_name("jupyter-book")
    return str(beside) if beside.exists() else (shutil.which("jupyter-book") or "jupyter-book")


def _build(out: Path, everything: bool) -> None:
    command = [jupyter_book(), "build", ".", "-n", "-W", "--keep-going"]
    if everything:  # every page read and written again (executed notebooks stay cached)
        command.append("--all")
    if out != ROOT:
        command += ["--path-output", str(out)]
    log = out / "_build" / "site-build.log"
    with log.open("w") as sink:
        done = subprocess.run(
            command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S,
            env={**os.environ, **TEST_PUBLISHING},
        )  # fmt: skip
    if done.returncode != 0:
        text = log.read_text(errors="replace")
        raise SiteBuildError(
            f"`{' '.join(command)}` exited with {done.returncode} (full log: {log}); "
            f"the log ends with:\n{text[-LOG_TAIL:]}"
        )


@functools.cache
def _built_site() -> Path:
    out = output_root()
    html = out / "_build" / "html"
    (out / "_build").mkdir(parents=True, exist_ok=True)
    stamp = out / "_build" / "site-sources.json"
    with (out / "_build" / ".site-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        now = {
            "sources": sources_fingerprint(),
            "machinery": machinery_fingerprint(),
            "publishing": TEST_PUBLISHING,
        }
        last = json.loads(stamp.read_text()) if stamp.is_file() else {}
        if last != now or not (html / "index.html").is_file():
            stamp.unlink(missing_ok=True)
            _build(out, everything=last.get("machinery") != now["machinery"])
            stamp.write_text(json.dumps(now))
    return html


_FAILURE: list[SiteBuildError] = []


def built_site() -> Path:
    """The built site's folder (``_build/html``), built now if its sources changed."""
    if _FAILURE:  # one failed build per session is enough
        raise _FAILURE[0]
    try:
        return _built_site()
    except SiteBuildError as err:
        _FAILURE.append(err)
        raise


@pytest.fixture(scope="session")
def site() -> Path:
    return built_site()


# ------------------------------------------------------------------ serving and browsing
def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_chromium() -> Path:
    """/usr/bin/chromium, or skip (a failure under CI: the browser tests must run there)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install the Debian package `chromium`"
        if under_ci():
            pytest.fail(f"{reason} (CI is set, so the browser tests may not be skipped)")
        pytest.skip(f"{reason} to run the browser tests")
    return CHROMIUM


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="session")
def served_site(site: Path):
    """The built site on http://127.0.0.1:<free port>/ (a server thread for the session)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class Chromium:
    """A browser context (fresh profile) that refuses every request leaving the machine.

    Refused requests are aborted and listed in ``blocked``: a test fails if it grows.
    """

    LOCAL_HOSTS = ("127.0.0.1", "localhost")

    def __init__(self, context):
        self.context = context
        self.blocked: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in self.LOCAL_HOSTS:
            self.blocked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def new_page(self):
        return self.context.new_page()


def open_browser():
    """Chromium (/usr/bin/chromium) driven by Playwright, offline: see :class:`Chromium`.
    The ``browser`` fixture (tests/conftest.py) is its one session-wide instance: a second
    sync Playwright in the same process fails."""
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with contextlib.ExitStack() as stack:
        profile = stack.enter_context(tempfile.TemporaryDirectory(prefix="dlf-chromium-"))
        playwright = stack.enter_context(sync_playwright())
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), headless=True, args=BROWSER_ARGS,
            viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        stack.callback(context.close)
        yield Chromium(context)
