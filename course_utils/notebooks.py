"""Running and reading the course notebooks headless: the kernel they run on, execution, nbgrader cells.

    python -m course_utils.notebooks demo [--out DIR] [--all]   train Pix2Pix headless (make demo)
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from pathlib import Path

# Relative on purpose: course_utils.checks.trusted() loads this module again under a private package name.
from .colab import drive_mounted, drive_notebook_folders, in_colab
from .environment import (
    JUPYTER_SESSION_ENV,
    NOTEBOOKS_ENV,
    build_dir,
    course_environ,
    current_notebook,
    grading_solutions_dir,
    notebooks_dir,
    solutions_dir,
)


def notebook_paths(folder: Path) -> list[Path]:
    """The course notebooks in `folder`, in teaching order (their names start with the number)."""
    return sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))


def nbgrader_meta(cell: dict) -> dict:
    """A cell's nbgrader metadata ({} for cells nbgrader does not know)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_cells(nb: dict) -> list[dict]:
    """The cells that carry points, in notebook order."""
    return [c for c in nb["cells"] if nbgrader_meta(c).get("grade")]


def read_cells(path: Path) -> list[dict]:
    """A notebook's cells as plain dicts, each with its `source` as one string: the kernels' fast reader.

    Reads Jupyter's JSON with the json module: importing nbformat costs about 3 s (its JSON-schema checks
    load a URI grammar), once in every kernel that reuses an earlier notebook. A notebook in a format older
    than 4 still goes through nbformat, which converts it. ValueError if the file is not a notebook.
    """
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a readable notebook: expected Jupyter's JSON format ({e}). If it was "
                         "cut short, restore it from a checkpoint (File > Revert Notebook to Checkpoint)") from e
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
        raise ValueError(f"{path} is not a notebook: expected a JSON object with a list of cells")
    if isinstance(nb.get("nbformat"), int) and nb["nbformat"] < 4:
        import nbformat

        return [dict(c) for c in nbformat.read(path, as_version=4).cells]
    cells = [dict(c) for c in nb.get("cells", []) if isinstance(c, dict)]
    for cell in cells:
        source = cell.get("source", "")
        cell["source"] = "".join(source) if isinstance(source, list) else str(source)
    return cells


def _imports(cells: list[dict]) -> list[ast.stmt]:
    """The top-level import statements of every code cell: a learner may import in any cell."""
    found = []
    for cell in cells:
        if cell.get("cell_type") == "code":
            try:
                tree = ast.parse(cell["source"])
            except SyntaxError:  # IPython magics, or code the learner is still writing
                continue
            found += [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return found


def definitions(path: Path) -> types.ModuleType:
    """Run a notebook's definition cells (its exercise cells and the cells tagged `reference`) as a module.

    This is how later notebooks reuse what the learner built earlier (notebook 06 trains the learner's own
    generator from notebook 03), and how hidden tests get the solution notebook's code as a reference. The
    notebook's import statements run first, from whichever cell they are in; an answer cell that is not
    written yet (its stub raises NotImplementedError) is skipped; a name the exercise cells do not define
    raises an AttributeError that says which notebook was read and what to do.
    """
    path = Path(path)
    cells = read_cells(path)
    module = types.ModuleType(path.stem)
    module.__file__ = str(path)
    for statement in _imports(cells):
        with contextlib.suppress(ImportError):
            exec(compile(ast.Module([statement], []), f"{path.name} [imports]", "exec"), module.__dict__)
    for index, cell in enumerate(cells):
        answer = nbgrader_meta(cell).get("solution")
        if cell.get("cell_type") == "code" and (answer or "reference" in cell.get("metadata", {}).get("tags", [])):
            name = nbgrader_meta(cell).get("grade_id", f"cell {index}")
            try:
                exec(compile(cell["source"], f"{path.name} [{name}]", "exec"), module.__dict__)
            except NotImplementedError:
                if not answer:
                    raise
                # An answer not written yet (a question's stub raises at once): the rest of the notebook is
                # still usable, and a name it should have defined is reported by _missing_name when used.
    module.__getattr__ = _missing_name(path)
    return module


def _missing_name(path: Path):
    def missing(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{path.name} defines no {name!r} in its exercise cells (read from {path}). Open that notebook, run "
            f"the cell that defines {name}, and save it (the saved file is what is read here); a definition in a "
            "cell of your own is not read, so keep it inside the exercise cell")
    return missing


def notebook_search_folders(folder: Path | None = None) -> list[Path]:
    """Where `import_notebook` looks, in order, without repeats.

    `folder` if given; else the current notebook's folder (as Jupyter names it), the current folder,
    $COURSE_NOTEBOOKS, and on Colab with Drive mounted the course folder and MyDrive/Colab Notebooks; last,
    while grading, the solutions folder (`grading_solutions_dir()`).
    """
    if folder is not None:
        folders = [Path(folder)]
    else:
        notebook = current_notebook()
        folders = [notebook.parent] if notebook is not None else []
        folders += [Path.cwd(), notebooks_dir(), *drive_notebook_folders()]
    folders.append(grading_solutions_dir())
    unique: list[Path] = []
    for candidate in filter(None, folders):
        if candidate.resolve() not in [u.resolve() for u in unique]:
            unique.append(candidate)
    return unique


def import_notebook(name: str, folder: Path | None = None) -> types.ModuleType:
    """What the learner defined in an earlier notebook, e.g. `import_notebook("03_pix2pix_generator")`.

    Looks for `<name>.ipynb`, then for Colab's "Copy of <name>.ipynb", in each of `notebook_search_folders`.
    A definition the learner has not written yet raises NotImplementedError when it is used, as in the earlier
    notebook. No such notebook: FileNotFoundError that lists the folders searched and what to do.
    """
    folders = notebook_search_folders(folder)
    for place in folders:
        for file_name in (f"{name}.ipynb", f"Copy of {name}.ipynb"):
            if (place / file_name).is_file():
                return definitions(place / file_name)
    drive = ""
    if in_colab() and not drive_mounted():
        drive = "; your Google Drive is not mounted: run the setup cell at the top with MOUNT_DRIVE = True"
    raise FileNotFoundError(
        f"expected your notebook {name}.ipynb (or 'Copy of {name}.ipynb'): it holds the code this notebook reuses. "
        f"Looked in: {', '.join(str(p) for p in folders)}. Save it (File > Save, or on Colab File > Save a copy "
        f"in Drive) into one of these folders, or set {NOTEBOOKS_ENV} to the folder that holds it{drive}")


@contextlib.contextmanager
def pinned_kernel() -> Iterator[None]:
    """Run notebooks and nbgrader's tools with this interpreter and its environment, whatever the machine has.

    The kernel named `python3` becomes this interpreter: without that, a `python3` kernelspec in the
    user's Jupyter folder could run the notebooks on another Python, without torch or course_utils
    (JUPYTER_PATH is searched before every other folder). The interpreter's bin folder goes first on
    PATH because nbgrader calls the `alembic` command of its environment, which `make` does not activate.
    """
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / "python3"
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        jupyter_path = os.pathsep.join(filter(None, [tmp, os.environ.get("JUPYTER_PATH")]))
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        # A kernel started from a notebook must not look for earlier notebooks next to that one (the grader's).
        with course_environ(JUPYTER_PATH=jupyter_path, PATH=path, **{JUPYTER_SESSION_ENV: None}):
            yield


def execute_notebook(path: Path, out_path: Path, timeout: int = 1200, skip_tag: str | None = None,
                     skip_note: str = "") -> tuple[bool, float, str]:
    """Execute one notebook in its own folder, write the executed copy to `out_path`.

    Code cells tagged `skip_tag` are not run; each gets `skip_note` as its output instead.
    Returns (succeeded, seconds, first line of the error or "").
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    skipped = [c for c in nb.cells if c.cell_type == "code" and skip_tag in c.metadata.get("tags", [])]
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", skip_cells_with_tag=skip_tag or "",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    error = ""
    try:
        with pinned_kernel():
            client.execute()
    except CellExecutionError as exc:
        error = next((line for line in str(exc).splitlines() if "Error" in line), str(exc).strip())
    except Exception as exc:  # a dead kernel or a timeout: report it, go on with the next notebook
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    seconds = time.perf_counter() - start
    for cell in skipped:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=skip_note)]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_path)
    return not error, seconds, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.notebooks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train Pix2Pix headless on synthetic facades (make demo)")
    demo.add_argument("--out", type=Path, default=None, help="default: build/demo in the repository")
    demo.add_argument("--all", action="store_true", help=f"run the cells tagged {DEMO_SKIP_TAG} too (the "
                      "lambda sweep and its evaluation: about 3 more minutes on 2 cores)")
    args = parser.parse_args(argv)
    return run_demo(args.out, run_all=args.all)


DEMO_SKIP_TAG = "skip-in-demo"  # notebook 06's lambda sweep: an experiment for the learner, not the training
DEMO_SKIP_NOTE = (f"`make demo` did not run this cell (tagged {DEMO_SKIP_TAG}): it belongs to the lambda sweep, "
                  "an experiment that costs about 3 minutes on 2 CPU cores. Run the notebook, or "
                  "`python -m course_utils.notebooks demo --all`, to see it.\n")


def run_demo(out_dir: Path | None = None, notebook: Path | None = None, timeout: int = 1800,
             run_all: bool = False) -> int:
    """`make demo`: train Pix2Pix headless on the built-in synthetic facades at the CPU-friendly default.

    Executes notebook 06 (in its own folder, next to the notebooks 03-05 it loads) with COURSE_RUN_DIR set
    to `out_dir` and COURSE_SYNTHETIC=1, so `out_dir` ends up holding the executed notebook, the results
    page (index.html), the checkpoint, the loss curves and the sample grids. The cells tagged
    DEMO_SKIP_TAG (the lambda sweep) are left out unless `run_all`. A checkpoint already in `out_dir` is
    resumed (so a second run is quick). Returns 0 on success, 1 if the notebook failed.
    """
    out_dir = Path(out_dir or build_dir() / "demo").resolve()
    notebook = Path(notebook or solutions_dir() / "06_train_pix2pix.ipynb")
    out_dir.mkdir(parents=True, exist_ok=True)
    left_out = "" if run_all else " (without the lambda sweep: --all runs it too)"
    print(f"running {Path(notebook).name} on synthetic facades{left_out}; outputs in {out_dir}/", flush=True)
    with course_environ(run=out_dir, synthetic=True):
        ok, seconds, error = execute_notebook(Path(notebook), out_dir / Path(notebook).name, timeout=timeout,
                                              skip_tag=None if run_all else DEMO_SKIP_TAG, skip_note=DEMO_SKIP_NOTE)
    if not ok:
        print(f"FAILED after {seconds:.0f} s: {error}; the executed notebook is {out_dir / Path(notebook).name}",
              file=sys.stderr)
        return 1
    print(f"done in {seconds / 60:.1f} min. Results page: {out_dir / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
