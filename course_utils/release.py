"""The student release: notebooks/ generated from solutions/ with nbgrader, then stamped for Colab.

    python -m course_utils.release [--out DIR]      (make release; also python -m course_utils.grade --release)
    python -m course_utils.release --course DIR     (make course DIR=...): an nbgrader course directory

Stamping puts at the top of each release notebook an "Open in Colab" badge and, before its first code
cell, one setup cell. The setup cell does nothing outside Colab; on Colab it installs the course library
(non-editably, so the running kernel imports it at once, no restart) from the repository and tag that
pyproject.toml names in `[project.urls]`, keeps Colab's own torch, torchvision and numpy, offers to mount
Google Drive and says whether a GPU runtime is on (`course_utils.colab.start`). Running it again is harmless.

The repository is named in ONE place, pyproject.toml:

    [project.urls]
    Source = "https://github.com/OWNER/REPO"              # installs tag v<version>
    Source = "https://github.com/OWNER/REPO/tree/v0.1.0"  # or names the tag (or branch) itself

Without a Source URL the release is not stamped, and a NOTE says so: a placeholder is never released.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.environment import course_root, nbgrader_config_file, release_dir, solutions_dir
from course_utils.notebooks import notebook_paths, pinned_kernel

BADGE_ID, SETUP_ID = "colab-badge", "colab-setup"  # cell ids and tags of the stamped cells
PACKAGE = "pix2pix-course"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
NO_URL_NOTE = ("NOTE: pyproject.toml names no repository ([project.urls] Source), so the release notebooks get "
               "no Colab badge and no Colab setup cell. Set it and run `make release` again.")

SETUP_CELL = '''# Colab setup: does nothing outside Colab. On Colab it installs the course library (once per runtime;
# Colab's own torch stays), offers to mount your Google Drive, and says whether a GPU runtime is on.
MOUNT_DRIVE = True  # False: no Drive; then earlier notebooks, data and checkpoints are lost on disconnect
COURSE = @COURSE@  # the course library at a fixed tag (make release writes it)
import sys

if "google.colab" in sys.modules:
    import importlib
    import importlib.metadata
    import importlib.util
    import subprocess
    import tempfile

    if importlib.util.find_spec("course_utils") is None:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as keep:  # Colab's own builds stay
            for name in ("torch", "torchvision", "numpy"):
                try:
                    keep.write(f"{name}=={importlib.metadata.version(name)}\\n")
                except importlib.metadata.PackageNotFoundError:
                    pass
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--constraint", keep.name,
                              COURSE], capture_output=True, text=True)
        if pip.returncode:
            raise RuntimeError("installing the course library failed:\\n" + pip.stderr[-3000:])
        importlib.invalidate_caches()
    from course_utils.colab import start

    start(mount=MOUNT_DRIVE)'''


@dataclass(frozen=True)
class CourseSource:
    """Where Colab installs the course from: a repository URL and a git tag (or branch)."""

    url: str
    ref: str

    @property
    def install(self) -> str:
        """The pip requirement for the course at this tag."""
        return f"{PACKAGE} @ git+{self.url}@{self.ref}"

    def badge_url(self, notebook: str) -> str | None:
        """The Colab address of a release notebook (GitHub repositories only; None otherwise)."""
        found = re.match(r"https://github\.com/([^/]+/[^/]+?)(\.git)?$", self.url)
        if not found:
            return None
        return f"https://colab.research.google.com/github/{found[1]}/blob/{self.ref}/notebooks/{notebook}"


def _toml_table(text: str, table: str) -> dict[str, str]:
    """The string values of one table of a TOML file (`key = "value"` lines; enough for pyproject's)."""
    values, current = {}, None
    for line in text.splitlines():
        header = re.match(r"\s*\[([^\]]+)\]\s*(#.*)?$", line)
        if header:
            current = header[1].strip()
            continue
        pair = re.match(r'\s*"?([\w.-]+)"?\s*=\s*"([^"]*)"', line)
        if current == table and pair:
            values[pair[1]] = pair[2]
    return values


def course_source(pyproject: Path | None = None) -> CourseSource | None:
    """The repository and tag named in pyproject.toml ([project.urls] Source, [project] version), or None."""
    text = Path(pyproject or course_root() / "pyproject.toml").read_text()
    url = _toml_table(text, "project.urls").get("Source", "").strip().rstrip("/")
    if not url:
        return None
    tree = re.match(r"(.+?)/tree/(.+)$", url)
    if tree:
        return CourseSource(tree[1], tree[2])
    return CourseSource(url, "v" + _toml_table(text, "project")["version"])


def setup_cell_source(install: str) -> str:
    """The Colab setup cell's code, installing `install` (a pip requirement, or a wheel's path in tests)."""
    return SETUP_CELL.replace("@COURSE@", repr(install))


def _stamped_cell(cell: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    cell.id = cell_id
    cell.metadata["tags"] = [cell_id]
    return cell


def stamp(nb: nbformat.NotebookNode, notebook: str, source: CourseSource, install: str | None = None
          ) -> nbformat.NotebookNode:
    """Put the Colab badge (GitHub only) at the top of `nb` and the setup cell before its first code cell.

    Cells stamped before are replaced, so stamping twice gives the same notebook. `install` overrides
    `source.install` (the tests install a wheel built from the checkout). Changes and returns `nb`.
    """
    nb.cells = [c for c in nb.cells if not {BADGE_ID, SETUP_ID} & set(c.metadata.get("tags", []))]
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    setup = nbformat.v4.new_code_cell(setup_cell_source(install or source.install))
    nb.cells.insert(first_code, _stamped_cell(setup, SETUP_ID))
    link = source.badge_url(notebook)
    if link:
        badge = nbformat.v4.new_markdown_cell(f"[![Open In Colab]({BADGE_IMAGE})]({link})")
        nb.cells.insert(0, _stamped_cell(badge, BADGE_ID))
    return nb


def stamp_files(paths: list[Path], source: CourseSource | None, install: str | None = None) -> bool:
    """Stamp release notebooks in place; without a source print NO_URL_NOTE and leave them as they are."""
    if source is None:
        print(NO_URL_NOTE, file=sys.stderr)
        return False
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.write(stamp(nb, path.name, source, install), path)
    return True


def release(out_dir: Path | None = None, solutions: Path | None = None) -> list[Path]:
    """Generate the student version of every solution notebook into `out_dir` (default notebooks/), stamped."""
    from course_utils.grade import _api, _generate

    written = []
    solutions = Path(solutions or solutions_dir())
    out_dir = Path(out_dir or release_dir())
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp, pinned_kernel():
        root = Path(tmp)
        api = _api(root)
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in notebook_paths(solutions):
            _generate(api, root, path.stem, solutions)
            target = out_dir / path.name
            shutil.copyfile(root / "release" / path.stem / path.name, target)
            written.append(target)
    stamp_files(written, course_source())
    return written


def make_course(folder: Path, solutions: Path | None = None) -> list[Path]:
    """Lay out an nbgrader course directory in `folder`: source/<assignment>/<assignment>.ipynb and the config.

    nbgrader's own commands then work in it as documented (`nbgrader generate_assignment 00_welcome`,
    `nbgrader autograde`, `nbgrader generate_feedback`, the formgrader). Sources already there are
    refreshed from solutions/; everything else in `folder` (gradebook, submissions) is kept.
    """
    folder = Path(folder)
    written = []
    for path in notebook_paths(Path(solutions or solutions_dir())):
        target = folder / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    shutil.copyfile(nbgrader_config_file(), folder / "nbgrader_config.py")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.release", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="where to write them (default notebooks/)")
    parser.add_argument("--course", type=Path, default=None, metavar="DIR",
                        help="instead: lay out an nbgrader course directory in DIR (source/<assignment>/, config)")
    args = parser.parse_args(argv)
    if args.course:
        sources = make_course(args.course)
        print(f"nbgrader course directory {args.course}: {len(sources)} assignments in source/; in it, run e.g. "
              f"`nbgrader generate_assignment {sources[0].parent.name}` or `jupyter lab` for the formgrader")
        return 0
    for path in release(args.out):
        print(f"released {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
