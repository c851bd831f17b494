"""Helpers for the notebook tests: finding exercises, breaking one on purpose, and grading cells in-process.

`learner_namespace` rebuilds what a learner's kernel holds after running a notebook (its setup cell, the
cells tagged `reference` and every answer cell, some replaced by other code), and `run_graded_cell` runs a
graded test cell, hidden tests included, in that namespace. That is nbgrader's autograding without nbgrader,
kernels or files: fast enough to try many wrong and many right answers against the hidden tests.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from course_utils.checks import CheckFailed
from course_utils.environment import release_dir, solutions_dir
from course_utils.notebooks import graded_cells, nbgrader_meta, notebook_paths

SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def solution_notebooks() -> list[Path]:
    return notebook_paths(solutions_dir())


def release_notebooks() -> list[Path]:
    return notebook_paths(release_dir())


def read_solution(name: str) -> nbformat.NotebookNode:
    """The solution notebook `name` ("02_unet")."""
    return nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)


def exercises(nb: nbformat.NotebookNode) -> list[tuple[int, list[dict]]]:
    """Each solution cell's index with the graded cells that test it (those before the next solution cell)."""
    result: list[tuple[int, list[dict]]] = []
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            result.append((index, []))
        elif meta.get("grade") and result:
            result[-1][1].append(cell)
    return result


def replace_solution(source: str, body: str) -> str:
    """`source` with its solution block replaced by `body` (lines indented like the solution)."""
    def replace(match: re.Match) -> str:
        start = source.rfind("\n", 0, match.start()) + 1
        indent = source[start:match.start()]
        return ("\n" + indent).join(body.splitlines())

    return SOLUTION_BLOCK.sub(replace, source, count=1)


def break_exercise(nb: nbformat.NotebookNode, cell_index: int, body: str) -> nbformat.NotebookNode:
    """A copy of `nb` whose solution in one cell is replaced by `body` (lines indented like the solution)."""
    nb = copy.deepcopy(nb)
    nb.cells[cell_index].source = replace_solution(nb.cells[cell_index].source, body)
    return nb


def cell_by_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return cell
    raise KeyError(f"no cell with grade_id {grade_id!r}")


@contextlib.contextmanager
def in_notebook_folder() -> Iterator[None]:
    """Run in the solutions folder, as a notebook runs in its own (later notebooks import the earlier ones)."""
    previous = Path.cwd()
    os.chdir(solutions_dir())
    try:
        yield
    finally:
        os.chdir(previous)


def learner_namespace(nb: nbformat.NotebookNode, answers: dict[str, str] | None = None) -> dict:
    """The globals of a learner's kernel after running `nb`'s setup, reference and answer cells, in order.

    answers: grade_id -> the source that replaces that answer cell (a learner's code: a whole definition).
    An answer cell that raises (a stub not answered yet) is skipped, as a kernel would go on to the next cell.
    """
    namespace: dict = {"__name__": "__main__"}
    with in_notebook_folder():
        for cell in nb.cells:
            meta, tags = nbgrader_meta(cell), cell.metadata.get("tags", [])
            if cell.cell_type != "code" or not (meta.get("solution") or {"setup", "reference"} & set(tags)):
                continue
            source = (answers or {}).get(meta.get("grade_id"), cell.source)
            try:
                exec(compile(source, f"<{meta.get('grade_id', 'setup')}>", "exec"), namespace)
            except Exception:
                if not meta.get("solution"):
                    raise
    return namespace


def run_graded_cell(nb: nbformat.NotebookNode, grade_id: str, namespace: dict) -> None:
    """Run the graded test cell `grade_id`, hidden tests included, in a learner's namespace; raise on failure."""
    cell = cell_by_id(nb, grade_id)
    assert nbgrader_meta(cell).get("grade"), f"{grade_id} is not a graded test cell"
    with in_notebook_folder():
        try:
            exec(compile(cell.source, f"<{grade_id}>", "exec"), namespace)
        except AssertionError as error:
            # Hidden tests fail through trusted(), a private copy of the checks with its own CheckFailed class:
            # give callers the public one, so `pytest.raises(CheckFailed)` sees visible and hidden failures alike.
            if type(error).__name__ == "CheckFailed" and not isinstance(error, CheckFailed):
                raise CheckFailed(str(error)) from error
            raise


__all__ = ["HIDDEN_BLOCK", "SOLUTION_BLOCK", "break_exercise", "cell_by_id", "exercises", "graded_cells",
           "learner_namespace", "nbgrader_meta", "read_solution", "release_notebooks", "replace_solution",
           "run_graded_cell", "solution_notebooks"]


def rejects_call(check, hint: str, *answers) -> None:
    """The visible check fails when called with `answers`, and its message carries `hint`."""
    with pytest.raises(CheckFailed) as info:
        check(*answers)
    assert hint in str(info.value), str(info.value)


def rejects(check, answer, hint: str) -> None:
    """The visible check fails on `answer`, and its message carries `hint`."""
    rejects_call(check, hint, answer)


def fails_graded_cell(nb: nbformat.NotebookNode, grade_id: str, namespace: dict, match: str) -> None:
    """The graded cell fails with a course message matching `match` (run_graded_cell raises the public CheckFailed
    for a hidden test's failure, whichever copy of the checks raised it)."""
    with pytest.raises(CheckFailed, match=match):
        run_graded_cell(nb, grade_id, namespace)


def assert_broken_exercise_costs_only_its_own_cells(nb: nbformat.NotebookNode, cell_index: int, own_tests: list,
                                                    skip: frozenset[str] = frozenset()) -> None:
    """With the solution in `cell_index` raising, its own graded cells fail with a course message ("expected ...,
    got ...") and every other graded cell of `nb` (but those in `skip`) still passes."""
    broken = break_exercise(nb, cell_index, 'raise RuntimeError("broken on purpose")')
    namespace = learner_namespace(broken)
    own = {nbgrader_meta(c)["grade_id"] for c in own_tests}
    for cell in graded_cells(nb):
        grade_id = nbgrader_meta(cell)["grade_id"]
        if grade_id in own:
            fails_graded_cell(broken, grade_id, namespace, ": expected .*, got ")
        elif grade_id not in skip:
            run_graded_cell(broken, grade_id, namespace)
