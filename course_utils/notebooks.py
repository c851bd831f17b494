"""Running and reading the course notebooks headless: the kernel they run on, execution, nbgrader cells.

    python -m course_utils.notebooks run FOLDER [--out DIR]   execute every notebook of a folder, a line each
    python -m course_utils.notebooks demo [--out DIR]         train Pix2Pix headless (make demo)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Iterator

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
RELEASE_DIR = REPO_ROOT / "notebooks"


def notebook_paths(folder: Path) -> list[Path]:
    """The course notebooks in `folder`, in teaching order (their names start with the number)."""
    return sorted(p for p in Path(folder).glob("*.ipynb") if not p.name.startswith("."))


def nbgrader_meta(cell: dict) -> dict:
    """A cell's nbgrader metadata ({} for cells nbgrader does not know)."""
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_cells(nb: dict) -> list[dict]:
    """The cells that carry points, in notebook order."""
    return [c for c in nb["cells"] if nbgrader_meta(c).get("grade")]


def definitions(path: Path) -> types.ModuleType:
    """Run a notebook's definition cells (its exercise cells and the cells tagged `reference`) as a module.

    This is how later notebooks reuse what the learner built earlier (notebook 06 trains the learner's own
    generator from notebook 03), and how hidden tests get the solution notebook's code as a reference.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    module = types.ModuleType(path.stem)
    module.__file__ = str(path)
    for index, cell in enumerate(nb.cells):
        wanted = nbgrader_meta(cell).get("solution") or "reference" in cell.metadata.get("tags", [])
        if cell.cell_type == "code" and wanted:
            name = nbgrader_meta(cell).get("grade_id", f"cell {index}")
            exec(compile(cell.source, f"{path.name} [{name}]", "exec"), module.__dict__)
    return module


def import_notebook(name: str, folder: Path | None = None) -> types.ModuleType:
    """What the learner defined in an earlier notebook, e.g. `import_notebook("03_pix2pix_generator")`.

    Looks in `folder` (default: the current folder, where the learner's notebooks are), then in the
    solutions folder named by $COURSE_SOLUTIONS (set while grading). A definition the learner has not
    written yet raises NotImplementedError when it is used, as in the earlier notebook.
    """
    candidates = [Path(folder or Path.cwd()) / f"{name}.ipynb"]
    if os.environ.get("COURSE_SOLUTIONS"):
        candidates.append(Path(os.environ["COURSE_SOLUTIONS"]) / f"{name}.ipynb")
    for path in candidates:
        if path.exists():
            return definitions(path)
    raise FileNotFoundError(f"expected the notebook {name}.ipynb next to this one (looked in "
                            f"{', '.join(str(p.parent) for p in candidates)}); it holds the code this notebook reuses")


@contextlib.contextmanager
def temporary_environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block (kernels inherit them), then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
        with temporary_environ(JUPYTER_PATH=jupyter_path, PATH=path):
            yield


def execute_notebook(path: Path, out_path: Path, timeout: int = 1200) -> tuple[bool, float, str]:
    """Execute one notebook in its own folder, write the executed copy to `out_path`.

    Returns (succeeded, seconds, first line of the error or "").
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
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
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_path)
    return not error, seconds, error


def run_folder(folder: Path, out_dir: Path) -> int:
    """Execute every notebook of `folder` into `out_dir`, one summary line each; 0 if all succeeded."""
    paths = notebook_paths(folder)
    if not paths:
        print(f"no notebooks found in {folder}", file=sys.stderr)
        return 2
    failures = 0
    for path in paths:
        ok, seconds, error = execute_notebook(path, Path(out_dir) / path.name)
        failures += not ok
        status = "ok    " if ok else "FAILED"
        print(f"{status} {path.name:<32} {seconds:7.1f} s  {error}".rstrip(), flush=True)
    print(f"{len(paths) - failures}/{len(paths)} notebooks ran; executed copies in {out_dir}/")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.notebooks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute every notebook of a folder")
    run.add_argument("folder", type=Path)
    run.add_argument("--out", type=Path, default=Path("build/executed"))
    demo = sub.add_parser("demo", help="train Pix2Pix headless on synthetic facades (make demo)")
    demo.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "demo")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(args.out)
    if not args.folder.is_dir():
        print(f"error: expected a folder of notebooks, got {args.folder}", file=sys.stderr)
        return 2
    return run_folder(args.folder, args.out)


def run_demo(out_dir: Path = REPO_ROOT / "build" / "demo", notebook: Path = SOLUTIONS_DIR / "06_train_pix2pix.ipynb",
             timeout: int = 1800) -> int:
    """`make demo`: train Pix2Pix headless on the built-in synthetic facades at the CPU-friendly default.

    Executes notebook 06 (in its own folder, next to the notebooks 03-05 it loads) with COURSE_RUN_DIR set
    to `out_dir` and COURSE_SYNTHETIC=1, so `out_dir` ends up holding the executed notebook, the results
    page (index.html), the checkpoint, the loss curves and the sample grids. A checkpoint already in
    `out_dir` is resumed (so a second run is quick). Returns 0 on success, 1 if the notebook failed.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"running {Path(notebook).name} on synthetic facades; outputs in {out_dir}/", flush=True)
    with temporary_environ(COURSE_RUN_DIR=str(out_dir), COURSE_SYNTHETIC="1"):
        ok, seconds, error = execute_notebook(Path(notebook), out_dir / Path(notebook).name, timeout=timeout)
    if not ok:
        print(f"FAILED after {seconds:.0f} s: {error}; the executed notebook is {out_dir / Path(notebook).name}",
              file=sys.stderr)
        return 1
    print(f"done in {seconds / 60:.1f} min. Results page: {out_dir / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
