"""Fixtures shared by the test suite. The suite runs in fast mode (COURSE_FAST=1, set by `make test`)."""

from __future__ import annotations

import nbformat
import pytest

from helpers import solution_notebooks


@pytest.fixture(scope="session")
def solutions() -> dict[str, nbformat.NotebookNode]:
    return {p.stem: nbformat.read(p, as_version=4) for p in solution_notebooks()}
