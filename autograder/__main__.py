import atexit
import os
import sys

from autograder.lazy_imports import defer_rfc3987_syntax

defer_rfc3987_syntax()  # before anything imports nbgrader (see autograder/lazy_imports.py)

from autograder.cli import main  # noqa: E402

code = main()
# Everything is written and closed by now. Run the exit handlers, then leave without the
# interpreter's teardown (a second of freeing torch's and nbgrader's modules), as
# multiprocessing's workers do.
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code if isinstance(code, int) else 1)
