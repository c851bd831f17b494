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


@pytest.fixture(scope="session")
def solutions() -> dict[str, nbformat.NotebookNode]:
    return {p.stem: nbformat.read(p, as_version=4) for p in solution_notebooks()}
