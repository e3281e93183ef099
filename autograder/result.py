"""A grading result: per-part points and feedback, as JSON and as a readable report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.drivers.files import write_json

PRINTED = "Your code printed:"  # over the end of a failed part's printed output


@dataclass
class PartResult:
    """One part: points earned out of ``max_points`` and the messages explaining them."""

    id: str
    title: str
    points: float
    max_points: float
    passed: bool
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the sandboxed process that ran the part
    printed: str = ""  # the end of what the part's code printed, when it failed

    def printed_block(self) -> list[str]:
        """ "Your code printed:" over the printed lines (each behind "| "), or []."""
        if not self.printed:
            return []
        return [PRINTED, *(f"| {line}" for line in self.printed.splitlines())]


@dataclass
class GradeResult:
    """The whole submission. ``status`` is "graded" or "ungradable" (then ``error`` says why)."""

    assignment: str
    submission: str
    status: str
    parts: list[PartResult] = field(default_factory=list)
    isolation: str = ""
    isolation_note: str = ""  # what was in force: the user, the limits, cgroups or not
    device: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(p.points for p in self.parts)

    @property
    def max_score(self) -> float:
        return sum(p.max_points for p in self.parts)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["score"] = self.score
        data["max_score"] = self.max_score
        return data

    def write_json(self, path: str | Path) -> None:
        """Write atomically: a reader never sees half a result."""
        write_json(path, self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> GradeResult:
        fields = {k: v for k, v in data.items() if k not in ("score", "max_score", "parts")}
        known = set(PartResult.__dataclass_fields__)
        parts = [
            PartResult(**{k: v for k, v in p.items() if k in known}) for p in data.get("parts", [])
        ]
        return cls(**fields, parts=parts)

    def to_text(self) -> str:
        """A report a student can act on: each part, its points, what went wrong."""
        lines = [f"Assignment {self.assignment}: {self.submission}"]
        lines += [w for w in self.warnings if w.startswith("WARNING")]  # weak isolation: first
        if self.status != "graded":
            lines.append(f"Could not grade: {self.error}")
            return "\n".join(lines) + "\n"
        lines.append(f"Score: {self.score:g} / {self.max_score:g}")
        lines.append("")
        for part in self.parts:
            mark = "PASS" if part.passed else "FAIL"
            lines.append(
                f"[{mark}] {part.id} ({part.title}): {part.points:g} / {part.max_points:g}"
            )
            lines.extend(f"    - {m}" for m in part.messages)
            lines.extend(f"    {line}" for line in part.printed_block())
        if any(not w.startswith("WARNING") for w in self.warnings):
            lines.append("")
            lines.append("Notes:")
            lines.extend(f"    - {w}" for w in self.warnings if not w.startswith("WARNING"))
        lines.append("")
        lines.append(
            f"Graded on {self.device} in {self.seconds:.2f} s; isolation: {self.isolation}"
        )
        return "\n".join(lines) + "\n"
