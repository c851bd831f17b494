"""Google Colab: detecting it, mounting Google Drive, the course folder on Drive, the GPU runtime.

Every release notebook starts with a setup cell (stamped in by `make release`, see `course_utils.release`)
that, on Colab only, installs the course library and then calls `start()`. Outside Colab none of this runs.

On Drive the course keeps one folder, MyDrive/pix2pix-course: the data cache (data/) and notebook 06's run
(runs/06) go there once Drive is mounted, so they outlive a disconnected runtime. Notebooks saved with
"File > Save a copy in Drive" land in MyDrive/Colab Notebooks; `import_notebook` looks in both folders.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .environment import drive_mount_point, keep_outputs_in

COURSE_FOLDER = "pix2pix-course"
COLAB_NOTEBOOKS = "Colab Notebooks"
GPU_HOWTO = "Runtime > Change runtime type > a GPU (only notebook 06's full training needs one)"


def in_colab() -> bool:
    """True inside a Google Colab runtime (Colab imports `google.colab` when its kernel starts)."""
    return "google.colab" in sys.modules


def drive_root() -> Path:
    """The learner's "My Drive" once Drive is mounted: <mount point>/MyDrive."""
    return drive_mount_point() / "MyDrive"


def drive_mounted() -> bool:
    """True when Google Drive is mounted (its MyDrive folder exists)."""
    return drive_root().is_dir()


def course_folder() -> Path:
    """The course's folder on Drive: MyDrive/pix2pix-course (the data cache and checkpoints go there)."""
    return drive_root() / COURSE_FOLDER


def drive_notebook_folders() -> list[Path]:
    """Folders on Drive where the learner's notebooks may be: the course folder, then MyDrive/Colab Notebooks.

    Empty while Drive is not mounted.
    """
    return [course_folder(), drive_root() / COLAB_NOTEBOOKS] if drive_mounted() else []


def mount_drive() -> Path | None:
    """Mount Google Drive (Colab asks for permission), create the course folder on it and keep outputs there.

    Returns the course folder, or None outside Colab or when mounting failed or was refused (one line says
    so; the notebook then works without Drive, and what it writes is lost when the runtime disconnects).
    """
    if not in_colab():
        return None
    if not drive_mounted():
        try:
            from google.colab import drive

            drive.mount(str(drive_mount_point()))
        except Exception as exc:  # refused permission, a timeout: Colab raises several kinds
            print(f"Google Drive not mounted ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                  "earlier notebooks, data and checkpoints will not persist. Run this cell again to retry.")
            return None
    folder = course_folder()
    folder.mkdir(parents=True, exist_ok=True)
    keep_outputs_in(folder)
    return folder


def gpu_line() -> str:
    """One line: whether a GPU runtime is on, and if not, how to switch one on."""
    import torch

    if torch.cuda.is_available():
        return f"GPU runtime: on ({torch.cuda.get_device_name(0)})"
    return f"GPU runtime: off, the notebooks run on the CPU. To switch: {GPU_HOWTO}"


def start(mount: bool = True) -> None:
    """What the setup cell does on Colab once the library is installed: offer Drive, then say GPU on or off.

    Safe to run again (an already mounted Drive is kept). Does nothing outside Colab.
    """
    if not in_colab():
        return
    if mount:
        folder = mount_drive()
        if folder is not None:
            print(f"Google Drive: {folder} holds the data cache and checkpoints; keep your notebooks in "
                  f"MyDrive/{COLAB_NOTEBOOKS} (File > Save a copy in Drive) or in {folder}")
    else:
        print("Google Drive: not mounted (MOUNT_DRIVE = False); what this runtime writes is lost when it disconnects")
    print(gpu_line())
