"""Defer a dependency's expensive import-time work in the grading command's own process.

``nbgrader`` imports ``nbformat``, which imports ``jsonschema``, whose format checkers import
``rfc3987_syntax`` if it is installed (it is: ``jupyter-events`` requires it). That module
compiles 38 Earley grammars when it is imported: about 1.5 s of CPU (more on a loaded
machine), the largest single cost of starting ``grade-class``, paid for a check ("iri"
strings) that no notebook schema uses.

:func:`defer_rfc3987_syntax` puts a stand-in module in its place whose ``is_valid_syntax``
imports the real module on first use, so behaviour is unchanged: an IRI is still checked,
by the real grammar, the first time one is. Only the command-line entry point installs it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

NAME = "rfc3987_syntax"


class _Deferred(types.ModuleType):
    """Stands in for ``rfc3987_syntax`` until a function of it is first called."""

    @staticmethod
    def _real() -> types.ModuleType:
        if isinstance(sys.modules.get(NAME), _Deferred):
            del sys.modules[NAME]
        return importlib.import_module(NAME)

    def is_valid_syntax(self, term: str, value: str) -> bool:
        return self._real().is_valid_syntax(term, value)

    def parse(self, term: str, value: str):
        return self._real().parse(term, value)


def defer_rfc3987_syntax() -> bool:
    """Install the stand-in unless the module is already imported; True if installed."""
    if NAME in sys.modules or importlib.util.find_spec(NAME) is None:
        return False
    sys.modules[NAME] = _Deferred(NAME)
    return True
