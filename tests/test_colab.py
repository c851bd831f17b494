"""Colab without Colab: the release's setup cell, Drive, import_notebook, and grading a notebook saved by Colab.

The simulation: a fresh virtual environment that has torch and the other dependencies (the development
environment's packages, seen through a path file, less the course itself), a fake `google.colab` module
(imported at start, as Colab's kernel does; its `drive.mount` makes a folder), the course installed by the
setup cell from a wheel built from this checkout (`pip wheel .`), and each release notebook's setup cell and
import cells run headless in a folder of its own, as Colab's /content.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import nbformat
import pytest

from course_utils import colab, grade, release
from course_utils.environment import course_root, data_dir, solutions_dir
from course_utils.notebooks import import_notebook, notebook_search_folders
from helpers import release_notebooks

SOURCE = release.CourseSource("https://github.com/example-org/pix2pix-course", "v0.1.0")
FAKE_DRIVE = '''
import shutil
from pathlib import Path

MY_DRIVE = {my_drive!r}  # what the learner's Drive holds


def mount(mountpoint, force_remount=False, **kwargs):
    shutil.copytree(MY_DRIVE, Path(mountpoint) / "MyDrive", dirs_exist_ok=True)
    print("Mounted at", mountpoint)
'''
DRIVER = '''
import sys
import google.colab  # Colab's kernel imports it when it starts; course_utils.colab.in_colab() relies on it

namespace = {"__name__": "__main__"}  # one kernel: the cells share their globals
for index, source in enumerate(CELLS):
    print(f"--- cell {index}", flush=True)
    exec(compile(source, f"<cell {index}>", "exec"), namespace)
'''


# ---------------------------------------------------------------------------------------------------------
# Stamping the release, in-process


def test_pyproject_url_and_tag_make_the_install_and_the_badge(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\nversion = "1.2.0"\n\n[project.urls]\n'
                         'Source = "https://github.com/o/r"\n')
    source = release.course_source(pyproject)
    assert source == release.CourseSource("https://github.com/o/r", "v1.2.0")
    assert source.install == "pix2pix-course @ git+https://github.com/o/r@v1.2.0"
    assert source.badge_url("00_welcome.ipynb") == \
        "https://colab.research.google.com/github/o/r/blob/v1.2.0/notebooks/00_welcome.ipynb"
    pyproject.write_text(pyproject.read_text().replace("/o/r", "/o/r/tree/spring-2027"))
    assert release.course_source(pyproject) == release.CourseSource("https://github.com/o/r", "spring-2027")
    assert release.CourseSource("https://gitlab.com/o/r", "v1").badge_url("00_welcome.ipynb") is None


def test_no_url_means_a_note_and_no_stamp(tmp_path, capsys):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\nversion = "1.2.0"\n')
    assert release.course_source(pyproject) is None
    path = tmp_path / "00_welcome.ipynb"
    shutil.copyfile(release_notebooks()[0], path)
    before = path.read_text()
    assert release.stamp_files([path], None) is False
    assert path.read_text() == before
    assert "NOTE" in capsys.readouterr().err


def test_the_committed_release_matches_pyproject():
    """Stamped exactly when pyproject names a repository: never a placeholder, never a stale URL."""
    source = release.course_source()
    for path in release_notebooks():
        setup = [c for c in nbformat.read(path, as_version=4).cells if c.get("id") == release.SETUP_ID]
        if source is None:
            assert not setup, f"{path.name} has a Colab setup cell but pyproject.toml names no repository"
        else:
            assert len(setup) == 1 and repr(source.install) in setup[0].source, path.name


def test_stamping_is_idempotent_and_puts_setup_before_any_code():
    for path in release_notebooks():
        nb = nbformat.read(path, as_version=4)
        once = nbformat.writes(release.stamp(nb, path.name, SOURCE))
        twice = release.stamp(nbformat.reads(once, as_version=4), path.name, SOURCE)
        assert nbformat.writes(twice) == once, path.name
        nbformat.validate(twice)
        assert twice.cells[0].id == release.BADGE_ID and "colab.research.google.com" in twice.cells[0].source
        first_code = next(c for c in twice.cells if c.cell_type == "code")
        assert first_code.id == release.SETUP_ID, f"{path.name}: the setup cell must be the first code cell"


def test_the_setup_cell_does_nothing_outside_colab(capsys):
    assert not colab.in_colab()
    namespace: dict = {}
    exec(release.setup_cell_source(SOURCE.install), namespace)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------------------------------------
# import_notebook, in-process


@pytest.fixture
def fake_colab(tmp_path, monkeypatch):
    """google.colab "imported" and Drive mounted at tmp_path/drive; the current folder is an empty /content."""
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setenv("COURSE_DRIVE", str(tmp_path / "drive"))
    for name in ("COURSE_NOTEBOOKS", "COURSE_SOLUTIONS", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "content").mkdir()
    monkeypatch.chdir(tmp_path / "content")
    return tmp_path


def test_import_notebook_finds_colabs_copy_on_drive(fake_colab):
    assert colab.drive_notebook_folders() == []  # Drive not mounted yet
    folder = fake_colab / "drive" / "MyDrive" / "Colab Notebooks"
    folder.mkdir(parents=True)
    shutil.copyfile(solutions_dir() / "00_welcome.ipynb", folder / "Copy of 00_welcome.ipynb")
    assert colab.drive_notebook_folders() == [colab.course_folder(), folder]
    assert callable(import_notebook("00_welcome").to_signed)


def test_import_notebook_looks_next_to_the_current_notebook_and_in_course_notebooks(fake_colab, monkeypatch):
    elsewhere, extra = fake_colab / "lab" / "week1", fake_colab / "extra"
    elsewhere.mkdir(parents=True)
    extra.mkdir()
    shutil.copyfile(solutions_dir() / "00_welcome.ipynb", elsewhere / "00_welcome.ipynb")
    monkeypatch.setenv("JPY_SESSION_NAME", str(elsewhere / "01_paired_data.ipynb"))
    monkeypatch.setenv("COURSE_NOTEBOOKS", str(extra))
    assert notebook_search_folders()[:3] == [elsewhere, Path.cwd(), extra]
    assert import_notebook("00_welcome").__file__ == str(elsewhere / "00_welcome.ipynb")


def test_import_notebook_says_where_it_looked_and_what_to_do(fake_colab):
    with pytest.raises(FileNotFoundError) as info:
        import_notebook("03_pix2pix_generator")
    message = str(info.value)
    assert str(fake_colab / "content") in message and "COURSE_NOTEBOOKS" in message
    assert "Save a copy in Drive" in message and "MOUNT_DRIVE = True" in message  # on Colab, Drive not mounted


# ---------------------------------------------------------------------------------------------------------
# The simulated Colab runtime (one fresh venv for the module)


def _shared_site(tmp: Path) -> Path:
    """The development environment's packages without the course: symlinks, no .pth files (no editable finder)."""
    site = Path(sysconfig.get_paths()["purelib"])
    shared = tmp / "shared-site"
    shared.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if entry.suffix == ".pth" or name.startswith(("__editable__", "pix2pix_course", "course_utils")):
            continue
        (shared / entry.name).symlink_to(entry)
    return shared


def _build_wheel(tmp: Path) -> Path:
    """`pip wheel .` of a copy of the checkout (a build writes into its source folder; the repository stays clean)."""
    src = tmp / "src"
    root = course_root()
    shutil.copytree(root / "course_utils", src / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(root / name, src / name)
    # Offline where this environment has setuptools (Python 3.11's venvs do); else pip fetches the build backend.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", *isolation, "--quiet",
                    "--disable-pip-version-check", "-w", str(tmp / "wheels")], check=True, timeout=300)
    (wheel,) = (tmp / "wheels").glob("pix2pix_course-*.whl")
    return wheel


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> dict:
    """A fresh venv with torch but not the course, a fake google.colab, a wheel of the checkout, an empty Drive."""
    tmp = tmp_path_factory.mktemp("colab")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "dev_packages.pth").write_text(str(_shared_site(tmp)) + "\n")
    fake = tmp / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "drive.py").write_text(FAKE_DRIVE.format(my_drive=str(tmp / "my-drive")))
    notebooks = tmp / "my-drive" / "Colab Notebooks"
    notebooks.mkdir(parents=True)
    for path in solutions_dir().glob("*.ipynb"):  # the learner's notebooks, saved with "Save a copy in Drive"
        shutil.copyfile(path, notebooks / f"Copy of {path.name}")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COURSE_", "JPY_", "PYTHON"))}
    env.update(PYTHONPATH=str(fake), COURSE_DRIVE=str(tmp / "drive"), COURSE_FAST="1", MPLBACKEND="Agg",
               COURSE_DATA=str(data_dir()), OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1")
    return {"tmp": tmp, "python": python, "env": env, "wheel": _build_wheel(tmp)}


def run_in_colab(runtime: dict, cells: list[str], name: str) -> subprocess.CompletedProcess:
    content = runtime["tmp"] / "content" / name  # each notebook in a runtime of its own, in an empty folder
    content.mkdir(parents=True)
    script = f"CELLS = {cells!r}\n" + textwrap.dedent(DRIVER)
    return subprocess.run([runtime["python"], "-c", script], cwd=content, env=runtime["env"], capture_output=True,
                          text=True, timeout=600)


def test_the_course_is_not_importable_before_the_setup_cell(runtime):
    probe = run_in_colab(runtime, ["import torch, google.colab\nimport course_utils"], "probe")
    assert "No module named 'course_utils'" in probe.stderr, probe.stdout + probe.stderr


def test_each_release_notebook_sets_up_and_imports_on_colab(runtime):
    drive = runtime["tmp"] / "drive" / "MyDrive" / "pix2pix-course"
    for number, path in enumerate(release_notebooks()):
        nb = release.stamp(nbformat.read(path, as_version=4), path.name, SOURCE, install=str(runtime["wheel"]))
        setup = next(c.source for c in nb.cells if c.get("id") == release.SETUP_ID)
        imports = [c.source for c in nb.cells if c.cell_type == "code"
                   and {"setup", "reference"} & set(c.metadata.get("tags", []))]
        cells = [setup, setup] + imports if number == 0 else [setup] + imports  # the first one runs it twice
        result = run_in_colab(runtime, cells, path.stem)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{path.name} failed on the simulated Colab:\n{output[-4000:]}"
        assert "GPU runtime: off" in result.stdout and "Runtime > Change runtime type" in result.stdout, output
        assert f"Google Drive: {drive} holds" in result.stdout, output
        if number == 0:
            assert result.stdout.count("Mounted at") == 1, "the second run must keep the mounted Drive"
            assert result.stdout.count("GPU runtime") == 2
        if path.stem.startswith("06"):  # its checkpoints go to Drive, found by the imports of 03-05 there
            assert f"outputs go to: {drive / 'runs' / '06'}" in result.stdout, output
    shown = run_in_colab(runtime, ["import course_utils, torch\nprint(course_utils.__file__, torch.__file__)"], "where")
    library, torch_file = shown.stdout.split()[-2:]
    assert "site-packages" in library and str(course_root()) not in library, "the course came from the checkout"
    assert Path(torch_file).parent.parent.name == "shared-site", f"torch was installed anew: {torch_file}"


# ---------------------------------------------------------------------------------------------------------
# Grading a notebook saved the way Colab saves it


def colab_saved(nb: nbformat.NotebookNode, name: str) -> dict:
    """`nb` as Colab writes it: nbformat 4.0, cell ids in metadata, Colab's notebook and cell metadata."""
    data = json.loads(nbformat.writes(nb))
    data["nbformat_minor"] = 0
    data["metadata"] = {"colab": {"provenance": [], "name": name, "gpuType": "T4"}, "accelerator": "GPU",
                        "kernelspec": {"name": "python3", "display_name": "Python 3"},
                        "language_info": {"name": "python"}}
    for number, cell in enumerate(data["cells"]):
        cell.pop("id", None)
        cell["metadata"]["id"] = f"Xk{number:04d}aBcD"
        if cell["cell_type"] == "code":
            cell["metadata"]["colab"] = {"base_uri": "https://localhost:8080/"}
            cell["metadata"]["outputId"] = f"{number:08x}-0000-4000-8000-000000000000"
    return data


def test_a_notebook_saved_by_colab_grades_in_full(tmp_path):
    solution = nbformat.read(solutions_dir() / "00_welcome.ipynb", as_version=4)
    path = tmp_path / "Copy of 00_welcome.ipynb"
    path.write_text(json.dumps(colab_saved(release.stamp(solution, path.name, SOURCE), path.name), indent=1))
    report = grade.grade([str(path)])[str(path)]
    assert not report.error, report.error
    assert report.score == report.max_score > 0, report.items


def test_kernels_the_course_starts_do_not_inherit_the_current_notebook(monkeypatch):
    """A grader run from inside JupyterLab must not make the graded kernels read the instructor's notebooks."""
    from course_utils.notebooks import pinned_kernel

    monkeypatch.setenv("JPY_SESSION_NAME", "/somewhere/notebooks/06_train_pix2pix.ipynb")
    with pinned_kernel():
        assert "JPY_SESSION_NAME" not in os.environ
    assert os.environ["JPY_SESSION_NAME"].endswith("06_train_pix2pix.ipynb")
