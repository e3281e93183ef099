"""``python -m autograder.publish OUT``: write the student tree (see student_tree.py)."""

import sys

from .student_tree import main

sys.exit(main())
