"""Every graded cell, hidden tests included, run in-process: the solutions pass, the untouched release fails each
with a course message ("exercise: expected ..., got ...") rather than a raw traceback.

The nbgrader round trip (test_grading.py) grades real files through kernels; this runs the same cells without
them, in seconds, which is what the per-notebook tests in tests/checks/ use to try wrong and right answers.
"""

from __future__ import annotations

import nbformat
import pytest

from course_utils.checks import CheckFailed
from course_utils.environment import release_dir
from helpers import cell_by_id, graded_cells, learner_namespace, nbgrader_meta, run_graded_cell, solution_notebooks

NOTEBOOKS = {path.stem: nbformat.read(path, as_version=4) for path in solution_notebooks()}
GRADED = [(name, nbgrader_meta(cell)["grade_id"]) for name, nb in NOTEBOOKS.items() for cell in graded_cells(nb)]


@pytest.fixture(scope="module")
def solution_namespaces() -> dict[str, dict]:
    return {name: learner_namespace(nb) for name, nb in NOTEBOOKS.items()}


@pytest.fixture(scope="module")
def release_answers() -> dict[str, dict[str, str]]:
    answers = {}
    for name in NOTEBOOKS:
        release = nbformat.read(release_dir() / f"{name}.ipynb", as_version=4)
        answers[name] = {nbgrader_meta(c)["grade_id"]: c.source for c in release.cells
                         if nbgrader_meta(c).get("solution")}
    return answers


@pytest.mark.parametrize("notebook, grade_id", GRADED, ids=[g for _, g in GRADED])
def test_the_solution_passes_its_graded_cell(notebook, grade_id, solution_namespaces):
    run_graded_cell(NOTEBOOKS[notebook], grade_id, dict(solution_namespaces[notebook]))


@pytest.mark.parametrize("notebook, grade_id", GRADED, ids=[g for _, g in GRADED])
def test_the_untouched_release_fails_with_a_course_message(notebook, grade_id, release_answers):
    nb = NOTEBOOKS[notebook]
    namespace = learner_namespace(nb, release_answers[notebook])
    with pytest.raises(CheckFailed) as info:
        run_graded_cell(nb, grade_id, namespace)
    assert ": expected " in str(info.value) and ", got " in str(info.value), str(info.value)
    assert cell_by_id(nb, grade_id) is not None
