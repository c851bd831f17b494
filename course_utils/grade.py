"""Autograding and releasing, in temporary folders (the repository is never written).

    python -m course_utils.grade PATH... [--jobs N] [--csv FILE] [--feedback DIR] [--strict] [--json]
                                         [--timeout S] [--full]           grade submitted notebooks
    python -m course_utils.grade --release [--out DIR]                     regenerate notebooks/ from solutions/

A PATH is a notebook or a class folder: nbgrader's layout (`submitted/<student>/<assignment>/<nb>.ipynb`)
or a flat folder of student notebooks. Each notebook is matched to its assignment (one per solution
notebook, named like it: `00_welcome`, ...) by its graded cells' ids, or else by its name, so a renamed
download still grades; one that matches none is reported and the others are graded. Grading runs in fast
mode (COURSE_FAST=1) unless --full is given. Flags from the integrity scan are listed per notebook;
--strict scores a flagged item 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from course_utils.environment import nbgrader_config_file, solutions_dir
from course_utils.grading_class import (
    GradingInputError,
    Submission,
    collect_submissions,
    grade_submissions,
    match_assignment,
    write_csv,
    write_feedback,
)
from course_utils.grading_class import assignment_ids as _assignment_ids
from course_utils.grading_run import NotebookReport, failure_message

__all__ = ["GradingInputError", "NotebookReport", "Submission", "as_json", "as_table", "assignment_ids",
           "collect_submissions", "failure_message", "grade", "main", "match_assignment", "release"]

FULL_MODE_TIMEOUT = 1800  # seconds per cell when grading in full mode: real training cells run for minutes


def assignment_ids(solutions: Path | None = None) -> dict[str, set[str]]:
    """Each assignment (a solution notebook's stem) with the grade_ids of its graded cells."""
    return _assignment_ids(Path(solutions or solutions_dir()))


# ---------------------------------------------------------------------------------------------------------
# nbgrader in a temporary course directory


def _api(root: Path, timeout: int | None = None):
    """An NbGraderAPI on a course directory at `root`, configured from the repository's nbgrader_config.py."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    config_file = nbgrader_config_file()
    if config_file.exists():
        config.merge(PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config())
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    if timeout is not None:
        config.Execute.timeout = timeout
    return NbGraderAPI(config=config)


def _generate(api, root: Path, assignment: str, solutions: Path) -> None:
    source = root / "source" / assignment
    source.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(solutions / f"{assignment}.ipynb", source / f"{assignment}.ipynb")
    result = api.generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader could not generate {assignment}:\n{result.get('error') or result.get('log')}")


def grade(paths: list[str], timeout: int | None = None, fast: bool = True, solutions: Path | None = None,
          jobs: int = 1, strict: bool = False, progress: bool = False) -> dict[str, NotebookReport]:
    """Autograde notebooks and class folders against the solutions; one report per notebook, keyed by its path.

    A missing path or a file that is not a notebook raises GradingInputError before anything runs. A notebook
    that cannot be read, matches no assignment or breaks the grader gets an error (and zero points if its
    assignment is known); the others are graded all the same. jobs: notebooks graded at once.
    """
    solutions = Path(solutions or solutions_dir())
    subs = collect_submissions(paths, assignment_ids(solutions))
    return grade_submissions(subs, solutions, jobs=jobs, progress=progress, timeout=timeout, fast=fast,
                             strict=strict)


def as_json(reports: dict[str, NotebookReport]) -> dict:
    """The reports as the documented JSON object."""
    notebooks = {}
    for name, report in reports.items():
        notebooks[name] = {"items": report.items, "score": report.score, "max_score": report.max_score,
                           "flags": report.flags}
        if report.notes:
            notebooks[name]["notes"] = report.notes
        if report.error:
            notebooks[name]["error"] = report.error
    return {
        "notebooks": notebooks,
        "score": sum(r.score for r in reports.values()),
        "max_score": sum(r.max_score for r in reports.values()),
    }


def as_table(reports: dict[str, NotebookReport]) -> str:
    """The reports as one table per notebook, totals last."""
    lines = []
    for name, report in reports.items():
        width = max([len("grade_id")] + [len(g) for g in report.items])
        lines.append(name + (f"  (grader error: {report.error})" if report.error else ""))
        lines.append(f"  {'grade_id':<{width}}  {'score':>6}  {'max':>6}  message")
        for grade_id, item in report.items.items():
            row = f"  {grade_id:<{width}}  {item['score']:6.1f}  {item['max_score']:6.1f}  {item['message']}"
            lines.append(row.rstrip())
        lines.append(f"  {'total':<{width}}  {report.score:6.1f}  {report.max_score:6.1f}")
        lines += [f"  FLAG {f['cell']}, line {f['line']}: {f['message']} (items: {', '.join(f['items']) or 'none'})"
                  for f in report.flags]
        lines += [f"  note: {note}" for note in report.notes]
        lines.append("")
    total = sum(r.score for r in reports.values())
    total_max = sum(r.max_score for r in reports.values())
    lines.append(f"TOTAL {total:.1f} / {total_max:.1f} over {len(reports)} notebook(s)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Release


def release(out_dir: Path | None = None, solutions: Path | None = None) -> list[Path]:
    """Generate the student notebooks into `out_dir` (default notebooks/): `course_utils.release.release`."""
    from course_utils.release import release as release_notebooks

    return release_notebooks(out_dir, solutions)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="submitted notebooks, or class folders")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: nbgrader_config.py)")
    parser.add_argument("--full", action="store_true",
                        help=f"grade in full mode instead of fast mode (per-cell limit {FULL_MODE_TIMEOUT} s unless "
                             "--timeout)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="notebooks graded at once, the cores shared out among their kernels (default 1)")
    parser.add_argument("--strict", action="store_true", help="a flagged item scores 0")
    parser.add_argument("--csv", type=Path, default=None, metavar="FILE",
                        help="write one row per student, assignment and item")
    parser.add_argument("--feedback", type=Path, default=None, metavar="DIR",
                        help="write DIR/<student>/<assignment>.html, one feedback page each")
    parser.add_argument("--release", action="store_true", help="regenerate the student notebooks instead")
    parser.add_argument("--out", type=Path, default=None,
                        help="with --release: where to write them (default notebooks/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.release:
        for path in release(args.out):
            print(f"released {path}")
        return 0
    if not args.paths:
        parser.print_usage(sys.stderr)
        print("error: give at least one notebook or folder to grade", file=sys.stderr)
        return 2
    solutions = solutions_dir()
    try:
        subs = collect_submissions(args.paths, assignment_ids(solutions))
    except GradingInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    timeout = args.timeout or (FULL_MODE_TIMEOUT if args.full else None)
    reports = grade_submissions(subs, solutions, jobs=args.jobs, progress=True, timeout=timeout,
                                fast=not args.full, strict=args.strict)
    if args.csv:
        write_csv(subs, reports, args.csv)
    if args.feedback:
        write_feedback(subs, reports, args.feedback)
    print(json.dumps(as_json(reports), indent=2) if args.json else as_table(reports))
    return 1 if any(r.error for r in reports.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
