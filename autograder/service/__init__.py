"""The grading service: readers submit a notebook over HTTP and read per-part feedback.

``python -m autograder serve`` (:mod:`autograder.service.server`) runs a FastAPI app
(:mod:`~autograder.service.app`) that stores each upload and its row in a database
(:mod:`~autograder.service.db`, migrated by alembic) before answering 202, and a dispatcher
(:mod:`~autograder.service.dispatch`) that grades the queue with the course batch's warm
worker pool (:mod:`autograder.course.cluster`), always under bubblewrap.
"""
