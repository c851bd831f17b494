"""The nbgrader round trip: release, grade the solutions, the untouched release, and broken submissions.

The expensive part (autograding) runs once per session in `graded`, over every notebook of the course.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import grade
from course_utils.environment import course_root, release_dir, solutions_dir
from helpers import break_exercise, exercises, graded_cells, nbgrader_meta, release_notebooks, solution_notebooks

REPO_ROOT, RELEASE_DIR = course_root(), release_dir()
BROKEN = 'raise RuntimeError("this exercise is broken on purpose")'
# Broken through the whole grader for two kinds of first exercise: a think item (04) and a model of an optional
# notebook (07); a function's (00) wrong answers are graded through the CLI in test_grading_class.py. Every
# notebook's every exercise is broken in-process by its tests/checks file
# (assert_broken_exercise_costs_only_its_own_cells); grading all ten here cost 2 more minutes of the suite.
BROKEN_THROUGH_THE_GRADER = ("04_patchgan", "07_pix2pixhd")


def total_points(nb: nbformat.NotebookNode) -> float:
    return sum(float(nbgrader_meta(c)["points"]) for c in graded_cells(nb))


@pytest.fixture(scope="session")
def submissions(tmp_path_factory, solutions) -> dict[str, tuple[str, Path]]:
    """Submissions to grade in one go: label -> (assignment, path)."""
    folder = tmp_path_factory.mktemp("submissions")
    subs = {}
    for name, nb in solutions.items():
        subs[f"solution/{name}"] = (name, solutions_dir() / f"{name}.ipynb")
        subs[f"release/{name}"] = (name, RELEASE_DIR / f"{name}.ipynb")
        if name not in BROKEN_THROUGH_THE_GRADER:
            continue
        first_solution_cell = exercises(nb)[0][0]
        path = folder / f"broken_{name}.ipynb"
        nbformat.write(break_exercise(nb, first_solution_cell, BROKEN), path)
        subs[f"broken/{name}"] = (name, path)
    return subs


@pytest.fixture(scope="session")
def graded(submissions) -> dict[str, grade.NotebookReport]:
    labels = list(submissions)
    # Two at a time: CI has 2 cores, and much of a fast-mode grading is kernel start-up and waiting.
    reports = grade.grade([str(submissions[label][1]) for label in labels], jobs=2)
    return {label: reports[str(submissions[label][1])] for label in labels}


def test_every_notebook_has_a_release_and_exercises(solutions):
    assert [p.name for p in solution_notebooks()] == [p.name for p in release_notebooks()]
    for name, nb in solutions.items():
        assert exercises(nb), f"{name} has no graded exercise"
        for index, tests in exercises(nb):
            grade_id = nbgrader_meta(nb.cells[index])["grade_id"]
            assert tests, f"{name}: the solution cell {grade_id} has no graded test after it"


def test_fresh_release_equals_committed_notebooks(tmp_path):
    written = grade.release(tmp_path)
    assert [p.name for p in written] == [p.name for p in release_notebooks()]
    for path in written:
        fresh = json.loads(path.read_text())
        committed = json.loads((RELEASE_DIR / path.name).read_text())
        assert fresh == committed, f"notebooks/{path.name} is stale: run `make release` and commit it"


def test_solutions_get_full_marks(graded, solutions):
    for name, nb in solutions.items():
        report = graded[f"solution/{name}"]
        failed = {gid: item["message"] for gid, item in report.items.items() if item["score"] < item["max_score"]}
        assert not report.error and not failed, f"{name}: {report.error or failed}"
        assert report.max_score == total_points(nb)


def test_untouched_release_gets_zero_without_grader_error(graded, solutions):
    for name, nb in solutions.items():
        report = graded[f"release/{name}"]
        assert report.error == "", f"{name}: the grader failed: {report.error}"
        assert report.score == 0 and report.max_score == total_points(nb), (name, report.items)
        assert all(item["message"] for item in report.items.values()), f"{name}: a zero without a reason"


def test_one_broken_exercise_costs_exactly_its_points(graded, solutions):
    for name in BROKEN_THROUGH_THE_GRADER:
        nb = solutions[name]
        report = graded[f"broken/{name}"]
        first_cell, first_tests = exercises(nb)[0]
        broken_ids = {nbgrader_meta(c)["grade_id"] for c in first_tests}
        # A think item whose cell raises leaves its variable unset: the grader says so instead of the error.
        think = re.search(r"^\s*answer_\w+\s*=", nb.cells[first_cell].source, re.M)
        for grade_id, item in report.items.items():
            if grade_id in broken_ids:
                assert item["score"] == 0, f"{name}: {grade_id} passed although its exercise is broken"
                assert ("no answer yet" if think else "broken on purpose") in item["message"], item
            else:
                assert item["score"] == item["max_score"], (
                    f"{name}: breaking the first exercise also cost {grade_id}: {item['message']}"
                )


def small_assignment() -> nbformat.NotebookNode:
    """A source notebook shaped like the course's (an answer cell, its visible check and hidden test, a second
    exercise, a later cell that uses the first answer again) whose cells do no work, so that a short per-cell
    timeout is safe even on a busy machine."""
    def answer(grade_id: str, source: str) -> nbformat.NotebookNode:
        meta = {"grade": False, "solution": True, "locked": False, "grade_id": grade_id, "schema_version": 3}
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})

    def test(grade_id: str, source: str) -> nbformat.NotebookNode:
        meta = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": grade_id,
                "schema_version": 3}
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})

    return nbformat.v4.new_notebook(cells=[
        answer("double_code", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell("assert double(2) == 4"),  # the learner's visible check
        test("double_test", "assert double(3) == 6"),
        answer("halve_code", "def halve(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION"),
        test("halve_test", "assert halve(4) == 2"),
        nbformat.v4.new_code_cell("print(double(halve(8)))"),
    ])


def test_an_infinite_loop_times_out_its_own_exercise_only(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    source = small_assignment()
    nbformat.write(source, solutions / "loops.ipynb")
    path = tmp_path / "loops.ipynb"
    nbformat.write(break_exercise(source, 0, "while True:\n    pass"), path)
    # Each of the three cells that call the looping function is interrupted after its own 3 s.
    report = grade.grade([str(path)], timeout=3, solutions=solutions)[str(path)]
    assert report.error == "", report.error
    assert report.items["double_test"]["score"] == 0, report.items
    assert report.items["double_test"]["message"].startswith("Timeout"), report.items
    assert report.items["halve_test"] == {"score": 1.0, "max_score": 1.0, "message": ""}, report.items


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_utils.grade", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=600)


def _tree_state() -> dict[str, float | None]:
    """The repository's top-level entries with each file's mtime: where nbgrader, misconfigured, would write its
    gradebook and its source/, release/ and submitted/ folders. Tool caches (.venv, .hypothesis, ...) and build/
    are left out, and folders' mtimes too: other tests running at the same time (pytest-xdist) change those."""
    return {p.name: None if p.is_dir() else p.stat().st_mtime for p in REPO_ROOT.glob("*")
            if not p.name.startswith(".") and p.name != "build"}


BAD_INPUTS = [
    (lambda d: d / "missing.ipynb", "no such file or folder"),
    (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "expected a Jupyter notebook (.ipynb)"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "found none"),
]


def test_cli_bad_input_is_one_line_exit_2_and_changes_nothing(tmp_path):
    """The first bad input through `python -m course_utils.grade`, the others through its main() (the same code,
    without 8 s of process start-up each)."""
    for number, (make_input, expected) in enumerate(BAD_INPUTS):
        path = make_input(tmp_path)
        before = _tree_state()
        if number == 0:
            result = run_cli(str(path), "solutions/00_welcome.ipynb")
            code, out, err = result.returncode, result.stdout, result.stderr
        else:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = grade.main([str(path), "solutions/00_welcome.ipynb"])
            out, err = out.getvalue(), err.getvalue()
        assert code == 2 and out == "", (expected, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and str(path) in lines[0], err
        assert _tree_state() == before


def test_a_renamed_download_still_matches_its_assignment(tmp_path):
    copy = tmp_path / "my work (final).ipynb"
    copy.write_bytes((RELEASE_DIR / "00_welcome.ipynb").read_bytes())
    assignments = grade.assignment_ids()
    assert grade.collect_submissions([str(copy)], assignments)[0].assignment == "00_welcome"


def test_table_lists_items_and_totals():
    report = grade.NotebookReport(items={
        "a_test": {"score": 1.0, "max_score": 1.0, "message": ""},
        "b_test": {"score": 0.0, "max_score": 2.0, "message": "CheckFailed: b: expected 1, got 2."},
    })
    table = grade.as_table({"nb.ipynb": report})
    assert "b_test" in table and "CheckFailed: b: expected 1, got 2." in table
    assert table.strip().splitlines()[-1] == "TOTAL 1.0 / 3.0 over 1 notebook(s)"
    assert grade.as_json({"nb.ipynb": report})["max_score"] == 3.0
