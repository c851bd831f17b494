"""The nbgrader round trip: release, grade the solutions, the untouched release, and broken submissions.

The expensive part (autograding) runs once per session in `graded`, over every notebook of the course.
"""

from __future__ import annotations

import copy
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
# Broken through the whole grader for three kinds of first exercise: a function (00), a think item (04), a model
# of an optional notebook (07). Every notebook's every exercise is broken in-process by its tests/checks file
# (assert_broken_exercise_costs_only_its_own_cells); grading all ten here cost 2 more minutes of the suite.
BROKEN_THROUGH_THE_GRADER = ("00_welcome", "04_patchgan", "07_pix2pixhd")


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
    # A submission that kills its kernel must not stop the grading of the others.
    welcome = copy.deepcopy(solutions["00_welcome"])
    welcome.cells.insert(1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    path = folder / "00_welcome_kills_kernel.ipynb"
    nbformat.write(welcome, path)
    subs["dead/00_welcome"] = ("00_welcome", path)
    return subs


@pytest.fixture(scope="session")
def graded(submissions) -> dict[str, grade.NotebookReport]:
    labels = list(submissions)
    # The dead-kernel submission goes first, so the others are graded after it.
    labels.sort(key=lambda label: not label.startswith("dead/"))
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


def test_a_dead_kernel_costs_only_the_item_it_ran_toward(graded, solutions):
    report = graded["dead/00_welcome"]
    first, *others = report.items.values()
    assert first["score"] == 0 and "killed the kernel" in first["message"], first
    assert all(item["score"] == item["max_score"] for item in others), report.items
    assert report.max_score == total_points(solutions["00_welcome"])
    assert graded["solution/00_welcome"].score == total_points(solutions["00_welcome"])


def test_an_infinite_loop_times_out_its_own_exercise_only(tmp_path, solutions):
    nb = solutions["00_welcome"]
    (first, first_tests), *rest = exercises(nb)
    path = tmp_path / "00_welcome.ipynb"
    nbformat.write(break_exercise(nb, first, "while True:\n    pass"), path)
    report = grade.grade([str(path)], timeout=20)[str(path)]  # long enough for imports on a busy machine
    looping = {nbgrader_meta(c)["grade_id"] for c in first_tests}
    for grade_id, item in report.items.items():
        if grade_id in looping:
            assert item["score"] == 0 and "Timeout" in item["message"], item
        else:
            assert item["score"] == item["max_score"], (grade_id, item)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_utils.grade", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=600)


def test_cli_json_gives_full_marks_for_a_solution():
    result = run_cli("solutions/00_welcome.ipynb", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    notebook = report["notebooks"]["solutions/00_welcome.ipynb"]
    assert report["score"] == report["max_score"] == notebook["score"] == notebook["max_score"] > 0
    assert notebook["flags"] == []
    for item in notebook["items"].values():
        assert set(item) == {"score", "max_score", "message"} and item["score"] == item["max_score"]


def _tree_state() -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in REPO_ROOT.glob("*") if p.name not in {".venv", ".git"}}


@pytest.mark.parametrize("make_input, expected", [
    (lambda d: d / "missing.ipynb", "no such file or folder"),
    (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "expected a Jupyter notebook (.ipynb)"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "found none"),
])
def test_cli_bad_input_is_one_line_exit_2_and_changes_nothing(tmp_path, make_input, expected):
    path = make_input(tmp_path)
    before = _tree_state()
    result = run_cli(str(path), "solutions/00_welcome.ipynb")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(path) in lines[0], result.stderr
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
