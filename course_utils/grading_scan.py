"""Integrity: a static scan of a submission's own code cells, in the grader's process (the kernel never sees it).

Flags what an honest answer has no reason to do: use `reference` or `trusted` (the solution code), name the
solutions folder or its environment variable, exec/eval code text, reach for importlib, sys.modules or
mock patching, assign to attributes of modules (`course_utils.checks`, `torch`), or rebind a check's name.
Each flag names the cell and the line; the grader lists them, and `--strict` zeroes the items they touch.

A flag is a reason to look, not a verdict: hidden tests take their helpers from a private copy of the
checks, so no rebinding changes a grade, and the student's kernel is not given the solutions path.
"""

from __future__ import annotations

import ast
import importlib
import re
import types

from course_utils.environment import SOLUTIONS_ENV
from course_utils.notebooks import nbgrader_meta

HIDDEN_TOOLKIT = {"reference": "uses reference(), the solution code",
                  "trusted": "uses trusted(), the hidden tests' private toolkit"}
SOLUTION_NAMES = {"solutions_dir", "grading_solutions_dir", "SOLUTIONS_ENV", "definitions"}
EXEC_CALLS = {"exec", "eval", "compile", "__import__", "run_cell", "run_path", "run_module"}
NAMESPACE_CALLS = {"globals", "vars", "locals"}
PATCHING_MODULES = {"importlib", "runpy", "builtins", "unittest.mock", "mock", "ctypes"}
KNOWN_PACKAGES = {"course_utils", "torch", "torchvision", "numpy"}
SOLUTIONS_PATH = re.compile(r"(^|[/\\])solutions([/\\]|$)")


def protected_names(source_nb: dict) -> set[str]:
    """Names a learner must not rebind: every check of course_utils.checks and what the source notebook imports
    from course_utils (its setup cell)."""
    from course_utils import checks

    names = {name for name in checks.__all__ if name.startswith("check_")} | set(HIDDEN_TOOLKIT)
    for cell in source_nb["cells"]:
        if cell["cell_type"] == "code" and not nbgrader_meta(cell):
            for node in _walk(cell["source"]):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
                    names |= {alias.asname or alias.name for alias in node.names}
    return names


def _walk(source: str) -> list[ast.AST]:
    try:
        return list(ast.walk(ast.parse(source)))
    except SyntaxError:  # IPython magics, or code the learner is still writing: nothing to scan
        return []


def _is_module(module: str, name: str) -> bool:
    if module.split(".")[0] not in KNOWN_PACKAGES:  # never import a package a learner names, in the grader
        return False
    try:
        return isinstance(getattr(importlib.import_module(module), name, None), types.ModuleType)
    except Exception:  # not importable here: not one of the course's modules
        return False


def _aliases(source: str) -> set[str]:
    aliases = set()
    for node in _walk(source):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            aliases |= {a.asname or a.name for a in node.names if _is_module(node.module, a.name)}
    return aliases


def module_aliases(nb: dict) -> set[str]:
    """Names bound to modules anywhere in the notebook (`import course_utils.checks as ck`, `from torch import nn`):
    assigning to their attributes changes them for every later cell, the hidden tests included."""
    return {"course_utils"}.union(*[_aliases(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"])


def _root(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _dotted(node: ast.AST) -> str:
    return ast.unparse(node) if isinstance(node, (ast.Attribute, ast.Name)) else ""


def _call_flags(node: ast.Call, modules: set[str]) -> list[str]:
    name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
    if name in EXEC_CALLS:
        return [f"{name}() runs code text (the solution notebook's, perhaps)"]
    if name in NAMESPACE_CALLS:
        return [f"{name}() reaches into a namespace directly"]
    if name in {"setattr", "delattr"} and node.args and _root(node.args[0]) in modules:
        return [f"{name}() on the module {_dotted(node.args[0]) or _root(node.args[0])}"]
    return []


def _import_flags(node: ast.Import | ast.ImportFrom) -> list[str]:
    found = []
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    for module in modules:
        if module in PATCHING_MODULES or module.split(".")[0] in PATCHING_MODULES - {"unittest.mock"}:
            found.append(f"imports {module} (loading or patching modules)")
    if isinstance(node, ast.ImportFrom):
        if node.module == "unittest" and any(a.name == "mock" for a in node.names):
            found.append("imports unittest.mock (patching)")
        for alias in node.names:
            if alias.name in HIDDEN_TOOLKIT:
                found.append(HIDDEN_TOOLKIT[alias.name])
            elif alias.name in SOLUTION_NAMES:
                found.append(f"imports {alias.name}, which reads the solutions folder")
    return found


def _store_targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    if isinstance(node, ast.Delete):
        return node.targets
    return []


def _bound_names(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
        return [node.id]
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_utils"):
        # the course's own names under their own names: importing a check is not rebinding it
        return [a.asname for a in node.names if a.asname and a.asname != a.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [alias.asname or alias.name.split(".")[0] for alias in node.names]
    return []


def _node_flags(node: ast.AST, modules: set[str], protected: set[str]) -> list[str]:
    """What one AST node does that an honest answer has no reason to do."""
    found = []
    if isinstance(node, ast.Call):
        found += _call_flags(node, modules)
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        found += _import_flags(node)
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) or isinstance(node, ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        if name in HIDDEN_TOOLKIT:
            found.append(HIDDEN_TOOLKIT[name])
        elif name in SOLUTION_NAMES:
            found.append(f"uses {name}, which reads the solutions folder")
        elif isinstance(node, ast.Attribute) and name == "modules" and _root(node) == "sys":
            found.append("uses sys.modules (swapping modules)")
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        if SOLUTIONS_ENV in node.value:
            found.append(f"names {SOLUTIONS_ENV}, the solutions folder's variable")
        elif SOLUTIONS_PATH.search(node.value):
            found.append(f"names the solutions folder ({node.value[:40]!r})")
    for target in _store_targets(node):
        if isinstance(target, ast.Attribute) and _root(target) in modules:
            found.append(f"assigns {_dotted(target)}, an attribute of a module (every later cell sees it, the hidden "
                         "tests too)")
    found += [f"rebinds {name}, a name of the course's checks" for name in _bound_names(node) if name in protected]
    return found


def scan_source(source: str, modules: set[str], protected: set[str]) -> list[tuple[int, str]]:
    """(line, message) for everything suspicious in one cell's code, in line order, without repeats."""
    found: set[tuple[int, str]] = set()
    modules = modules | _aliases(source)
    for node in _walk(source):
        for message in _node_flags(node, modules, protected):
            found.add((getattr(node, "lineno", 1), message))
    return sorted(found)


def cell_label(nb: dict, index: int) -> str:
    """A cell's name in flags and messages: its grade_id, else "cell N" (the submission's own cells, from 1)."""
    cell = nb["cells"][index]
    grade_id = nbgrader_meta(cell).get("grade_id")
    if grade_id:
        return grade_id
    own = [c for c in nb["cells"][:index + 1] if not c.get("metadata", {}).get("course_restored")]
    return f"cell {len(own)}"


def code_shape(source: str) -> str:
    """A cell's code with every literal blanked: a given cell whose settings the learner changed
    (`MOUNT_DRIVE = False`) keeps its shape, and a trick added to it does not."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = None
    return ast.dump(tree)


def scan_notebook(nb: dict, source_nb: dict, given_nbs: tuple[dict, ...] = ()) -> list[dict]:
    """Flags for a submission's own code cells: [{"cell", "line", "message"}], in cell order.

    Graded test cells are skipped (the grader puts the source's back before running), and so are cells
    with the code of one of the source notebook's other cells (the setup cell imports the checks, rightly)
    or of `given_nbs` (the release notebook: its Colab setup cell), up to literals.
    """
    given = {code_shape(c["source"]) for book in (source_nb, *given_nbs) for c in book["cells"]
             if c["cell_type"] == "code" and not nbgrader_meta(c).get("solution")}
    modules, protected = module_aliases(nb), protected_names(source_nb)
    flags = []
    for index, cell in enumerate(nb["cells"]):
        meta = nbgrader_meta(cell)
        if cell["cell_type"] != "code" or meta.get("grade") or meta.get("locked"):
            continue
        if not meta.get("solution") and code_shape(cell["source"]) in given:
            continue
        for line, message in scan_source(cell["source"], modules, protected):
            flags.append({"cell": cell_label(nb, index), "index": index, "line": line, "message": message})
    return flags
