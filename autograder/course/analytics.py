"""Class analytics: what did the class miss? An HTML page with plots, and CSV tables.

From the stored results of one assignment (:func:`autograder.course.batch.results`):

- ``scores.csv``: one row per student, total and points per part;
- ``parts.csv``: per part, how many were graded and failed, and the failure rate;
- ``messages.csv``: the most common feedback messages of failing parts, with numbers
  masked (``#``) so that the same mistake on different probes counts once per student;
- ``report.html``: the score distribution, the failure rate of each part and the top
  messages, self-contained (plots embedded as PNG).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.result import GradeResult
from autograder.spec import Assignment

NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
TOP_MESSAGES = 15


def normalise(message: str) -> str:
    """``message`` with its numbers masked, so variants of one mistake group together."""
    return NUMBER.sub("#", message.strip())


@dataclass
class PartStats:
    id: str
    title: str
    max_points: float
    graded: int = 0
    failed: int = 0

    @property
    def failure_rate(self) -> float:
        return self.failed / self.graded if self.graded else 0.0


@dataclass
class ClassStats:
    """The numbers behind the report."""

    assignment: str
    max_score: float
    scores: dict[str, float] = field(default_factory=dict)  # graded students only
    ungradable: dict[str, str] = field(default_factory=dict)
    parts: list[PartStats] = field(default_factory=list)
    messages: Counter = field(default_factory=Counter)  # (part id, message) -> students

    @property
    def students(self) -> int:
        return len(self.scores) + len(self.ungradable)


def class_stats(assignment: Assignment, results: dict[str, GradeResult]) -> ClassStats:
    parts = {p.id: PartStats(p.id, p.title, 0.0) for p in assignment.parts}
    stats = ClassStats(assignment.id, 0.0, parts=list(parts.values()))
    for student, result in sorted(results.items()):
        if result.status != "graded":
            stats.ungradable[student] = str(result.error)
            continue
        stats.scores[student] = result.score
        stats.max_score = max(stats.max_score, result.max_score)
        for part in result.parts:
            entry = parts.setdefault(part.id, PartStats(part.id, part.title, 0.0))
            entry.max_points = max(entry.max_points, part.max_points)
            entry.graded += 1
            if not part.passed:
                entry.failed += 1
                for message in {normalise(m) for m in part.messages}:
                    stats.messages[(part.id, message)] += 1
    stats.parts = list(parts.values())  # the assignment's parts, then any others seen
    return stats


# ------------------------------------------------------------------ tables
def write_tables(stats: ClassStats, results: dict[str, GradeResult], out: Path) -> None:
    part_ids = [p.id for p in stats.parts]
    with open(out / "scores.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "status", "score", "max_score", *part_ids])
        for student, result in sorted(results.items()):
            points = {p.id: p.points for p in result.parts}
            writer.writerow(
                [student, result.status, f"{result.score:g}", f"{result.max_score:g}"]
                + [f"{points[p]:g}" if p in points else "" for p in part_ids]
            )
    with open(out / "parts.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["part", "title", "max_points", "graded", "failed", "failure_rate"])
        for p in stats.parts:
            writer.writerow(
                [p.id, p.title, f"{p.max_points:g}", p.graded, p.failed, f"{p.failure_rate:.3f}"]
            )
    with open(out / "messages.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["part", "students", "message"])
        for (part, message), count in stats.messages.most_common():
            writer.writerow([part, count, message])


# ------------------------------------------------------------------- plots
def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def score_plot(stats: ClassStats) -> str:
    """Histogram of total scores (base64 PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 3))
    values = list(stats.scores.values()) + [0.0] * len(stats.ungradable)
    top = max(stats.max_score, max(values, default=0.0), 1.0)
    counts = Counter(round(v, 2) for v in values)
    ax.bar(list(counts), list(counts.values()), width=min(0.8, top / 20), color="#3465a4")
    ax.set_xlim(-0.5, top + 0.5)
    ax.set_xlabel(f"score (out of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{stats.assignment}: score distribution ({stats.students} students)")
    return _png(figure)


def failure_plot(stats: ClassStats) -> str:
    """Failure rate of each part, in assignment order (base64 PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [p for p in stats.parts if p.graded]  # a part no one was graded on: left out
    figure, ax = plt.subplots(figsize=(6, 0.45 * len(parts) + 1))
    labels = [f"{p.title} ({p.id})" for p in parts]
    rates = [100 * p.failure_rate for p in parts]
    bars = ax.barh(labels, rates, color=["#b42318" if r >= 50 else "#e8a33d" for r in rates])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of graded submissions failing the part")
    for bar, rate in zip(bars, rates, strict=True):
        ax.text(rate + 1, bar.get_y() + bar.get_height() / 2, f"{rate:.0f}%", va="center")
    ax.set_title("Which parts the class missed")
    return _png(figure)


# -------------------------------------------------------------------- page
def _summary(stats: ClassStats) -> list[str]:
    values = list(stats.scores.values())
    lines = [f"{stats.students} students; {len(stats.ungradable)} submissions could not be graded"]
    if values:
        full = sum(v >= stats.max_score for v in values)
        lines.append(
            f"score: mean {statistics.mean(values):.2f}, median {statistics.median(values):g}, "
            f"min {min(values):g}, max {max(values):g} (out of {stats.max_score:g}); "
            f"{full} with full marks"
        )
    hardest = max(stats.parts, key=lambda p: p.failure_rate, default=None)
    if hardest is not None and hardest.failed:
        lines.append(
            f"most missed: {hardest.title} ({hardest.id}), failed by "
            f"{100 * hardest.failure_rate:.0f}% of graded submissions"
        )
    return lines


def render_html(stats: ClassStats) -> str:
    esc = html.escape
    titles = {p.id: p.title for p in stats.parts}
    rows = "".join(
        f"<tr><td>{count}</td><td>{esc(titles.get(part, part))}</td><td>{esc(message)}</td></tr>"
        for (part, message), count in stats.messages.most_common(TOP_MESSAGES)
    )
    ungradable = "".join(
        f"<li>{esc(student)}: {esc(reason)}</li>" for student, reason in stats.ungradable.items()
    )
    summary = "".join(f"<li>{esc(line)}</li>" for line in _summary(stats))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(stats.assignment)}: class report</title>
<style>
body {{ font-family: sans-serif; max-width: 60rem; margin: 2rem auto; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
td:first-child {{ text-align: right; }}
</style></head><body>
<h1>Assignment {esc(stats.assignment)}: class report</h1>
<ul>{summary}</ul>
<h2>Scores</h2>
<img alt="score distribution" src="data:image/png;base64,{score_plot(stats)}">
<h2>Parts</h2>
<img alt="failure rate per part" src="data:image/png;base64,{failure_plot(stats)}">
<h2>Most common feedback on failing parts</h2>
<p>Students who got each message (numbers masked as #); files: scores.csv, parts.csv,
messages.csv.</p>
<table><tr><th>students</th><th>part</th><th>message</th></tr>{rows}</table>
<h2>Not graded</h2><ul>{ungradable or "<li>none</li>"}</ul>
</body></html>
"""


def write_report(assignment: Assignment, results: dict[str, GradeResult], out: Path) -> Path:
    """Write report.html and the CSV tables into ``out``; the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    stats = class_stats(assignment, results)
    write_tables(stats, results, out)
    page = out / "report.html"
    page.write_text(render_html(stats))
    return page
