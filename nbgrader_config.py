"""nbgrader configuration for the course.

Source notebooks (reference solutions with visible and hidden tests) live in
``solutions/<assignment>/``; ``nbgrader generate_assignment`` writes the student
versions into ``exercises/<assignment>/``.
"""

c = get_config()  # noqa: F821  (injected by traitlets)

c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.course_id = "dl-foundations"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
