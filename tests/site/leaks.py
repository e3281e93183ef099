"""Find the text of solutions and hidden tests where students can read it.

In an nbgrader source notebook (``solutions/<id>/*.ipynb``) the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, and between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS``, must never reach students. A *secret* is such a line that says
something of its own:

- at least ``MIN_CHARS`` characters once whitespace is removed (``return x`` is no secret);
- not public anyway: it is found neither outside the regions of the source notebooks (the
  stubs, the visible tests) nor in the chapters (``book/*.md``), which teach with code of
  their own; a chapter that shows a line of a solution has chosen to, that is no leak.

Texts are compared after :func:`normalise` (all whitespace removed, one kind of quote, no
trailing commas), so reindenting, rewrapping or reformatting a line does not hide it. Files
are read as a reader sees them: notebooks cell by cell (sources and text outputs), HTML
without its tags and with its entities decoded, other files as text (binary files skipped).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MIN_CHARS = 20
REGIONS = {
    "solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "hidden tests": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
}
SKIP_DIRS = {"mathjax", ".ipynb_checkpoints", "__pycache__"}  # third-party or caches
TAG = re.compile(r"<[^>]*>")
WHITESPACE = re.compile(r"\s+")
TRAILING_COMMA = re.compile(r",(?=[)\]}])")


@dataclass(frozen=True)
class Secret:
    """One line of a solution or hidden-test region: as written, and normalised."""

    line: str
    key: str
    notebook: str
    region: str


@dataclass(frozen=True)
class Leak:
    """A secret found in a file students can read."""

    path: str
    secret: Secret

    def __str__(self) -> str:
        s = self.secret
        return f"{self.path}: {s.region} line of {s.notebook}: {s.line!r}"


def normalise(text: str) -> str:
    """Whitespace removed, quotes unified, trailing commas dropped: reformat-proof text."""
    text = WHITESPACE.sub("", text).replace("'", '"')
    return TRAILING_COMMA.sub("", text)


def cell_sources(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]


def split_regions(source: str) -> tuple[dict[str, list[str]], list[str]]:
    """The lines inside each kind of region, and the lines outside all of them."""
    inside: dict[str, list[str]] = {kind: [] for kind in REGIONS}
    outside: list[str] = []
    current = None
    for line in source.splitlines():
        marker = line.strip()
        for kind, (begin, end) in REGIONS.items():
            if marker == begin:
                current = kind
                break
            if marker == end:
                current = None
                break
        else:
            (inside[current] if current else outside).append(line)
    return inside, outside


def find_secrets(
    notebooks: Iterable[Path], public_texts: Iterable[str], root: Path
) -> list[Secret]:
    """The secret lines of ``notebooks``; lines also in ``public_texts`` don't count."""
    candidates, public = [], []
    for notebook in notebooks:
        for source in cell_sources(notebook):
            inside, outside = split_regions(source)
            public.append("\n".join(outside))
            for kind, lines in inside.items():
                name = str(notebook.relative_to(root))
                candidates += [Secret(ln.strip(), normalise(ln), name, kind) for ln in lines]
    public_text = "\n".join(normalise(t) for t in [*public, *public_texts])
    unique = {s.key: s for s in candidates if len(s.key) >= MIN_CHARS and s.key not in public_text}
    return list(unique.values())


def course_secrets(root: Path) -> list[Secret]:
    """The secrets of every source notebook of the course, the chapters being public."""
    chapters = [p.read_text() for p in sorted((root / "book").glob("*.md"))]
    return find_secrets(sorted((root / "solutions").glob("*/*.ipynb")), chapters, root)


def readable_text(path: Path) -> str | None:
    """What a reader of ``path`` sees, as text; None for a binary file."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    text = data.decode("utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            return notebook_text(json.loads(text))
        except (ValueError, KeyError, TypeError):
            return text
    if path.suffix in (".html", ".htm"):
        return html.unescape(TAG.sub("", text))
    return text


def notebook_text(notebook: dict) -> str:
    """Every cell's source and every text output of a notebook."""
    parts = []
    for cell in notebook.get("cells", []):
        parts.append("".join(cell.get("source", "")))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    text = "".join(value) if isinstance(value, list) else str(value)
                    parts.append(html.unescape(TAG.sub("", text)) if "html" in mime else text)
    return "\n".join(parts)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not SKIP_DIRS & set(p.parts))


def find_leaks(secrets: list[Secret], folders: Iterable[Path], root: Path) -> list[Leak]:
    """Every (file, secret) pair where the secret appears in a file under ``folders``."""
    leaks = []
    for folder in folders:
        for path in files_under(folder):
            text = readable_text(path)
            if text is None:
                continue
            haystack = normalise(text)
            shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
            leaks += [Leak(shown, s) for s in secrets if s.key in haystack]
    return leaks
