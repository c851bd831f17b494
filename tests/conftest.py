"""Fixtures shared by the test suite. The suite runs in fast mode (COURSE_FAST=1, set by `make test`)."""

from __future__ import annotations

import os

import nbformat
import pytest
import torch

from helpers import solution_notebooks

if os.environ.get("PYTEST_XDIST_WORKER") and "OMP_NUM_THREADS" not in os.environ:
    # `make test` runs 2 workers on 2 cores: one thread per process (the workers and the kernels and
    # subprocesses they start inherit it), else their thread pools fight over the cores and a 1 s test takes 15.
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

# The files that take a minute or more (the grading round trip alone takes 6), slowest first. Under xdist
# (`make test`) they start first, so that the two workers finish together instead of one running the grading
# alone at the end; the other files keep their order after them.
SLOW_FIRST = ("test_grading.py", "test_colab.py", "test_grading_class.py", "test_browser.py", "test_paper_tables.py",
              "test_distributed.py", "test_nbgrader_course.py", "test_notebooks.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: number for number, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's tests keep their order


@pytest.fixture(scope="session")
def solutions() -> dict[str, nbformat.NotebookNode]:
    return {p.stem: nbformat.read(p, as_version=4) for p in solution_notebooks()}
