"""PrairieLearn: an externally graded question, its directories, and its ``results.json``.

The question folder holds ``info.json`` (external grading on, the image, the entry point
``/grade/tests/run.sh`` and the timeout the assignment needs, at most PrairieLearn's 600 s),
``question.html`` (the notebook upload and the grader's results), ``tests/`` (the entry
point and the bundle: PrairieLearn copies it to ``/grade/tests``, out of the students'
reach) and ``image/`` (a Dockerfile for the grading image: Python, bubblewrap, the pinned
CPU packages). The grader reads ``/grade/student/`` and writes
``/grade/results/results.json``: ``gradable``, ``score`` in [0, 1], one test per part; a
file that is not a notebook is ``gradable: false``, which costs the student no attempt.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.export import bundle
from autograder.export.harness import Layout, Outcome, feedback, part_rows, student_summary

if TYPE_CHECKING:
    from autograder.spec import Assignment

UUID_NAMESPACE = uuid.UUID("5d8c4c1e-59a4-4a0e-9a57-3c1f0d6b7a21")  # question ids from names
ENTRYPOINT = "/grade/tests/run.sh"

FALLBACK = {
    "gradable": False,
    "message": "The autograder did not finish (it could not start, or it was stopped): "
    "this is not about your notebook, and it costs you no attempt; tell your instructor.",
    "format_errors": ["the autograder did not finish"],
}

DOCKERFILE = """# The grading image of the exported questions (python -m autograder export).
# docker build -t YOURNAME/dlf-grader:{version} . && docker push YOURNAME/dlf-grader:{version}
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap \\
    && rm -rf /var/lib/apt/lists/*
COPY {requirements} /tmp/{requirements}
RUN pip install --no-cache-dir --index-url {torch_index} "{torch}" \\
    && pip install --no-cache-dir -r /tmp/{requirements}
"""

QUESTION = """<pl-question-panel>
  <p>Upload your completed notebook <code>{notebook}</code>. It is graded part by part
  ({parts}); each part's feedback names what went wrong and, where it can, the likely
  mistake. A file that is not a notebook is not graded and costs you no attempt.</p>
</pl-question-panel>

<pl-file-upload file-names="{notebook}"></pl-file-upload>

<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""


def layout(root: Path) -> Layout:
    return Layout(
        submission=root / "student",
        results=root / "results" / "results.json",
        private=[root / "data"],  # the question's data and the submitted answers
    )


def results(outcome: Outcome) -> dict:
    """PrairieLearn's ``results.json`` for ``outcome``."""
    message = student_summary(outcome)
    if outcome.problem or outcome.error:
        errors = [outcome.problem or "the autograder itself failed: tell your instructor"]
        return {"gradable": False, "message": message, "format_errors": errors}
    tests = []
    for part, result in part_rows(outcome):
        tests.append(
            {
                "name": part["id"],
                "description": part["title"],
                "points": result.points if result else 0.0,
                "max_points": part["points"],
                "message": feedback(result, outcome),
            }
        )
    total = sum(t["max_points"] for t in tests)
    score = sum(t["points"] for t in tests) / total if total else 0.0
    return {"gradable": True, "score": min(1.0, max(0.0, score)), "message": message,
            "tests": tests}  # fmt: skip


def info(assignment: Assignment, timeout: int, image: str) -> dict:
    return {
        "uuid": str(uuid.uuid5(UUID_NAMESPACE, f"dl-foundations/{assignment.id}")),
        "title": f"Exercise {assignment.id}: {assignment.notebook}",
        "topic": "Deep Learning Foundations",
        "tags": ["dl-foundations", assignment.id],
        "type": "v3",
        "singleVariant": True,
        "gradingMethod": "External",
        "externalGradingOptions": {
            "enabled": True,
            "image": image,
            "entrypoint": ENTRYPOINT,
            "timeout": timeout,
        },
    }


def export(
    assignment: Assignment,
    output: str | Path,
    timeout: int | None = None,
    isolation: str = "auto",
    image: str | None = None,
) -> bundle.Written:
    """Write the question folder ``<output>/<id>/``."""
    from autograder import __version__

    needed = bundle.needed_seconds(assignment)
    timeout = int(timeout or min(needed, bundle.PRAIRIELEARN_MAX_TIMEOUT))
    if not 0 < timeout <= bundle.PRAIRIELEARN_MAX_TIMEOUT:
        raise ValueError(f"PrairieLearn's timeout is at most {bundle.PRAIRIELEARN_MAX_TIMEOUT} s")
    image = image or f"dlf-grader:{__version__}"
    target = Path(output) / assignment.id
    if target.exists():
        shutil.rmtree(target)
    manifest = bundle.Manifest.of(assignment, "prairielearn", timeout, isolation)
    requirements = target / "image" / bundle.REQUIREMENTS
    pins = bundle.write_grader(assignment, target / "tests" / "grader", requirements, manifest)
    run = target / "tests" / "run.sh"
    run.write_text(
        bundle.entry_script(
            "prairielearn", assignment, FALLBACK, shell="/bin/sh", name="PrairieLearn",
            when="in the grading container", root="/grade", python="python3",
            grader="tests/grader",
        )
    )  # fmt: skip
    run.chmod(0o755)
    (target / "image" / "Dockerfile").write_text(
        DOCKERFILE.format(
            version=__version__,
            requirements=bundle.REQUIREMENTS,
            torch_index=bundle.TORCH_CPU_INDEX,
            torch=bundle.torch_pin(pins),
        )
    )
    (target / "info.json").write_text(json.dumps(info(assignment, timeout, image), indent=2))
    parts = ", ".join(f"{p['id']} ({p['points']:g})" for p in manifest.parts)
    (target / "question.html").write_text(
        QUESTION.format(notebook=assignment.notebook, parts=parts)
    )
    notes = [
        f"PrairieLearn: copy {target} into your course's questions/ folder; build the image "
        f"from {target / 'image'}, push it, and export again with --image NAME "
        f"(info.json names {image})"
    ]
    return bundle.Written(target, "prairielearn", timeout, needed, notes)
