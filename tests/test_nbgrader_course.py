"""The instructor's own nbgrader: `make course DIR=...` lays out a course directory where nbgrader's commands work.

generate_assignment, autograde and generate_feedback are run as nbgrader's documentation shows them, from the
command line in the course directory, on notebook 00 (the quickest).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from course_utils import release
from course_utils.environment import solutions_dir
from course_utils.notebooks import notebook_paths, pinned_kernel

ASSIGNMENT = "00_welcome"


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    with pinned_kernel():  # the notebooks run on this interpreter, whatever kernels the machine has
        env = {**os.environ, "COURSE_FAST": "1"}
        result = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
    return result


def test_make_course_lays_out_sources_and_config(tmp_path):
    written = release.make_course(tmp_path)
    assert [p.parent.name for p in written] == [p.stem for p in notebook_paths(solutions_dir())]
    assert all(p == tmp_path / "source" / p.stem / p.name for p in written)
    assert "CourseDirectory.course_id" in (tmp_path / "nbgrader_config.py").read_text()
    result = subprocess.run([sys.executable, "-m", "course_utils.release", "--course", str(tmp_path / "again")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "generate_assignment" in result.stdout, result.stderr


def test_nbgraders_own_commands_work_in_the_course_directory(tmp_path):
    course = tmp_path / "course"
    release.make_course(course)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    released = course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert released.is_file() and "BEGIN SOLUTION" not in released.read_text()
    submitted = course / "submitted" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    submitted.parent.mkdir(parents=True)
    shutil.copyfile(solutions_dir() / f"{ASSIGNMENT}.ipynb", submitted)
    nbgrader(course, "autograde", ASSIGNMENT, "--student", "ada", "--force")
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--student", "ada", "--force")
    assert (course / "feedback" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "ada")
        assert notebook.max_score > 0 and notebook.score == notebook.max_score, (notebook.score, notebook.max_score)
