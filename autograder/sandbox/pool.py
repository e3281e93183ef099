"""The sandbox's old module name, kept only for imports not yet moved (``autograder/spec.py``
and some specs import ``Limits`` from here): import from :mod:`autograder.sandbox` instead."""

from autograder.sandbox.limits import Limits

__all__ = ["Limits"]
