"""The course autograder: grades a notebook outside the student's process.

The student's definitions are taken out of the notebook by name (:mod:`autograder.extract`),
run against seeded probes in a sandboxed child (:mod:`autograder.sandbox`), and only plain
tensors come back, which the trusted process compares with the reference solution
(:mod:`autograder.reference`, :mod:`autograder.compare`) and turns into feedback
(:mod:`autograder.judge`), part by part (:mod:`autograder.grade`).
"""

__version__ = "0.1.0"
