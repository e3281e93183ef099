"""Code that runs inside the sandbox.

Nothing here imports the rest of :mod:`autograder`: the sandbox sees only this folder
(mounted read-only at ``/grader/drivers``), never the solutions, hidden tests or gradebook.
The same driver functions run in the trusted process on the reference solution, so the
student's outputs and the expected ones are produced by the very same calls.
"""
