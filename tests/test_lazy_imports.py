"""The grading command defers rfc3987_syntax's grammar compilation without changing what
jsonschema checks."""

from __future__ import annotations

import subprocess
import sys

from autograder.spec import ROOT

CHECK = """
import sys
from autograder.lazy_imports import defer_rfc3987_syntax
installed = defer_rfc3987_syntax()
import nbgrader.api, nbformat
compiled_at_import = "lark" in sys.modules
from jsonschema import FormatChecker
checker = FormatChecker()
valid = checker.conforms("https://example.org/caf\\u00e9?q=1", "iri")
invalid = checker.conforms("no scheme and spaces", "iri")
print(installed, compiled_at_import, valid, invalid, "lark" in sys.modules)
"""


def test_grammars_are_compiled_on_first_use_only():
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True)
    # Installed; nothing compiled by importing nbgrader; IRIs still checked by the real
    # grammar, which is loaded when the first one is.
    assert done.stdout.split() == ["True", "False", "True", "False", "True"], done.stderr[-2000:]


def test_the_command_line_installs_it():
    probe = (
        "import atexit, runpy, sys\n"
        "sys.argv = ['autograder', 'list']\n"
        "report = lambda: print(type(sys.modules['rfc3987_syntax']).__name__, flush=True)\n"
        "atexit.register(report)  # the command runs exit handlers before it leaves\n"
        "runpy.run_module('autograder', run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "_Deferred", done.stdout + done.stderr[-2000:]
