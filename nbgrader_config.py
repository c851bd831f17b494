# nbgrader settings for the course. `python -m course_utils.grade` and `make release` load this file into a
# temporary course directory, so grading and releasing never write into the repository.
c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = "pix2pix-course"

# Seconds one cell may run while autograding. Real cells take seconds in fast mode (grading runs in fast
# mode); an infinite loop in one exercise times out its own cells only, and the grading goes on.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
# Output that arrives late on a busy machine is waited for, and never aborts the grading of the notebook.
c.Execute.iopub_timeout = 15
c.Execute.raise_on_iopub_timeout = False

# nbgrader scores any stderr output of a test cell as a failure. Library warnings are silenced at the
# source by course_utils.setup(); this pattern drops any warning that still gets through.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning: "

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
