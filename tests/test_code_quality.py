"""The library stays small and flat: short functions, files that read top to bottom (ruff runs in `make test`)."""

from __future__ import annotations

import ast

from course_utils.environment import PACKAGE_DIR

MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 600


def test_no_function_is_over_60_lines():
    long = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, f"split these functions (at most {MAX_FUNCTION_LINES} lines each): {long}"


def test_no_file_is_over_600_lines():
    long = [f"{p.relative_to(PACKAGE_DIR)} ({n} lines)" for p in sorted(PACKAGE_DIR.rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]
    assert not long, f"split these modules (at most {MAX_FILE_LINES} lines each): {long}"
