"""The settings module: fast mode, the data cache, the course's files, and the one place that reads them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils import environment


def test_pick_follows_the_fast_switch(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert environment.fast_mode() and environment.pick(256, 64) == 64
    for off in ("", "0", "false"):
        monkeypatch.setenv("COURSE_FAST", off)
        assert not environment.fast_mode() and environment.pick(256, 64) == 256


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert environment.data_dir() == tmp_path
    monkeypatch.delenv("COURSE_DATA")
    assert environment.data_dir() == environment.DEFAULT_DATA_DIR


def test_describe_names_what_a_helper_needs():
    info = environment.describe()
    assert {"torch", "device", "fast mode", "data cache"} <= set(info)


def test_setup_seeds_and_returns_a_device():
    device = environment.setup(seed=3)
    first = torch.rand(3)
    environment.setup(seed=3)
    assert torch.equal(first, torch.rand(3)) and isinstance(device, torch.device)


def test_course_environ_sets_and_restores(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_SYNTHETIC", raising=False)
    monkeypatch.setenv("COURSE_FAST", "1")
    with environment.course_environ(fast=False, synthetic=True, run=tmp_path, solutions=tmp_path):
        assert not environment.fast_mode() and environment.synthetic_requested()
        assert environment.run_dir("elsewhere") == tmp_path.resolve()
        assert environment.solutions_dir() == tmp_path.resolve()
    assert environment.fast_mode() and not environment.synthetic_requested()
    assert environment.run_dir("elsewhere") == Path("elsewhere")


def test_the_course_files_are_found_from_a_checkout_and_from_its_folder(monkeypatch, tmp_path):
    root = environment.course_root()
    assert (root / "solutions").is_dir() and environment.solutions_dir() == root / "solutions"
    # An installed (non-editable) copy of the package lives outside the checkout: it finds the course from the
    # current folder or one of its parents.
    monkeypatch.setattr(environment, "PACKAGE_DIR", tmp_path / "site-packages" / "course_utils")
    monkeypatch.chdir(root / "tests")
    assert environment.course_root() == root
    monkeypatch.chdir(tmp_path)
    with pytest.raises(environment.CourseFilesNotFound, match="expected the course repository"):
        environment.course_root()


def test_an_installed_package_finds_the_solutions_inside_a_clone(tmp_path):
    """The package copied outside the checkout (as pip installs it) still grades from inside a clone."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(environment.PACKAGE_DIR, site / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    code = "from course_utils.environment import solutions_dir, PACKAGE_DIR; print(PACKAGE_DIR); print(solutions_dir())"
    env = {k: v for k, v in os.environ.items() if k != "COURSE_SOLUTIONS"} | {"PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=environment.course_root() / "notebooks", env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [str(site / "course_utils"), str(environment.course_root() / "solutions")]


def test_course_variables_are_read_in_the_settings_module_only():
    """Every COURSE_* variable is read in environment.py and nowhere else in the library."""
    literal = re.compile(r"[\"']COURSE_[A-Z_]+[\"']")
    offenders = []
    for path in sorted(environment.PACKAGE_DIR.rglob("*.py")):
        if path.name == "environment.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if literal.search(line) or (re.search(r"os\.(environ|getenv)", line) and "_ENV" in line):
                offenders.append(f"{path.relative_to(environment.PACKAGE_DIR)}:{number}: {line.strip()}")
    assert not offenders, "read COURSE_* variables through course_utils.environment:\n" + "\n".join(offenders)
