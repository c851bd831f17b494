"""The course's settings: every `COURSE_*` environment variable and every path is read here, and nowhere else.

Every notebook starts with `setup()`, which seeds the random generators, silences the warnings that
would otherwise clutter the output (and zero an nbgrader test cell, since nbgrader scores any text on
stderr as a failure), and returns the device to use.

| variable                 | what it does                                                 | read by                 |
|--------------------------|--------------------------------------------------------------|-------------------------|
| COURSE_FAST=1            | fast mode: tiny data, images and schedules (tests, grading)  | `fast_mode()`           |
| COURSE_DATA=DIR          | the data cache (default ~/.cache/pix2pix-course)             | `data_dir()`            |
| COURSE_SOLUTIONS=DIR     | the solution notebooks, for hidden tests (another folder)    | `solutions_dir()`       |
| COURSE_GRADING=1         | set by the grader in a student's kernel: hidden tests read   | `grading()`             |
|                          | the checkout's solutions/ (the path itself is not handed on) |                         |
| COURSE_RUN_DIR=DIR       | where a training run writes (notebook 06, make demo)         | `run_dir()`             |
| COURSE_SYNTHETIC=1       | synthetic facades even when the real ones are cached         | `synthetic_requested()` |
| COURSE_FACADES_URL=URL   | a mirror of facades.tar.gz                                   | `facades_url()`         |
| COURSE_FACADES_ARCHIVE=F | a local copy of facades.tar.gz                               | `facades_archive()`     |
| COURSE_FP32=1            | plain fp32 training: no bf16, no fused Adam (grading)        | `fp32_forced()`         |
| COURSE_NOTEBOOKS=DIR     | one more folder where `import_notebook` looks                | `notebooks_dir()`       |
| COURSE_DRIVE=DIR         | where Google Drive is mounted on Colab (/content/drive)      | `drive_mount_point()`   |

Jupyter names the notebook a kernel runs for in JPY_SESSION_NAME (`current_notebook()`), so an earlier
notebook is looked for next to the current one even when the kernel runs in another folder.

The course's files (solutions/, notebooks/, nbgrader_config.py) are found by `course_root()`: the checkout
this package was imported from (an editable install or a clone on sys.path), else the current folder or
one of its parents, so a non-editable install still finds them when it is run inside a clone.

    python -m course_utils.environment      prints what the course sees
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

FAST_ENV = "COURSE_FAST"
DATA_ENV = "COURSE_DATA"
SOLUTIONS_ENV = "COURSE_SOLUTIONS"
GRADING_ENV = "COURSE_GRADING"
RUN_DIR_ENV = "COURSE_RUN_DIR"
SYNTHETIC_ENV = "COURSE_SYNTHETIC"
FACADES_URL_ENV = "COURSE_FACADES_URL"
FACADES_ARCHIVE_ENV = "COURSE_FACADES_ARCHIVE"
FP32_ENV = "COURSE_FP32"
NOTEBOOKS_ENV = "COURSE_NOTEBOOKS"
DRIVE_ENV = "COURSE_DRIVE"
JUPYTER_SESSION_ENV = "JPY_SESSION_NAME"
DEFAULT_DRIVE_MOUNT = Path("/content/drive")
DEFAULT_DATA_DIR = Path.home() / ".cache" / "pix2pix-course"
PACKAGE_DIR = Path(__file__).resolve().parent

T = TypeVar("T")


class CourseFilesNotFound(FileNotFoundError):
    """The course's own files (solutions/, nbgrader_config.py) are not where the course looked for them."""


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when `COURSE_FAST` is set to a true value: tiny data, images and schedules (tests, CI)."""
    return _is_true(os.environ.get(FAST_ENV))


def pick(full: T, fast: T) -> T:
    """Return `fast` in fast mode and `full` otherwise: the one switch every size and step count goes through."""
    return fast if fast_mode() else full


def data_dir() -> Path:
    """Folder where data sets are cached: `$COURSE_DATA`, else ~/.cache/pix2pix-course."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR).expanduser()


def segmenter_dir() -> Path:
    """Where the course segmenter's trained weights are cached: <data cache>/segmenter."""
    return data_dir() / "segmenter"


def synthetic_requested() -> bool:
    """True when `COURSE_SYNTHETIC` asks for synthetic facades even if the real ones are cached (make demo)."""
    return _is_true(os.environ.get(SYNTHETIC_ENV))


def facades_url() -> str | None:
    """A mirror of facades.tar.gz from `$COURSE_FACADES_URL`, or None."""
    return os.environ.get(FACADES_URL_ENV) or None


def facades_archive() -> str | None:
    """A local copy of facades.tar.gz from `$COURSE_FACADES_ARCHIVE`, or None."""
    return os.environ.get(FACADES_ARCHIVE_ENV) or None


def fp32_forced() -> bool:
    """True when `COURSE_FP32` turns the harness's fast path (bf16, fused Adam) off (grading sets it)."""
    return _is_true(os.environ.get(FP32_ENV))


def run_dir(default: str | os.PathLike) -> Path:
    """Where a training run writes: `$COURSE_RUN_DIR`, else `default`."""
    return Path(os.environ.get(RUN_DIR_ENV) or default)


def notebooks_dir() -> Path | None:
    """One more folder where `import_notebook` looks for earlier notebooks: `$COURSE_NOTEBOOKS`, or None."""
    value = os.environ.get(NOTEBOOKS_ENV)
    return Path(value).expanduser() if value else None


def current_notebook() -> Path | None:
    """The notebook this kernel runs for, as Jupyter names it in `$JPY_SESSION_NAME` (None when it does not)."""
    value = os.environ.get(JUPYTER_SESSION_ENV, "")
    return Path(value) if value.endswith(".ipynb") else None


def drive_mount_point() -> Path:
    """Where Google Drive is (or will be) mounted on Colab: `$COURSE_DRIVE`, else /content/drive."""
    return Path(os.environ.get(DRIVE_ENV) or DEFAULT_DRIVE_MOUNT)


def keep_outputs_in(folder: Path) -> None:
    """Put the data cache and notebook 06's run in `folder` (data/, runs/06), unless variables already say where."""
    os.environ.setdefault(DATA_ENV, str(Path(folder) / "data"))
    os.environ.setdefault(RUN_DIR_ENV, str(Path(folder) / "runs" / "06"))


def _looks_like_course(folder: Path) -> bool:
    return (folder / "solutions").is_dir() and (folder / "nbgrader_config.py").is_file()


def course_root() -> Path:
    """The course repository: the checkout around this package, else the current folder or one of its parents."""
    for folder in [PACKAGE_DIR.parent, *[Path.cwd(), *Path.cwd().parents]]:
        if _looks_like_course(folder):
            return folder
    raise CourseFilesNotFound(
        f"expected the course repository (a folder with solutions/ and nbgrader_config.py) around {PACKAGE_DIR} "
        f"or around the current folder {Path.cwd()}; run this from a clone of the course, or set {SOLUTIONS_ENV} "
        "to the folder of solution notebooks"
    )


def grading() -> bool:
    """True in a kernel the grader started (`COURSE_GRADING=1`)."""
    return _is_true(os.environ.get(GRADING_ENV))


def grading_solutions_dir() -> Path | None:
    """The solutions folder while grading: `$COURSE_SOLUTIONS`, else the checkout's solutions/ under
    `COURSE_GRADING=1`; None outside grading."""
    value = os.environ.get(SOLUTIONS_ENV)
    if value:
        return Path(value)
    return course_root() / "solutions" if grading() else None


def grading_kernel_environ(solutions: Path, fast: bool, threads: int | None = None) -> dict[str, str]:
    """The environment of a student's kernel while grading: this one with COURSE_GRADING=1, without COURSE_SOLUTIONS.

    The solutions path is handed on only when `solutions` is not the checkout's own solutions/ folder (which
    the kernel finds from the package location). fast: COURSE_FAST=1, else COURSE_FAST removed. COURSE_FP32=1:
    the training harness's bf16 fast path stays off, so grades are fp32 and deterministic. threads: torch's
    CPU threads in the kernel (OMP_NUM_THREADS), unless this environment already sets OMP_NUM_THREADS.
    """
    env = {key: value for key, value in os.environ.items() if key not in {SOLUTIONS_ENV, FAST_ENV}}
    env[GRADING_ENV] = "1"
    env[FP32_ENV] = "1"
    if fast:
        env[FAST_ENV] = "1"
    if threads is not None and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(threads)
    try:
        own = (course_root() / "solutions").resolve()
    except CourseFilesNotFound:
        own = None
    if Path(solutions).resolve() != own:
        env[SOLUTIONS_ENV] = str(Path(solutions).resolve())
    return env


def solutions_dir() -> Path:
    """The nbgrader source notebooks: `$COURSE_SOLUTIONS` (another folder), else the repository's solutions/."""
    return grading_solutions_dir() or course_root() / "solutions"


def release_dir() -> Path:
    """The student notebooks, generated from solutions/ by `make release`."""
    return course_root() / "notebooks"


def nbgrader_config_file() -> Path:
    """The course's nbgrader settings (per-cell timeout, ignore pattern, stub), loaded by the grader."""
    return course_root() / "nbgrader_config.py"


def build_dir() -> Path:
    """Where the course's commands write their outputs (build/demo, screenshots): build/ in the repository."""
    return course_root() / "build"


@contextlib.contextmanager
def course_environ(*, fast: bool | None = None, solutions: Path | None = None, run: Path | None = None,
                   synthetic: bool | None = None, **other: str | None) -> Iterator[None]:
    """Set course variables (and any `other` ones) for a block, then restore them; kernels started inside inherit them.

    fast, synthetic: True sets the switch to "1"; False removes it; None leaves it as it is. An `other`
    variable given as None is removed for the block.
    """
    values: dict[str, str | None] = dict(other)
    if fast is not None:
        values[FAST_ENV] = "1" if fast else None
    if synthetic is not None:
        values[SYNTHETIC_ENV] = "1" if synthetic else None
    if solutions is not None:
        values[SOLUTIONS_ENV] = str(Path(solutions).resolve())
    if run is not None:
        values[RUN_DIR_ENV] = str(Path(run).resolve())
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            _set_env(key, value)
        yield
    finally:
        for key, value in saved.items():
            _set_env(key, value)


def _set_env(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then CPU (or `prefer`, if given)."""
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (all devices) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def silence_warnings() -> None:
    """Hide the warnings that libraries print in normal use of the course, for the rest of the session.

    None of them is the learner's fault, and all go to stderr, where nbgrader would score a test cell as
    failed. Warnings raised by the learner's own code (module `__main__`) still show.
    """
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|torchvision|skimage|tqdm)(\.|$)")


def setup(seed: int = 0, quiet: bool = True) -> torch.device:
    """Start a notebook: seed everything, silence library warnings, return the device to use."""
    if quiet:
        silence_warnings()
    seed_everything(seed)
    return get_device()


def describe() -> dict[str, str]:
    """What this environment is: versions, device, fast mode and the data cache, as strings."""
    import torchvision

    device = get_device()
    if device.type == "cuda":
        device_name = f"cuda ({torch.cuda.get_device_name(0)})"
    elif device.type == "mps":
        device_name = "mps (Apple GPU)"
    else:
        device_name = f"cpu ({torch.get_num_threads()} threads)"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": device_name,
        "fast mode": "on" if fast_mode() else "off",
        "data cache": str(data_dir()),
        "in Colab": "yes" if "google.colab" in sys.modules else "no",
    }


def print_environment() -> None:
    """Print `describe()` as an aligned table: the first thing to share when asking for help."""
    info = describe()
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}} : {value}")


if __name__ == "__main__":
    print_environment()
