"""JupyterLab in a real browser: notebook 00 with Run All, notebook 06's painter, the formgrader; headless Chromium.

JupyterLab runs on a free port of 127.0.0.1 over a temporary copy of the solution notebooks (so every cell
has an answer), in fast mode, with this interpreter as its kernel. Playwright for Python drives Debian's
Chromium (`executable_path`; Playwright downloads no browser). Screenshots go to build/browser/.
`.ci/run` installs Chromium; without it, or without Playwright, these tests are skipped and say why.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from course_utils.environment import build_dir, solutions_dir
from course_utils.notebooks import notebook_paths, pinned_kernel
from course_utils.release import make_course

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
RUN_ALL_TIMEOUT_S = 420  # notebook 06 trains in fast mode; a busy 2-core machine is slow
SHOTS = build_dir() / "browser"
# JupyterLab user settings: start the notebook's kernel without asking, no news prompt over the screenshots.
LAB_SETTINGS = {"@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autoStartDefaultKernel": True},
                "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"}}

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

pytestmark = [
    pytest.mark.skipif(sync_playwright is None,
                       reason="Playwright for Python is not installed (pip install -e '.[dev]' installs it)"),
    pytest.mark.skipif(CHROMIUM is None,
                       reason="no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"),
]


def test_jupyterlab_has_the_nbgrader_and_widgets_extensions():
    jupyter = Path(sys.executable).parent / "jupyter"
    listing = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120)
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)
    for extension in ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager"):
        line = next((line for line in text.splitlines() if extension in line), "")
        assert "enabled" in line and "OK" in line, f"expected {extension} enabled and OK, got:\n{text}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, server: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"JupyterLab did not answer {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[dict]:
    """JupyterLab on a free port over a copy of the solution notebooks and an nbgrader course directory (the
    server starts in it, as an instructor would); yields its base URL, token and the notebooks' folder."""
    tmp = tmp_path_factory.mktemp("lab")
    folder, course = tmp / "root" / "notebooks", tmp / "root" / "course"  # nbgrader wants its course under the root
    shutil.copytree(solutions_dir(), folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    make_course(course)
    for plugin, values in LAB_SETTINGS.items():
        (tmp / "settings" / plugin).parent.mkdir(parents=True, exist_ok=True)
        (tmp / "settings" / plugin).write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    settings = {"JUPYTER_CONFIG_DIR": tmp / "config", "JUPYTERLAB_SETTINGS_DIR": tmp / "settings",
                "JUPYTERLAB_WORKSPACES_DIR": tmp / "workspaces", "JUPYTER_RUNTIME_DIR": tmp / "runtime"}
    env = {**os.environ, **{key: str(value) for key, value in settings.items()},
           "COURSE_FAST": "1", "COURSE_RUN_DIR": str(tmp / "run06"), "OMP_NUM_THREADS": "1"}
    env.pop("MPLBACKEND", None)  # the kernel's inline backend shows the figures
    log = tmp / "jupyterlab.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder.parent}",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    with pinned_kernel(), open(log, "w") as out:  # the kernel is this interpreter, while the server runs
        env.update(JUPYTER_PATH=os.environ["JUPYTER_PATH"], PATH=os.environ["PATH"])
        server = subprocess.Popen(command, env=env, cwd=course, stdout=out, stderr=subprocess.STDOUT)  # its config
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for_server(f"{base}/api/status?token={token}", server, log)
            yield {"base": base, "token": token, "folder": folder, "log": log}
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def open_notebook(browser, lab: dict, name: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    workspace = Path(name).stem  # a workspace of its own: no tab of an earlier test is restored
    page.goto(f"{lab['base']}/lab/workspaces/{workspace}/tree/notebooks/{name}?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.wait_for_timeout(2000)
    dialog = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel", should the settings not be read
    if dialog.count():
        dialog.first.click()
    return page


def run_all(page, name: str) -> None:
    """Run > Run All Cells from the menu bar, then wait until no cell is waiting or running."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    try:
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""", timeout=RUN_ALL_TIMEOUT_S * 1000)
    except Exception:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"FAILED_{Path(name).stem}.png"))
        prompts = page.eval_on_selector_all(".jp-CodeCell .jp-InputArea-prompt", "ps => ps.map(p => p.textContent)")
        raise AssertionError(f"{name}: Run All did not finish; cell prompts: {prompts}") from None
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)


def error_outputs(path: Path) -> list[str]:
    """'cell N: Ename: value' for each error output the saved notebook holds."""
    nb = nbformat.read(path, as_version=4)
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells)
            if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def test_notebook_00_runs_all_in_jupyterlab(browser, lab):
    page = open_notebook(browser, lab, "00_welcome.ipynb")
    run_all(page, "00_welcome.ipynb")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "00_welcome.png"), full_page=True)
    assert page.locator(".jp-OutputArea-output .jp-RenderedText[data-mime-type*='error']").count() == 0
    assert error_outputs(lab["folder"] / "00_welcome.ipynb") == []
    sizes = page.eval_on_selector_all(".jp-OutputArea-output img", "imgs => imgs.map(i => i.naturalWidth)")
    assert sizes and all(width > 0 for width in sizes), f"expected rendered images, got widths {sizes}"
    page.close()


def test_notebook_06_painter_changes_the_generated_image(browser, lab):
    page = open_notebook(browser, lab, "06_train_pix2pix.ipynb")
    run_all(page, "06_train_pix2pix.ipynb")
    assert error_outputs(lab["folder"] / "06_train_pix2pix.ipynb") == []
    images = page.locator(".widget-image")
    page.wait_for_selector(".widget-gridbox button", timeout=60_000)
    before = images.last.get_attribute("src")
    page.locator(".widget-gridbox button").nth(0).click()
    page.wait_for_function("(before) => { const imgs = document.querySelectorAll('.widget-image');"
                           " return imgs.length && imgs[imgs.length - 1].src !== before; }", arg=before,
                           timeout=60_000)
    page.locator(".widget-gridbox").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "06_painter.png"))
    page.close()


def test_the_formgrader_lists_the_assignments(browser, lab):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{lab['base']}/formgrader?token={lab['token']}")
    for path in notebook_paths(solutions_dir()):
        page.wait_for_selector(f"text={path.stem}", timeout=120_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "formgrader.png"))
    page.close()
