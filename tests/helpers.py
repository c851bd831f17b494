"""Helpers for the notebook tests: finding exercises in a solution notebook, and breaking one on purpose."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from course_utils.notebooks import RELEASE_DIR, SOLUTIONS_DIR, graded_cells, nbgrader_meta, notebook_paths

SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def solution_notebooks() -> list[Path]:
    return notebook_paths(SOLUTIONS_DIR)


def release_notebooks() -> list[Path]:
    return notebook_paths(RELEASE_DIR)


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


def break_exercise(nb: nbformat.NotebookNode, cell_index: int, body: str) -> nbformat.NotebookNode:
    """A copy of `nb` whose solution in one cell is replaced by `body` (lines indented like the solution)."""
    nb = copy.deepcopy(nb)
    cell = nb.cells[cell_index]

    def replace(match: re.Match) -> str:
        start = cell.source.rfind("\n", 0, match.start()) + 1
        indent = cell.source[start:match.start()]
        return ("\n" + indent).join(body.splitlines())

    cell.source = SOLUTION_BLOCK.sub(replace, cell.source, count=1)
    return nb
