"""Grading a class: crafted copies of notebook 00, one per row of issue 14's table, graded together.

The expensive part (one CLI run over a class folder in nbgrader's layout, --jobs 2, with --csv and
--feedback) runs once per module in `graded`; every test reads its results. The solutions folder's
variable is set in the grader's environment on purpose: the student's kernel must not receive it.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import grade
from course_utils.environment import (
    FP32_ENV,
    GRADING_ENV,
    SOLUTIONS_ENV,
    course_root,
    grading_kernel_environ,
    solutions_dir,
)
from course_utils.grading_class import class_submissions, kernel_threads
from course_utils.grading_repair import repair
from course_utils.grading_run import apply_strict
from course_utils.grading_scan import scan_notebook, scan_source
from helpers import cell_by_id, graded_cells, nbgrader_meta, read_solution

WELCOME = "00_welcome"
ITEMS = ["welcome_to_signed_test", "welcome_clamp_test", "welcome_to_uint8_test"]

NOOP_CHECKS = """import course_utils.checks as _checks
_checks.check_to_signed = lambda *args, **kwargs: None
check_to_signed = lambda *args, **kwargs: None

def to_signed(x):
    return x"""
FROM_REFERENCE = "from course_utils.checks import reference\nto_signed = reference(\"00_welcome\").to_signed"
EXEC_SOLUTIONS = """import os
import nbformat
_path = os.path.join(os.environ.get("COURSE_SOLUTIONS", "nowhere"), "00_welcome.ipynb")
for _cell in nbformat.read(_path, as_version=4).cells:
    if "def to_signed" in _cell.source:
        exec(_cell.source)"""
STDERR_DEBUG = """import os
import sys

def to_signed(x):
    print("debug: to_signed called", file=sys.stderr)
    os.write(2, b"debug on the file descriptor\\n")
    return x * 2 - 1"""


def answered(nb: nbformat.NotebookNode, grade_id: str, code: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    cell_by_id(nb, grade_id).source = code  # the whole answer cell
    return nb


def without(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") != grade_id]
    return nb


def duplicated(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    index = nb.cells.index(cell_by_id(nb, grade_id))
    clone = copy.deepcopy(nb.cells[index])
    clone["id"] = clone.get("id", "cell") + "-copy"  # Jupyter gives a copied cell a new id, and the same metadata
    nb.cells.insert(index + 1, clone)
    return nb


def stripped(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return nb


def crafted() -> dict[str, nbformat.NotebookNode]:
    """student -> their 00_welcome, one per row of the issue's table."""
    solution = read_solution(WELCOME)
    # Killed in the middle exercise: the item before it and the one after it are graded all the same.
    kills = answered(solution, "welcome_clamp_answer", "import os\nos._exit(1)")
    return {
        "noop": answered(solution, "welcome_to_signed_code", NOOP_CHECKS),
        "reference": answered(solution, "welcome_to_signed_code", FROM_REFERENCE),
        "exec": answered(solution, "welcome_to_signed_code", EXEC_SOLUTIONS),
        "deleted": without(solution, "welcome_clamp_test"),
        "duplicate": duplicated(solution, "welcome_to_signed_code"),
        "stripped": stripped(solution),
        "stderr": answered(solution, "welcome_to_signed_code", STDERR_DEBUG),
        "kills": kills,
    }


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    for student, nb in crafted().items():
        path = root / "submitted" / student / WELCOME / f"{WELCOME}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
    other = root / "submitted" / "lost" / "homework" / "mine.ipynb"  # of no assignment
    other.parent.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), other)
    junk = root / "submitted" / "junk" / WELCOME / f"{WELCOME}.ipynb"
    junk.parent.mkdir(parents=True)
    junk.write_text("{not json")
    return root


@pytest.fixture(scope="module")
def graded(class_dir) -> dict:
    """The CLI over the class: (its JSON by student, the CSV rows, the feedback folder, the process)."""
    out = class_dir / "out"
    env = dict(os.environ, **{SOLUTIONS_ENV: str(solutions_dir())})  # as an instructor's shell may have it
    result = subprocess.run([sys.executable, "-m", "course_utils.grade", str(class_dir), "--jobs", "2", "--json",
                             "--csv", str(out / "grades.csv"), "--feedback", str(out / "feedback")],
                            capture_output=True, text=True, cwd=course_root(), env=env, timeout=1800)
    assert result.stdout, result.stderr
    notebooks = json.loads(result.stdout)["notebooks"]
    by_student = {Path(name).relative_to(class_dir / "submitted").parts[0]: nb for name, nb in notebooks.items()}
    with open(out / "grades.csv") as file:
        rows = list(csv.DictReader(file))
    return {"json": by_student, "csv": rows, "feedback": out / "feedback", "result": result}


def scores(report: dict) -> list[float]:
    return [report["items"][item]["score"] for item in ITEMS]


def flagged_cells(report: dict) -> set[str]:
    return {flag["cell"] for flag in report["flags"]}


def test_noop_checks_do_not_pass_a_wrong_answer_and_are_flagged(graded):
    report = graded["json"]["noop"]
    assert scores(report) == [0, 1, 2], report["items"]
    messages = " ".join(f["message"] for f in report["flags"])
    assert "assigns _checks.check_to_signed" in messages and "rebinds check_to_signed" in messages, messages
    assert all(f["cell"] == "welcome_to_signed_code" and f["line"] >= 1 for f in report["flags"])


def test_reference_in_an_answer_is_flagged_and_strict_zeroes_it(graded):
    report = graded["json"]["reference"]
    assert scores(report) == [1, 1, 2]  # it works, so only the flag tells
    assert any("reference()" in f["message"] and f["items"] == ["welcome_to_signed_test"] for f in report["flags"])
    strict = apply_strict(grade.NotebookReport(items=copy.deepcopy(report["items"]), flags=report["flags"]))
    assert strict.score == 3 and strict.items["welcome_to_signed_test"]["message"].startswith("flagged")


def test_reading_the_solutions_folder_is_flagged_and_the_kernel_has_no_path(graded):
    report = graded["json"]["exec"]
    assert scores(report) == [0, 1, 2], report["items"]  # the kernel had no COURSE_SOLUTIONS to read
    messages = {f["message"] for f in report["flags"]}
    assert any("COURSE_SOLUTIONS" in m for m in messages) and any(m.startswith("exec()") for m in messages)


def test_a_deleted_graded_cell_is_restored_from_the_source(graded):
    report = graded["json"]["deleted"]
    assert scores(report) == [1, 1, 2]
    assert any("welcome_clamp_test" in note and "put back" in note for note in report["notes"])


def test_a_copied_answer_cell_is_graded_with_one_clear_note(graded):
    report = graded["json"]["duplicate"]
    assert scores(report) == [1, 1, 2] and not report.get("error")
    assert [n for n in report["notes"] if "welcome_to_signed_code" in n and "2 times" in n]


def test_stripped_metadata_is_matched_to_the_source(graded):
    report = graded["json"]["stripped"]
    assert scores(report) == [1, 1, 2]
    assert any("metadata" in note for note in report["notes"])


def test_the_learners_stderr_is_not_a_failure(graded):
    assert scores(graded["json"]["stderr"]) == [1, 1, 2], graded["json"]["stderr"]["items"]


def test_a_killed_kernel_costs_only_the_item_it_ran_toward(graded):
    report = graded["json"]["kills"]
    assert scores(report) == [1, 0, 2], report["items"]
    assert "killed the kernel" in report["items"]["welcome_clamp_test"]["message"]
    assert "welcome_clamp_answer" in report["items"]["welcome_clamp_test"]["message"]  # where it died


def test_json_has_the_documented_shape(graded):
    report = json.loads(graded["result"].stdout)
    notebooks = report["notebooks"]
    assert report["score"] == sum(nb["score"] for nb in notebooks.values())
    assert report["max_score"] == sum(nb["max_score"] for nb in notebooks.values())
    stderr = graded["json"]["stderr"]  # an answer that is right, and prints
    assert stderr["score"] == stderr["max_score"] == 4 and stderr["flags"] == [], stderr
    assert "error" not in stderr and "notes" not in stderr
    for nb in notebooks.values():
        for item in nb["items"].values():
            assert set(item) == {"score", "max_score", "message"}


def test_bad_notebooks_are_reported_and_the_others_graded(graded):
    assert "matches no assignment" in graded["json"]["lost"]["error"]
    assert "could not read it" in graded["json"]["junk"]["error"]
    assert graded["result"].returncode == 1  # some notebook was not graded
    assert len(graded["json"]) == len(crafted()) + 2


def test_csv_has_one_row_per_student_and_item(graded):
    rows = {(r["student"], r["item"]): r for r in graded["csv"]}
    for student in crafted():
        assert [float(rows[student, item]["score"]) for item in ITEMS] == scores(graded["json"][student])
    killed = rows["kills", "welcome_clamp_test"]
    assert (killed["score"], killed["max_score"]) == ("0.0", "1.0") and "killed the kernel" in killed["message"]
    assert "reference()" in rows["reference", "welcome_to_signed_test"]["flags"]
    assert rows["lost", ""]["message"].endswith("its name is not one of them)")


def test_feedback_pages_per_student_and_assignment(graded):
    page = (graded["feedback"] / "kills" / f"{WELCOME}.html").read_text()
    assert "killed the kernel" in page and "welcome_clamp_test" in page and "3 / 4" in page


def test_jobs_1_gives_the_same_results_as_jobs_2(graded, class_dir):
    path = class_dir / "submitted" / "reference" / WELCOME / f"{WELCOME}.ipynb"  # it has a score and a flag
    report = grade.grade([str(path)], jobs=1)[str(path)]
    assert report.items == graded["json"]["reference"]["items"]
    assert report.flags == graded["json"]["reference"]["flags"]


# ---------------------------------------------------------------------------------------------------------
# Without a kernel


def test_the_kernel_gets_no_solutions_path(monkeypatch):
    monkeypatch.setenv(SOLUTIONS_ENV, str(solutions_dir()))
    env = grading_kernel_environ(solutions_dir(), fast=True)
    assert SOLUTIONS_ENV not in env and env[GRADING_ENV] == "1"
    assert env[FP32_ENV] == "1"  # grades are fp32 and deterministic, whatever the CPU
    assert grading_kernel_environ(Path("/elsewhere/solutions"), fast=True)[SOLUTIONS_ENV] == "/elsewhere/solutions"


def test_kernels_graded_at_once_share_the_cores(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert [kernel_threads(jobs) for jobs in (1, 2, 3, 4, 8)] == [None, 2, 1, 1, 1]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert "OMP_NUM_THREADS" not in grading_kernel_environ(solutions_dir(), fast=True)  # torch's default
    assert grading_kernel_environ(solutions_dir(), fast=True, threads=2)["OMP_NUM_THREADS"] == "2"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the instructor's own setting wins
    assert grading_kernel_environ(solutions_dir(), fast=True, threads=2)["OMP_NUM_THREADS"] == "3"


def test_solution_notebooks_raise_no_flag(solutions):
    for name, nb in solutions.items():
        assert scan_notebook(nb, nb) == [], name


@pytest.mark.parametrize("code, expected", [
    ("import importlib\nimportlib.reload(x)", "imports importlib"),
    ("import sys\nsys.modules['course_utils.checks'] = None", "sys.modules"),
    ("from unittest import mock", "unittest.mock"),
    ("y = eval('1 + 1')", "eval()"),
    ("import course_utils.checks.core as core\ncore.assert_close = print", "assigns core.assert_close"),
    ("def check_to_uint8(f):\n    pass", "rebinds check_to_uint8"),
    ("from torch import nn\nnn.functional.l1_loss = lambda *a: 0", "assigns nn.functional.l1_loss"),
    ("import torch\nsetattr(torch, 'allclose', lambda *a, **k: True)", "setattr() on the module torch"),
    ("from course_utils.environment import solutions_dir", "solutions_dir"),
    ("p = '../solutions/00_welcome.ipynb'", "names the solutions folder"),
])
def test_scan_flags_each_trick_with_its_line(code, expected):
    modules, protected = {"course_utils"}, {"check_to_uint8"}
    found = scan_source("x = 0\n" + code, modules, protected)
    assert any(expected in message and line >= 2 for line, message in found), found


def test_course_cells_are_not_scanned_but_tricks_added_to_them_are():
    solution = read_solution(WELCOME)
    course_cell = "import importlib\nMOUNT_DRIVE = True\nif MOUNT_DRIVE:\n    importlib.invalidate_caches()"
    given = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(course_cell)])
    for source, flagged in [(course_cell.replace("True", "False"), False), (course_cell + "\neval('1')", True)]:
        nb = copy.deepcopy(solution)
        nb.cells.insert(3, nbformat.v4.new_code_cell(source))
        assert bool(scan_notebook(nb, solution, (given,))) == flagged, source
        assert scan_notebook(nb, solution), "without the given notebook, the cell is the learner's"


def test_a_duplicated_graded_cell_runs_once():
    solution = read_solution(WELCOME)
    nb, notes = repair(duplicated(solution, "welcome_to_signed_test"), solution)
    assert [nbgrader_meta(c)["grade_id"] for c in graded_cells(nb)] == ITEMS
    assert any("welcome_to_signed_test" in note for note in notes)


def test_flat_and_nbgrader_layouts_name_the_students(tmp_path):
    assignments = grade.assignment_ids()
    (tmp_path / "flat").mkdir()
    for student in ("alice", "bob"):
        nbformat.write(read_solution(WELCOME), tmp_path / "flat" / f"{student}.ipynb")
        nested = tmp_path / "course" / "submitted" / student / WELCOME / f"{WELCOME}.ipynb"
        nested.parent.mkdir(parents=True)
        nbformat.write(stripped(read_solution(WELCOME)), nested)  # matched by its assignment folder
    for folder in (tmp_path / "flat", tmp_path / "course"):
        subs = class_submissions(folder, assignments)
        assert [(s.student, s.assignment, s.error) for s in subs] == [("alice", WELCOME, ""), ("bob", WELCOME, "")]
