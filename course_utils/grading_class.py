"""Grading a class: finding the submissions, matching them to assignments, grading in parallel, grades out.

A class folder is either nbgrader's layout, `submitted/<student>/<assignment>/<notebook>.ipynb` (the course
folder or its submitted/ folder), or a flat folder of notebooks, one file per student (`alice.ipynb`) or one
folder per student (`alice/00_welcome.ipynb`). One bad notebook (unreadable, of no assignment) is reported
with its reason and the others are graded all the same.
"""

from __future__ import annotations

import csv
import html
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.grading_run import NotebookReport, grade_notebook
from course_utils.notebooks import graded_cells, nbgrader_meta, notebook_paths


class GradingInputError(ValueError):
    """A path given to the grader is missing, not a notebook, or matches no assignment."""


@dataclass
class Submission:
    name: str  # the path as the user gave it (or as found in a folder): the key of the report
    path: Path
    assignment: str  # "" when it matches none (then `error` says why)
    student: str = ""
    error: str = ""


def assignment_ids(solutions: Path) -> dict[str, set[str]]:
    """Each assignment (a solution notebook's stem) with the grade_ids of its graded cells."""
    ids = {}
    for path in notebook_paths(solutions):
        nb = nbformat.read(path, as_version=4)
        ids[path.stem] = {nbgrader_meta(c)["grade_id"] for c in graded_cells(nb)}
    return ids


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A notebook file, or a GradingInputError that says why it is not one."""
    if path.suffix != ".ipynb":
        raise GradingInputError(f"{path}: expected a Jupyter notebook (.ipynb), got a '{path.suffix or 'no'}' file")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # JSON errors, wrong schema, unreadable bytes: all mean "not a notebook"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GradingInputError(f"{path}: expected a Jupyter notebook (nbformat 4 JSON), could not read it: "
                                f"{reason}") from None


def match_assignment(path: Path, nb: dict, assignments: dict[str, set[str]], hint: str = "") -> str:
    """The assignment whose grade_ids the notebook shares most, else the one named like the file (or `hint`,
    the assignment folder of nbgrader's layout)."""
    ids = {nbgrader_meta(c).get("grade_id") for c in nb.get("cells", [])} - {None}
    overlap = {name: len(ids & grade_ids) for name, grade_ids in assignments.items()}
    best = max(overlap, key=overlap.get, default=None)
    if best is not None and overlap[best] > 0:
        return best
    for name in (hint, path.stem.split(" ")[0], path.stem):  # "00_welcome (1).ipynb", a second download
        if name in assignments:
            return name
    for name in assignments:  # a flat folder of "alice_00_welcome.ipynb"
        if path.stem.endswith(name):
            return name
    raise GradingInputError(
        f"{path}: matches no assignment (expected a notebook of {', '.join(sorted(assignments))}; "
        f"it has no graded cell of any of them and its name is not one of them)"
    )


def _found_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def class_submissions(folder: Path, assignments: dict[str, set[str]]) -> list[Submission]:
    """Every notebook of a class folder, with its student and assignment; bad ones carry an error instead."""
    root = folder / "submitted" if (folder / "submitted").is_dir() else folder
    found = _found_in(root)
    if not found:
        raise GradingInputError(f"{folder}: expected a folder with .ipynb notebooks, found none")
    subs = []
    for path in found:
        parts = path.relative_to(root).parts
        student = parts[0] if len(parts) > 1 else path.stem
        hint = parts[1] if len(parts) > 2 else ""
        sub = Submission(str(path), path, "", student)
        try:
            sub.assignment = match_assignment(path, read_notebook(path), assignments, hint)
        except GradingInputError as exc:
            sub.error = str(exc)
        subs.append(sub)
    return subs


def collect_submissions(paths: list[str], assignments: dict[str, set[str]]) -> list[Submission]:
    """Notebooks and class folders to grade. A missing path or a file that is not .ipynb raises GradingInputError
    before anything is graded; a notebook that cannot be read or matches no assignment is reported instead."""
    subs: list[Submission] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            subs += class_submissions(path, assignments)
        elif not path.is_file():
            raise GradingInputError(f"{path}: no such file or folder")
        elif path.suffix != ".ipynb":
            read_notebook(path)  # raises, saying what was expected
        else:
            sub = Submission(raw, path, "", path.stem)
            try:
                sub.assignment = match_assignment(path, read_notebook(path), assignments)
            except GradingInputError as exc:
                sub.error = str(exc)
            subs.append(sub)
    return subs


def _grade_one(sub: Submission, solutions: Path, options: dict) -> NotebookReport:
    if sub.error:
        return NotebookReport(error=sub.error)
    return grade_notebook(sub.path, solutions / f"{sub.assignment}.ipynb", solutions, **options)


def kernel_threads(jobs: int) -> int | None:
    """torch's CPU threads for each of `jobs` kernels running at once: the cores shared out (at least 1).

    None for one job (torch takes every core, as in a notebook). With more, each kernel left at every core
    would wait on the others' threads: measured on 2 cores, --jobs 2 graded a full submission in 210 s and
    402 CPU s, slower than --jobs 1 (188 s, 195 CPU s).
    """
    if jobs <= 1:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def grade_submissions(subs: list[Submission], solutions: Path, jobs: int = 1, progress: bool = True,
                      **options) -> dict[str, NotebookReport]:
    """Grade every submission, `jobs` at a time (each in its own kernel and temporary folder, with the cores
    shared out: `kernel_threads`); reports in the order of `subs`, whatever order they finish in.
    options: grade_notebook's timeout, fast, strict."""
    from tqdm.auto import tqdm

    options.setdefault("threads", kernel_threads(jobs))
    reports: dict[str, NotebookReport] = {}
    bar = tqdm(total=len(subs), unit="notebook", desc="grading", disable=not progress or len(subs) < 2)
    if jobs <= 1:
        for sub in subs:
            reports[sub.name] = _grade_one(sub, solutions, dict(options))
            bar.update()
    else:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_grade_one, sub, solutions, dict(options)): sub for sub in subs}
            for future in as_completed(futures):
                try:
                    reports[futures[future].name] = future.result()
                except Exception as exc:  # a worker that died: this notebook's error, never the batch's
                    reports[futures[future].name] = NotebookReport(error=f"{type(exc).__name__}: {exc}")
                bar.update()
    bar.close()
    return {sub.name: reports[sub.name] for sub in subs}


CSV_FIELDS = ["student", "assignment", "notebook", "item", "score", "max_score", "message", "flags"]


def write_csv(subs: list[Submission], reports: dict[str, NotebookReport], path: Path) -> None:
    """One row per student, assignment and item (a notebook that was not graded: one row with item "")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, CSV_FIELDS)
        writer.writeheader()
        for sub in subs:
            report = reports[sub.name]
            rows = report.items.items() or [("", {"score": 0.0, "max_score": 0.0, "message": report.error})]
            for item, result in rows:
                flags = "; ".join(f"{f['cell']} line {f['line']}: {f['message']}" for f in report.flags
                                  if item in f.get("items", []))
                writer.writerow({"student": sub.student, "assignment": sub.assignment, "notebook": sub.name,
                                 "item": item, "score": result["score"], "max_score": result["max_score"],
                                 "message": result["message"], "flags": flags})


def feedback_page(sub: Submission, report: NotebookReport) -> str:
    """One student's feedback on one assignment as an HTML page: the item table, failure messages, notes."""
    esc = html.escape
    rows = "".join(f"<tr><td>{esc(gid)}</td><td>{r['score']:g}</td><td>{r['max_score']:g}</td>"
                   f"<td>{esc(r['message'])}</td></tr>" for gid, r in report.items.items())
    notes = "".join(f"<li>{esc(note)}</li>" for note in ([report.error] if report.error else []) + report.notes)
    title = f"{sub.assignment or Path(sub.name).name}: feedback for {sub.student}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{border-bottom:1px solid #ccc;"
            "padding:.3em .6em;text-align:left;vertical-align:top}</style></head><body>"
            f"<h1>{esc(title)}</h1><p>Score: <b>{report.score:g} / {report.max_score:g}</b></p>"
            "<table><tr><th>item</th><th>score</th><th>max</th><th>why points were lost</th></tr>"
            f"{rows}</table>" + (f"<h2>Notes from the grader</h2><ul>{notes}</ul>" if notes else "")
            + "</body></html>")


def write_feedback(subs: list[Submission], reports: dict[str, NotebookReport], folder: Path) -> list[Path]:
    """feedback/<student>/<assignment>.html for each graded notebook; the paths written."""
    written = []
    for sub in subs:
        path = folder / sub.student / f"{sub.assignment or Path(sub.name).stem}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(feedback_page(sub, reports[sub.name]))
        written.append(path)
    return written
