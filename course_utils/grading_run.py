"""Grading one submitted notebook: repair, scan, run every code cell in a fresh kernel, score the graded cells.

This is nbgrader's autograding (graded test cells get the source's text, hidden tests included; a graded
cell that raises scores 0) with what a class needs on top:
- a cell that kills the kernel (`os._exit`, a crash in C) costs the item the kernel was running toward:
  it scores 0 with "killed the kernel", and the notebook is run again without that cell, so the items
  before and after it are graded as usual;
- the learner's own output on stderr is not a failure (it is shown as ordinary output);
- the kernel runs in a private temporary folder, with COURSE_GRADING=1 and without the solutions path.
"""

from __future__ import annotations

import copy
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.environment import grading_kernel_environ, nbgrader_config_file, release_dir
from course_utils.grading_repair import repair
from course_utils.grading_scan import cell_label, scan_notebook
from course_utils.notebooks import graded_cells, nbgrader_meta, pinned_kernel

MAX_KERNEL_DEATHS = 3  # after this many, the cells not run yet score 0


@dataclass
class NotebookReport:
    items: dict[str, dict] = field(default_factory=dict)  # grade_id -> {"score", "max_score", "message"}
    error: str = ""
    flags: list[dict] = field(default_factory=list)  # {"cell", "line", "message", "items"}
    notes: list[str] = field(default_factory=list)  # what was repaired before grading

    @property
    def score(self) -> float:
        return sum(item["score"] for item in self.items.values())

    @property
    def max_score(self) -> float:
        return sum(item["max_score"] for item in self.items.values())


def failure_message(cell: dict) -> str:
    """The first line that says why a graded cell failed ("" if it did not)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            if output.get("ename") == "NotImplementedError" and not output.get("evalue"):
                return "NotImplementedError: not answered"
            if output.get("ename") in {"KeyboardInterrupt", "CellTimeoutError"}:  # interrupted on timeout
                return "Timeout: the cell ran past the per-cell time limit (an endless loop?)"
            return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".splitlines()[0].strip().rstrip(":")
    return ""


def execute_settings() -> dict:
    """The kernel settings of nbgrader_config.py (per-cell timeout, iopub waits), as NotebookClient arguments."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config, path = Config(), nbgrader_config_file()
    if path.exists():
        config.merge(PyFileConfigLoader(path.name, path=str(path.parent)).load_config())
    names = ("timeout", "iopub_timeout", "raise_on_iopub_timeout")
    return {name: config.Execute[name] for name in names if name in config.Execute}


def exercise_items(nb: dict, index: int) -> list[str]:
    """The grade_ids a cell counts toward: a graded cell its own; another cell, the graded cells from the first one
    after it to the next answer cell (the exercise the kernel was running toward)."""
    if nbgrader_meta(nb["cells"][index]).get("grade"):
        return [nbgrader_meta(nb["cells"][index])["grade_id"]]
    items: list[str] = []
    for cell in nb["cells"][index + 1:]:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and items:
            break
        if meta.get("grade"):
            items.append(meta["grade_id"])
    return items


def _run_once(nb: dict, folder: Path, env: dict, settings: dict, skip: set[int]) -> tuple[set[int], int | None]:
    """Run the code cells in order (their outputs land in `nb`); the cells run and the one that killed the kernel."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(folder)}}, **settings)
    ran: set[int] = set()
    with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):  # the kernel's own log, not the learner's
        for index, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code" or index in skip:
                continue
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                return ran, index
            ran.add(index)
    return ran, None


def run_notebook(nb: dict, folder: Path, env: dict, settings: dict) -> tuple[dict, set[int], list[int]]:
    """Run a notebook, again without each cell that kills the kernel; (the run notebook, cells run, killer cells)."""
    killers: list[int] = []
    while True:
        trial = copy.deepcopy(nb)
        ran, killer = _run_once(trial, folder, env, settings, set(killers))
        if killer is None:
            return trial, ran, killers
        killers.append(killer)
        if len(killers) > MAX_KERNEL_DEATHS:
            return trial, ran, killers


def _score(nb: dict, source: dict, ran: set[int], killers: list[int]) -> dict[str, dict]:
    """One item per graded cell of the source, in its order: full points when its cell ran without an error."""
    where = {nbgrader_meta(c).get("grade_id"): i for i, c in enumerate(nb["cells"]) if nbgrader_meta(c).get("grade")}
    killed = {gid: cell_label(nb, k) for k in reversed(killers) for gid in exercise_items(nb, k)}
    items = {}
    for src in graded_cells(source):
        grade_id = nbgrader_meta(src)["grade_id"]
        points = float(nbgrader_meta(src)["points"])
        index = where.get(grade_id)
        if grade_id in killed:
            message = f"killed the kernel (in {killed[grade_id]}); the rest of the notebook was run again without it"
        elif index is None or index not in ran:
            message = f"not run: the kernel died {len(killers)} times before this cell"
        else:
            message = failure_message(nb["cells"][index])
        items[grade_id] = {"score": 0.0 if message else points, "max_score": points, "message": message}
    return items


def _stderr_to_stdout(nb: dict) -> None:
    """The learner's own output on stderr is ordinary output, not a failure: show it as stdout."""
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                output["name"] = "stdout"


def _release_of(source_path: Path) -> tuple[dict, ...]:
    """The release notebook of an assignment, when the checkout has it: its cells are the course's, not the
    learner's (the Colab setup cell imports importlib, rightly)."""
    path = release_dir() / Path(source_path).name
    return (nbformat.read(path, as_version=4),) if path.exists() else ()


def apply_strict(report: NotebookReport) -> NotebookReport:
    """--strict: every item a flag touches scores 0, and its message says which flag (changes `report`)."""
    for flag in report.flags:
        for grade_id in flag["items"]:
            item = report.items.get(grade_id)
            if item is None or item["message"].startswith("flagged"):
                continue
            item["score"] = 0.0
            item["message"] = f"flagged ({flag['cell']}, line {flag['line']}: {flag['message']})" + (
                f"; {item['message']}" if item["message"] else "")
    return report


def grade_notebook(path: Path, source_path: Path, solutions: Path, *, timeout: int | None = None,
                   fast: bool = True, strict: bool = False, executed_out: Path | None = None,
                   threads: int | None = None) -> NotebookReport:
    """Grade one submission against its source (solution) notebook; never raises for a broken submission.

    strict: flagged items score 0. executed_out: where to write the graded notebook (for feedback pages).
    threads: torch's CPU threads in the student's kernel (default: torch's own choice, every core).
    """
    source = nbformat.read(source_path, as_version=4)
    try:
        submission = nbformat.read(path, as_version=4)
        nb, notes = repair(submission, source)
        flags = scan_notebook(nb, source, _release_of(source_path))
        settings = execute_settings() | ({"timeout": timeout} if timeout else {})
        with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp, pinned_kernel():
            folder = Path(tmp)
            env = grading_kernel_environ(solutions, fast, threads)
            nb, ran, killers = run_notebook(nb, folder, env, settings)
    except Exception as exc:  # the grader's own failure on this notebook: report it, never stop the others
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        items = {nbgrader_meta(c)["grade_id"]: {"score": 0.0, "max_score": float(nbgrader_meta(c)["points"]),
                                                "message": "not graded: " + error} for c in graded_cells(source)}
        return NotebookReport(items=items, error=error)
    _stderr_to_stdout(nb)
    report = NotebookReport(items=_score(nb, source, ran, killers), notes=notes)
    for flag in flags:
        flag["items"] = exercise_items(nb, flag.pop("index"))
        report.flags.append(flag)
    if strict:
        apply_strict(report)
    if executed_out is not None:
        executed_out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.from_dict(nb), executed_out)
    return report
