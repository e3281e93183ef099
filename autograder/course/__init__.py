"""Running a course: grade a whole class, fill nbgrader's gradebook, report and export.

The course cycle itself (release, fetch, submit, collect, feedback) is nbgrader's, over
its filesystem exchange; this package adds what happens between ``collect`` and
``generate_feedback``: :mod:`~autograder.course.batch` grades every collected submission
in warm, sandboxed workers (locally or on a Dask cluster, :mod:`~autograder.course.cluster`)
and keeps each result in :mod:`~autograder.course.results` (read back to resume a batch
and for the class report),
:mod:`~autograder.course.gradebook` writes the scores into nbgrader's gradebook,
:mod:`~autograder.course.feedback` writes the autograded notebooks nbgrader turns into
feedback, :mod:`~autograder.course.analytics` shows what the class missed, and
:mod:`~autograder.course.export` writes grades for Canvas.
"""
