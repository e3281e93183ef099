"""Running untrusted code: a bubblewrap sandbox around a warm, forking zygote."""

from autograder.sandbox.pool import JobOutcome, Limits, Sandbox

__all__ = ["JobOutcome", "Limits", "Sandbox"]
