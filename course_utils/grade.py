"""Autograding and releasing with nbgrader, in a temporary course directory (the repository is never written).

    python -m course_utils.grade PATH... [--json] [--timeout S] [--full]   grade submitted notebooks
    python -m course_utils.grade --release [--out DIR]                     regenerate notebooks/ from solutions/

A PATH is a notebook or a folder of them. Each notebook is matched to its assignment (one assignment per
solution notebook, named like it: `00_welcome`, ...) by its graded cells' ids, or else by its file name,
so a renamed download still grades. Grading runs in fast mode (COURSE_FAST=1) unless --full is given.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.environment import course_environ, nbgrader_config_file, solutions_dir
from course_utils.notebooks import graded_cells, nbgrader_meta, notebook_paths, pinned_kernel

FULL_MODE_TIMEOUT = 1800  # seconds per cell when grading in full mode: real training cells run for minutes


class GradingInputError(ValueError):
    """A path given to the grader is missing, not a notebook, or matches no assignment."""


@dataclass
class Submission:
    name: str  # the path as the user gave it (or as found in a folder): the key of the report
    path: Path
    assignment: str


@dataclass
class NotebookReport:
    items: dict[str, dict] = field(default_factory=dict)
    error: str = ""

    @property
    def score(self) -> float:
        return sum(item["score"] for item in self.items.values())

    @property
    def max_score(self) -> float:
        return sum(item["max_score"] for item in self.items.values())


# ---------------------------------------------------------------------------------------------------------
# Finding and matching submissions


def assignment_ids(solutions: Path | None = None) -> dict[str, set[str]]:
    """Each assignment (a solution notebook's stem) with the grade_ids of its graded cells."""
    ids = {}
    for path in notebook_paths(solutions or solutions_dir()):
        nb = nbformat.read(path, as_version=4)
        ids[path.stem] = {nbgrader_meta(c)["grade_id"] for c in graded_cells(nb)}
    return ids


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    if path.suffix != ".ipynb":
        raise GradingInputError(f"{path}: expected a Jupyter notebook (.ipynb), got a '{path.suffix or 'no'}' file")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # JSON errors, wrong schema, unreadable bytes: all mean "not a notebook"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GradingInputError(f"{path}: expected a Jupyter notebook (nbformat 4 JSON), could not read it: "
                                f"{reason}") from None


def match_assignment(path: Path, nb: dict, assignments: dict[str, set[str]]) -> str:
    """The assignment whose grade_ids the notebook shares most, else the one named like the file."""
    ids = {nbgrader_meta(c).get("grade_id") for c in nb.get("cells", [])} - {None}
    overlap = {name: len(ids & grade_ids) for name, grade_ids in assignments.items()}
    best = max(overlap, key=overlap.get, default=None)
    if best is not None and overlap[best] > 0:
        return best
    stem = path.stem.split(" ")[0]  # "00_welcome (1).ipynb", as browsers name a second download
    if stem in assignments:
        return stem
    raise GradingInputError(
        f"{path}: matches no assignment (expected a notebook of {', '.join(sorted(assignments))}; "
        f"it has no graded cell of any of them and its name is not one of them)"
    )


def collect_submissions(paths: list[str], assignments: dict[str, set[str]]) -> list[Submission]:
    """Check every path before anything is graded; raise GradingInputError on the first bad one."""
    found: list[tuple[str, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            notebooks = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                raise GradingInputError(f"{path}: expected a folder with .ipynb notebooks, found none")
            found += [(str(p), p) for p in notebooks]
        elif path.is_file():
            found.append((raw, path))
        else:
            raise GradingInputError(f"{path}: no such file or folder")
    return [Submission(name, path, match_assignment(path, _read_notebook(path), assignments)) for name, path in found]


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


def _last_line(text: str) -> str:
    """The last non-empty line: for a traceback, the line that names the exception."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def failure_message(cell: dict) -> str:
    """The first line that says why a graded cell failed ("" if it did not)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            if output.get("ename") == "NotImplementedError" and not output.get("evalue"):
                return "NotImplementedError: not answered"
            if output.get("ename") in {"KeyboardInterrupt", "CellTimeoutError"}:  # nbgrader interrupts on timeout
                return "Timeout: the cell ran past the per-cell time limit (an endless loop?)"
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".splitlines()[0].strip().rstrip(":")
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "wrote to stderr: " + (output.get("text", "").strip().splitlines() or [""])[0]
    return ""


def _results(api, root: Path, sub: Submission, student: str) -> NotebookReport:
    from nbgrader.api import Gradebook

    report = NotebookReport()
    autograded = root / "autograded" / student / sub.assignment / f"{sub.assignment}.ipynb"
    messages = {}
    if autograded.exists():
        nb = nbformat.read(autograded, as_version=4)
        messages = {nbgrader_meta(c)["grade_id"]: failure_message(c) for c in graded_cells(nb)}
    with Gradebook(api.coursedir.db_url) as gb:
        notebook = gb.find_submission_notebook(sub.assignment, sub.assignment, student)
        for grade in sorted(notebook.grades, key=lambda g: g.cell.id):
            report.items[grade.name] = {
                "score": float(grade.score or 0.0),
                "max_score": float(grade.max_score),
                "message": messages.get(grade.name, ""),
            }
    return report


def grade(paths: list[str], timeout: int | None = None, fast: bool = True,
          solutions: Path | None = None) -> dict[str, NotebookReport]:
    """Autograde notebooks against the solutions; one report per notebook, keyed by its path.

    Bad paths raise GradingInputError before anything runs. A notebook that breaks the grader gets an
    error and zero points; the others are graded all the same.
    """
    solutions = Path(solutions or solutions_dir())
    submissions = collect_submissions(paths, assignment_ids(solutions))
    reports: dict[str, NotebookReport] = {}
    with course_environ(solutions=solutions, fast=True if fast else None), \
            tempfile.TemporaryDirectory(prefix="course-grade-") as tmp, pinned_kernel(), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"nbgrader\.")  # nbgrader's own SQLAlchemy warnings
        root = Path(tmp)
        api = _api(root, timeout)
        for assignment in sorted({s.assignment for s in submissions}):
            _generate(api, root, assignment, solutions)
        for number, sub in enumerate(submissions):
            student = f"student{number:04d}"
            target = root / "submitted" / student / sub.assignment / f"{sub.assignment}.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copyfile(sub.path, target)
            try:
                result = api.autograde(sub.assignment, student, force=True, create=True)
                report = _results(api, root, sub, student)
                if not result["success"]:
                    report.error = _last_line(result.get("error") or result.get("log") or "nbgrader failed")
            except Exception as exc:  # one broken submission must not stop the others
                report = NotebookReport(error=f"{type(exc).__name__}: {exc}".splitlines()[0])
            if report.error and not report.items:
                source = nbformat.read(solutions / f"{sub.assignment}.ipynb", as_version=4)
                report.items = {
                    nbgrader_meta(c)["grade_id"]: {"score": 0.0, "max_score": float(nbgrader_meta(c)["points"]),
                                                   "message": "not graded: " + report.error}
                    for c in graded_cells(source)
                }
            reports[sub.name] = report
    return reports


def as_json(reports: dict[str, NotebookReport]) -> dict:
    """The reports as the documented JSON object."""
    notebooks = {}
    for name, report in reports.items():
        notebooks[name] = {"items": report.items, "score": report.score, "max_score": report.max_score}
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", metavar="PATH", help="submitted notebooks, or folders of them")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: nbgrader_config.py)")
    parser.add_argument("--full", action="store_true",
                        help=f"grade in full mode instead of fast mode (per-cell limit {FULL_MODE_TIMEOUT} s unless "
                             "--timeout)")
    parser.add_argument("--release", action="store_true", help="regenerate the student notebooks instead")
    parser.add_argument("--out", type=Path, default=None,
                        help="with --release: where to write them (default notebooks/)")
    args = parser.parse_args(argv)

    if args.release:
        for path in release(args.out):
            print(f"released {path}")
        return 0
    if not args.paths:
        parser.print_usage(sys.stderr)
        print("error: give at least one notebook or folder to grade", file=sys.stderr)
        return 2
    try:
        timeout = args.timeout or (FULL_MODE_TIMEOUT if args.full else None)
        reports = grade(args.paths, timeout=timeout, fast=not args.full)
    except GradingInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(as_json(reports), indent=2) if args.json else as_table(reports))
    return 1 if any(r.error for r in reports.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
