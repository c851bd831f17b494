"""Repairing a submission the way students really break notebooks, before it is graded.

- nbgrader metadata stripped (some editors drop it): cells are matched to the source notebook by position
  and content, and get their metadata back.
- A copied cell (a duplicate grade_id): the first keeps the id; a copied answer cell runs as an ordinary
  cell, a copied graded test cell is dropped (the grader runs the source's test once).
- A deleted graded test cell: put back from the source (what nbgrader's gradebook keeps) after the cells
  that come before it in the source.
- Every graded test cell (and every locked cell) gets the source's text, hidden tests included, as nbgrader
  does.

`repair` returns the notebook to run and notes for the report, one per repair, each naming the cell.
"""

from __future__ import annotations

import copy
import difflib

from course_utils.notebooks import nbgrader_meta

RESTORED = "course_restored"  # cell metadata key: this cell was not in the submission


def _first_line(cell: dict) -> tuple[str, str]:
    lines = [line.strip() for line in cell["source"].splitlines() if line.strip()]
    return cell["cell_type"], lines[0] if lines else ""


def _match_stripped(nb: dict, source: dict) -> list[str]:
    """Give a notebook without nbgrader metadata the source's, matching cells by position and first line."""
    ours, theirs = nb["cells"], source["cells"]
    matcher = difflib.SequenceMatcher(None, [_first_line(c) for c in ours], [_first_line(c) for c in theirs],
                                      autojunk=False)
    matched = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):  # an edited answer between matched cells
            for mine, src in zip(ours[i1:i2], theirs[j1:j2]):
                if nbgrader_meta(src) and mine["cell_type"] == src["cell_type"]:
                    mine.setdefault("metadata", {})["nbgrader"] = copy.deepcopy(nbgrader_meta(src))
                    matched += 1
    return [f"the nbgrader metadata of every cell was missing (stripped by an editor?): {matched} cells were "
            "matched to the source by position and content"]


def _drop_duplicates(nb: dict) -> list[str]:
    """Keep the first cell of each grade_id: copied answer cells become ordinary cells, copied tests are dropped."""
    seen: dict[str, int] = {}
    kept = []
    for cell in nb["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id is None or grade_id not in seen:
            seen.setdefault(grade_id, 1)
            kept.append(cell)
            continue
        seen[grade_id] += 1
        if nbgrader_meta(cell).get("grade"):
            continue  # a copy of a graded test: the source's test runs once, where the first copy is
        cell = copy.deepcopy(cell)
        del cell["metadata"]["nbgrader"]
        kept.append(cell)
    nb["cells"] = kept
    return [f"{grade_id}: the cell appears {count} times (a copied cell); the first keeps the id and is graded, "
            "the copies run as ordinary cells" for grade_id, count in seen.items() if grade_id and count > 1]


def _insert_at(nb: dict, source: dict, src_index: int) -> int:
    """Where a source cell missing from the submission goes: after the submission's copy of the nearest source
    cell before it that the submission has, else before that of the nearest one after it, else at the end."""
    where = {nbgrader_meta(c).get("grade_id"): i for i, c in enumerate(nb["cells"]) if nbgrader_meta(c)}
    for src in reversed(source["cells"][:src_index]):
        if nbgrader_meta(src).get("grade_id") in where:
            return where[nbgrader_meta(src)["grade_id"]] + 1
    for src in source["cells"][src_index + 1:]:
        if nbgrader_meta(src).get("grade_id") in where:
            return where[nbgrader_meta(src)["grade_id"]]
    return len(nb["cells"])


def _restore_source_cells(nb: dict, source: dict) -> list[str]:
    """Graded test and locked cells get the source's text; those missing come back; missing answers are noted."""
    notes = []
    by_id = {nbgrader_meta(c).get("grade_id"): c for c in nb["cells"] if nbgrader_meta(c).get("grade_id")}
    for src_index, src in enumerate(source["cells"]):
        meta = nbgrader_meta(src)
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if meta.get("solution"):
            if grade_id not in by_id:
                notes.append(f"{grade_id}: the answer cell is missing from the submission")
            continue
        if not (meta.get("grade") or meta.get("locked")):
            continue
        restored = copy.deepcopy(src)
        restored["outputs"], restored["execution_count"] = [], None
        if grade_id in by_id:
            by_id[grade_id].clear()
            by_id[grade_id].update(restored)
            continue
        restored["metadata"][RESTORED] = True
        nb["cells"].insert(_insert_at(nb, source, src_index), restored)
        by_id[grade_id] = restored
        notes.append(f"{grade_id}: the graded test cell was missing from the submission (deleted?); it was put back "
                     "from the source and graded")
    return notes


def repair(nb: dict, source: dict) -> tuple[dict, list[str]]:
    """A copy of the submission `nb` ready to grade against its source notebook, and notes on what was repaired."""
    nb = copy.deepcopy(nb)
    notes = []
    if source["cells"] and not any(nbgrader_meta(c) for c in nb["cells"]):
        notes += _match_stripped(nb, source)
    notes += _drop_duplicates(nb)
    notes += _restore_source_cells(nb, source)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb, notes
