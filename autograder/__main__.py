from autograder.lazy_imports import defer_rfc3987_syntax

defer_rfc3987_syntax()  # before anything imports nbgrader (see autograder/lazy_imports.py)

from autograder.cli import main  # noqa: E402

raise SystemExit(main())
