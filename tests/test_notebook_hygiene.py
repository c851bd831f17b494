"""Notebook hygiene, and the leak test: no solution or hidden test in the release or in course_utils."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_utils.environment import PACKAGE_DIR
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
        found = ABSOLUTE_PATH.search(cell.source)
        assert not found, f"{where}: an absolute path: {found and found[0]}"


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
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert PACKAGE_DIR / "checks" / "core.py" in files  # the scan reaches into the subpackages
    for path in files:
        leaked = _code_lines(path.read_text()) & secret
        where = path.relative_to(PACKAGE_DIR.parent)
        assert not leaked, f"{where} holds solution or hidden-test lines: {sorted(leaked)[:3]}"


# ---------------------------------------------------------------------------------------------------------
# Dictation: no docstring, markdown cell, demo cell or check hint may spell out a solution's expression.
# Lines are compared as expressions, so `act(norm(conv(x)))` in a docstring matches the solution line
# `return self.act(self.norm(self.conv(x)))`. A solution line that is also a stated contract (the exact
# call that fixes an order, say) ends with `# contract` and may then appear in the release.

CONTRACT = "# contract"


def _normalise(text: str) -> str:
    return re.sub(r"\s+|`|\bself\.|\breturn\b", "", text)


def _expressions(line: str) -> set[str]:
    """The normalised line and, for an assignment, its right-hand side: what a docstring could give away."""
    code = re.sub(r"\s+#[^'\"]*$", "", line.strip())
    found = {code}
    assignment = re.match(r"^[\w\s,.\[\]]+?(?<![=!<>])=(?!=)(.+)$", code)
    if assignment:
        found.add(assignment.group(1))
    return {e for e in map(_normalise, found) if len(e) >= 12 and "(" in e}


def _solution_expressions(name: str) -> set[str]:
    nb = nbformat.read(solution_notebooks()[[p.stem for p in solution_notebooks()].index(name)], as_version=4)
    found = set()
    for cell in nb.cells:
        for block in SOLUTION_BLOCK.findall(cell.source):
            for line in block.splitlines():
                if line.strip() and not line.strip().startswith("#") and CONTRACT not in line:
                    found |= _expressions(line)
    return found


def _leaks(text: str, expressions: set[str]) -> list[str]:
    flat = _normalise(text)
    return sorted(e for e in expressions if e in flat)


NOTEBOOK_NAMES = [p.stem for p in solution_notebooks()]


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_no_release_text_spells_out_a_solution(name):
    expressions = _solution_expressions(name)
    assert expressions, f"{name}: no solution expressions found"
    leaks = {}
    # The notebook itself and those before it; a later notebook builds on this one's exercise (07's given
    # discriminator and training loop reuse 04's and 06's ideas) once the learner has written it.
    for path in [p for p in release_notebooks() if p.stem <= name]:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            found = _leaks(cell.source, expressions)
            if found:
                leaks[f"{path.name} cell {index}"] = found[:3]
    checks_module = PACKAGE_DIR / "checks" / f"nb{name}.py"
    if checks_module.exists():
        found = _leaks(checks_module.read_text(), expressions)
        if found:
            leaks[str(checks_module.relative_to(PACKAGE_DIR.parent))] = found[:3]
    assert not leaks, f"the solution of {name} is spelled out (mark a stated contract with {CONTRACT!r}): {leaks}"
