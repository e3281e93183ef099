"""HTML pages a person can read and link to: a submission's result, and the service's home.

Plain server-rendered HTML with inline CSS and no script (a page still being graded reloads
itself every two seconds). Every value from a submission is escaped.
"""

from __future__ import annotations

from html import escape

from autograder.result import PRINTED

STYLE = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;
color:#1d1d1f;line-height:1.5}
.part{border:1px solid #ccc;border-radius:6px;padding:.5rem .8rem;margin:.6rem 0}
.pass{border-left:6px solid #2e7d32}.fail{border-left:6px solid #c62828}
.muted{color:#666;font-size:.9em}table{border-collapse:collapse}td{padding:0 .8rem 0 0}
"""


def _page(title: str, body: str, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="2">' if refresh else ""
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{meta}'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _phases(phases: dict) -> str:
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(moment or '-')}</td></tr>"
        for name, moment in phases.items()
    )
    return f'<table class="muted">{rows}</table>'


def part_html(part: dict) -> str:
    passed = part.get("passed")
    mark = "PASS" if passed else "FAIL"
    messages = "".join(f"<li>{escape(str(m))}</li>" for m in part.get("messages", []))
    if part.get("printed"):
        messages += f"<li>{PRINTED}<pre>{escape(str(part['printed']))}</pre></li>"
    return (
        f'<div class="part {"pass" if passed else "fail"}" data-part="{escape(part["id"])}">'
        f"<strong>[{mark}] {escape(part['id'])}</strong> ({escape(part['title'])}): "
        f"{part['points']:g} / {part['max_points']:g}<ul>{messages}</ul></div>"
    )


def submission_page(info: dict) -> str:
    """The result of one submission (``info``: what ``GET /api/submissions/{id}`` gives)."""
    title = f"Assignment {info['assignment']}: {info['filename']}"
    head = f"<h1>{escape(title)}</h1>"
    state = info["state"]
    result = info.get("result")
    if state in ("queued", "running"):
        where = (
            f"number {info['position']} in the queue" if state == "queued" else "being graded now"
        )
        body = (
            f"<p>This submission is {escape(where)}; expected within about "
            f"{info['expected_wait_seconds']:g} s. This page reloads itself.</p>"
        )
        return _page(title, head + body + _phases(info["phases"]), refresh=True)
    if state == "failed" or result is None:
        body = f"<p>{escape(info.get('error') or 'No result.')}</p>"
    elif result["status"] != "graded":
        body = f"<p>Could not grade: {escape(str(result.get('error')))}</p>"
    else:
        body = f"<p><strong>Score: {result['score']:g} / {result['max_score']:g}</strong></p>"
        body += "".join(part_html(p) for p in result["parts"])
        if result.get("warnings"):
            notes = "".join(f"<li>{escape(w)}</li>" for w in result["warnings"])
            body += f"<p>Notes:</p><ul>{notes}</ul>"
        body += (
            f'<p class="muted">Graded on {escape(result["device"])} in '
            f"{result['seconds']:.2f} s; isolation: {escape(result['isolation'])}</p>"
        )
    return _page(title, head + body + _phases(info["phases"]))


def home_page(listing: list[dict]) -> str:
    items = "".join(
        f"<li><code>{escape(a['id'])}</code>: "
        + ", ".join(escape(p["id"]) for p in a["parts"])
        + "</li>"
        for a in listing
    )
    body = (
        "<h1>Deep Learning Foundations autograder</h1>"
        "<p>Submit an exercise notebook from its page in the book, or with "
        "<code>curl -F file=@collab.ipynb &lt;this address&gt;/api/assignments/collab/submissions"
        '</code>. The API is described at <a href="docs">docs</a> '
        '(<a href="openapi.json">openapi.json</a>).</p>'
        f"<p>Assignments and their parts:</p><ul>{items}</ul>"
    )
    return _page("Deep Learning Foundations autograder", body)
