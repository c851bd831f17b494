"""Running notebooks headless, reusing an earlier notebook's code, and `make demo`."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from course_utils.notebooks import (
    DEMO_SKIP_NOTE,
    DEMO_SKIP_TAG,
    definitions,
    execute_notebook,
    import_notebook,
    run_demo,
)


def _notebook(tmp_path, name):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math", metadata={"tags": ["reference"]}),
        nbformat.v4.new_code_cell("raise SystemExit('plain cells do not run')"),
        nbformat.v4.new_code_cell("def area(r):\n    ### BEGIN SOLUTION\n    return math.pi * r * r\n"
                                  "    ### END SOLUTION",
                                  metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "area"}}),
    ]
    nbformat.write(nb, tmp_path / f"{name}.ipynb")


def test_definitions_runs_only_exercise_and_reference_cells(tmp_path):
    _notebook(tmp_path, "03_demo")
    module = definitions(tmp_path / "03_demo.ipynb")
    assert module.area(1.0) == pytest.approx(3.14159, rel=1e-5)


def test_definitions_reads_the_saved_json_as_jupyter_writes_it_without_importing_nbformat(tmp_path):
    # Jupyter writes a cell's source as a list of lines, or as one string; both are read.
    answer = {"nbgrader": {"solution": True, "grade": False, "grade_id": "area"}}
    saved = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {"tags": ["reference"]}, "source": "import math", "outputs": []},
        {"cell_type": "markdown", "metadata": {}, "source": ["# Areas"]},
        {"cell_type": "code", "metadata": answer, "outputs": [],
         "source": ["def area(r):\n", "    return math.pi * r * r\n"]}]}
    (tmp_path / "03_saved.ipynb").write_text(json.dumps(saved))
    # In a fresh process, as in a learner's kernel: nbformat's import alone costs about 3 s there.
    script = ("import sys; from course_utils.notebooks import definitions; "
              f"print(definitions({str(tmp_path / '03_saved.ipynb')!r}).area(1.0), 'nbformat' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3.141592653589793", "False"]


def test_a_notebook_cut_short_is_named_and_an_old_format_is_converted(tmp_path):
    _notebook(tmp_path, "03_demo")
    text = (tmp_path / "03_demo.ipynb").read_text()
    (tmp_path / "03_cut.ipynb").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match=r"03_cut.ipynb is not a readable notebook: expected Jupyter's JSON format"):
        definitions(tmp_path / "03_cut.ipynb")
    (tmp_path / "03_list.ipynb").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"03_list.ipynb is not a notebook: expected a JSON object"):
        definitions(tmp_path / "03_list.ipynb")
    v3 = nbformat.v3
    old = v3.new_notebook(worksheets=[v3.new_worksheet(cells=[
        v3.new_code_cell(input="import math", metadata={"tags": ["reference"]}),
        v3.new_code_cell(input="def area(r):\n    return math.pi * r * r",
                         metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "area"}})])])
    (tmp_path / "03_old.ipynb").write_text(nbformat.writes(old, version=3))
    assert json.loads((tmp_path / "03_old.ipynb").read_text())["nbformat"] == 3
    assert definitions(tmp_path / "03_old.ipynb").area(2.0) == pytest.approx(12.566, rel=1e-4)


def test_import_notebook_falls_back_to_the_solutions_and_explains_a_missing_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COURSE_SOLUTIONS", raising=False)
    monkeypatch.delenv("COURSE_GRADING", raising=False)
    monkeypatch.delenv("COURSE_NOTEBOOKS", raising=False)
    with pytest.raises(FileNotFoundError) as error:
        import_notebook("03_demo")
    message = str(error.value)
    assert "expected your notebook 03_demo.ipynb (or 'Copy of 03_demo.ipynb')" in message, message
    assert f"Looked in: {tmp_path}" in message and "COURSE_NOTEBOOKS" in message, message
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    _notebook(solutions, "03_demo")
    monkeypatch.setenv("COURSE_SOLUTIONS", str(solutions))
    assert import_notebook("03_demo").area(2.0) == pytest.approx(12.566, rel=1e-4)


def test_run_demo_writes_its_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "data"))
    out = tmp_path / "demo"
    assert run_demo(out) == 0
    for name in ("06_train_pix2pix.ipynb", "index.html", "checkpoint.pt", "losses.png", "loss_curves.png"):
        assert (out / name).is_file(), name
    assert "synthetic" in (out / "index.html").read_text()
    # The lambda sweep is left out, with a note in its place; every other code cell ran.
    code = [c for c in nbformat.read(out / "06_train_pix2pix.ipynb", 4).cells if c.cell_type == "code"]
    skipped = [c for c in code if DEMO_SKIP_TAG in c.metadata.get("tags", [])]
    assert len(skipped) == 5 and any("sweep = {}" in c.source for c in skipped)
    assert all(c.outputs == [nbformat.v4.new_output("stream", name="stdout", text=DEMO_SKIP_NOTE)] for c in skipped)
    assert all(c.execution_count for c in code if c not in skipped)


def test_execute_notebook_skips_tagged_cells_only(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["slow"]}),
                nbformat.v4.new_code_cell("print(x)")]
    nbformat.write(nb, tmp_path / "nb.ipynb")
    for skip_tag, printed in (("slow", "1\n"), (None, "2\n")):
        ok, _, error = execute_notebook(tmp_path / "nb.ipynb", tmp_path / "out.ipynb", skip_tag=skip_tag,
                                        skip_note="not run\n")
        cells = nbformat.read(tmp_path / "out.ipynb", 4).cells
        assert ok and not error
        assert cells[2].outputs[0]["text"] == printed
        assert [o["text"] for o in cells[1].outputs] == (["not run\n"] if skip_tag else [])


def test_an_import_in_another_cell_is_read_and_a_missing_name_is_explained(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math as m  # the learner's own import cell"),
        nbformat.v4.new_code_cell("def area(r):\n    return m.pi * r * r",
                                  metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "area"}}),
    ]
    nbformat.write(nb, tmp_path / "03_mine.ipynb")
    module = definitions(tmp_path / "03_mine.ipynb")
    assert module.area(1.0) == pytest.approx(3.14159, rel=1e-5)
    with pytest.raises(AttributeError, match=r"03_mine.ipynb defines no 'UNetGenerator' in its exercise cells .* "
                                             r"save it"):
        module.UNetGenerator  # noqa: B018


def test_an_unanswered_question_does_not_stop_the_next_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    answer = {"nbgrader": {"solution": True, "grade": False}}
    nb.cells = [
        nbformat.v4.new_code_cell("def to_signed(x):\n    return x * 2 - 1",
                                  metadata={"nbgrader": {**answer["nbgrader"], "grade_id": "signed"}}),
        nbformat.v4.new_code_cell("# YOUR CODE HERE\nraise NotImplementedError()",
                                  metadata={"nbgrader": {**answer["nbgrader"], "grade_id": "question"}}),
    ]
    nbformat.write(nb, tmp_path / "00_mine.ipynb")
    module = definitions(tmp_path / "00_mine.ipynb")
    assert module.to_signed(1.0) == 1.0
    with pytest.raises(AttributeError, match="defines no 'answer_clamp'"):
        module.answer_clamp  # noqa: B018
