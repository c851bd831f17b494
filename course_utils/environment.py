"""Where the course runs: fast mode, the device, the data cache, seeding and quiet warnings.

Every notebook starts with `setup()`, which seeds the random generators, silences the warnings that
would otherwise clutter the output (and zero an nbgrader test cell, since nbgrader scores any text on
stderr as a failure), and returns the device to use.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import warnings
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

FAST_ENV = "COURSE_FAST"
DATA_ENV = "COURSE_DATA"
DEFAULT_DATA_DIR = Path.home() / ".cache" / "pix2pix-course"

T = TypeVar("T")


def fast_mode() -> bool:
    """True when `COURSE_FAST` is set to a true value: tiny data, images and schedules (tests, CI)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def pick(full: T, fast: T) -> T:
    """Return `fast` in fast mode and `full` otherwise: the one switch every size and step count goes through."""
    return fast if fast_mode() else full


def data_dir() -> Path:
    """Folder where data sets are cached: `$COURSE_DATA`, else ~/.cache/pix2pix-course."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR).expanduser()


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
