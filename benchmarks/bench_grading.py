"""Benchmark: how fast the grader grades a class, and where the time goes.

    python benchmarks/bench_grading.py [--copies 4] [--jobs 1 2] [--skip-full]

Grades `--copies` copies of the solution of notebook 00 (one notebook per student), then one whole
submission (every solution notebook, 00-09), at each `--jobs`, in fast mode as the grader does. Prints
notebooks per minute and seconds per full submission for each, the time for a class of 100 and of 300
full submissions extrapolated from them, and, from one graded notebook of each kind, where the time
goes: kernel start, the setup and import cells, the learner's answer cells, the lesson's other cells and
the graded cells (the reference build and the hidden tests). Not a test: run it by hand, on an idle machine.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course_utils.environment import solutions_dir  # noqa: E402
from course_utils.grading_class import Submission, grade_submissions  # noqa: E402
from course_utils.grading_run import grade_notebook  # noqa: E402
from course_utils.notebooks import nbgrader_meta, notebook_paths  # noqa: E402


def _class(folder: Path, copies: int, full: bool) -> list[Submission]:
    sources = notebook_paths(solutions_dir()) if full else [solutions_dir() / "00_welcome.ipynb"]
    subs = []
    for number in range(copies):
        for source in sources:
            path = folder / f"student{number:03d}" / source.name
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, path)
            subs.append(Submission(str(path), path, source.stem, f"student{number:03d}"))
    return subs


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the kernels, the workers), user and system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(subs: list[Submission], jobs: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) to grade `subs`."""
    start, cpu = time.perf_counter(), _cpu()
    reports = grade_submissions(subs, solutions_dir(), jobs=jobs, progress=False)
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    wrong = [name for name, r in reports.items() if r.score != r.max_score]
    if wrong:
        print(f"  warning: not full marks for {wrong}")
    return seconds, cpu


def _stamp(cell: dict, key: str) -> datetime | None:
    value = cell.get("metadata", {}).get("execution", {}).get(key)
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def breakdown(source: Path, folder: Path) -> dict[str, float]:
    """Seconds per kind of cell in one graded run of `source` (cell timings recorded by nbclient)."""
    out = folder / f"executed_{source.name}"
    start = time.perf_counter()
    grade_notebook(source, source, solutions_dir(), executed_out=out)
    total = time.perf_counter() - start
    parts = {"setup and imports": 0.0, "answer cells": 0.0, "lesson cells": 0.0, "graded cells": 0.0}
    for cell in nbformat.read(out, as_version=4).cells:
        begin, end = _stamp(cell, "iopub.execute_input"), _stamp(cell, "shell.execute_reply")
        if cell.cell_type != "code" or not begin or not end:
            continue
        meta, tags = nbgrader_meta(cell), cell.metadata.get("tags", [])
        kind = ("graded cells" if meta.get("grade") else "answer cells" if meta.get("solution")
                else "setup and imports" if {"setup", "reference"} & set(tags) else "lesson cells")
        parts[kind] += (end - begin).total_seconds()
    parts["kernel start, repair, scan, scoring"] = total - sum(parts.values())
    return {"total": total, **parts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="students grading notebook 00 (default 4)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-full", action="store_true", help="skip the whole submission (every notebook)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        folder = Path(tmp)
        for path in [solutions_dir() / "00_welcome.ipynb"] + ([] if args.skip_full else
                                                               [solutions_dir() / "06_train_pix2pix.ipynb"]):
            parts = breakdown(path, folder)
            print(f"{path.name}: {parts.pop('total'):.1f} s, of which "
                  + ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in parts.items()))
        for jobs in args.jobs:
            seconds, cpu = _timed(_class(folder / f"one_{jobs}", args.copies, full=False), jobs)
            print(f"--jobs {jobs}: {args.copies} notebooks 00 in {seconds:.1f} s = "
                  f"{60 * args.copies / seconds:.1f} notebooks/min ({cpu / args.copies:.1f} CPU s each)")
            if args.skip_full:
                continue
            subs = _class(folder / f"full_{jobs}", 1, full=True)
            seconds, cpu = _timed(subs, jobs)
            print(f"--jobs {jobs}: one full submission ({len(subs)} notebooks) in {seconds:.1f} s ({cpu:.0f} CPU s); "
                  f"a class of 100: {100 * seconds / 3600:.1f} h, of 300: {300 * seconds / 3600:.1f} h; on {jobs} idle "
                  f"cores (CPU-bound): 100 in {100 * cpu / jobs / 3600:.1f} h, 300 in {300 * cpu / jobs / 3600:.1f} h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
