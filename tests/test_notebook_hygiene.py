"""Notebook hygiene, and the leak test: no solution or hidden test in the release or in course_utils."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.notebooks import REPO_ROOT
from helpers import HIDDEN_BLOCK, SOLUTION_BLOCK, nbgrader_meta, release_notebooks, solution_notebooks

ALL_NOTEBOOKS = solution_notebooks() + release_notebooks()
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/home/|/Users/|/root/|/work/|/tmp/|[A-Za-z]:\\\\)")


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3", "the kernelspec must be python3"
    for index, cell in enumerate(nb.cells):
        where = f"{path.name} cell {index}"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{where}: outputs are committed"
        assert not ABSOLUTE_PATH.search(cell.source), f"{where}: an absolute path: {ABSOLUTE_PATH.search(cell.source)[0]}"


@pytest.mark.parametrize("path", solution_notebooks(), ids=lambda p: p.name)
def test_graded_cells_are_well_formed(path: Path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        gid = meta.get("grade_id", "?")
        if meta.get("grade"):
            assert float(meta.get("points", 0)) > 0, f"{gid}: a graded cell needs points"
            assert meta.get("locked"), f"{gid}: a graded test cell must be locked"
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{gid}: a graded test cell needs hidden tests"
        if meta.get("solution"):
            assert SOLUTION_BLOCK.search(cell.source), f"{gid}: a solution cell needs BEGIN/END SOLUTION markers"


def test_grade_ids_are_unique_across_the_course():
    seen: dict[str, str] = {}
    for path in solution_notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            gid = nbgrader_meta(cell).get("grade_id")
            if gid:
                assert gid not in seen, f"grade_id {gid} is in {seen[gid]} and {path.name}"
                seen[gid] = path.name


def _code_lines(text: str) -> set[str]:
    """Lines worth comparing: stripped, not comments, long enough to mean something."""
    lines = {line.strip() for line in text.splitlines()}
    return {line for line in lines if len(line) >= 12 and not line.startswith("#")}


def _secret_lines() -> set[str]:
    """Lines of solutions and hidden tests that appear nowhere else in the solution notebooks."""
    secret, public = set(), set()
    for path in solution_notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            blocks = SOLUTION_BLOCK.findall(cell.source) + HIDDEN_BLOCK.findall(cell.source)
            for block in blocks:
                secret |= _code_lines(block)
            outside = HIDDEN_BLOCK.sub("", SOLUTION_BLOCK.sub("", cell.source))
            public |= _code_lines(outside)
    return secret - public


def test_the_leak_test_finds_solution_lines():
    assert _secret_lines(), "no solution lines were found: the leak test would check nothing"


def test_no_solution_or_hidden_test_leaks_into_the_release():
    secret = _secret_lines()
    for path in release_notebooks():
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, path.name
        for cell in nbformat.read(path, as_version=4).cells:
            leaked = _code_lines(cell.source) & secret
            assert not leaked, f"{path.name} holds solution or hidden-test lines: {sorted(leaked)[:3]}"


def test_no_solution_or_hidden_test_leaks_into_course_utils():
    secret = _secret_lines()
    for path in sorted((REPO_ROOT / "course_utils").glob("*.py")):
        leaked = _code_lines(path.read_text()) & secret
        assert not leaked, f"course_utils/{path.name} holds solution or hidden-test lines: {sorted(leaked)[:3]}"
