"""Checks: the visible checks learners run after each exercise, and the comparisons hidden tests use.

Visible checks test known answers and properties (shapes, ranges, parameter counts); they work without
the solutions. Hidden tests compare the learner's code with the reference: the solution notebook's own
code, loaded from `solutions/` by `reference()` at grading time, run on identical weights and inputs.
Every failure says which exercise failed, what was expected, what was got, and a hint.
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NoReturn

import torch
from torch import nn

SOLUTIONS_ENV = "COURSE_SOLUTIONS"


class CheckFailed(AssertionError):
    """An exercise gave a wrong answer. The message says what was expected, what was got, and a hint."""


def fail(exercise: str, expected: str, got: str, hint: str = "") -> NoReturn:
    """Raise CheckFailed with the course's three-part message."""
    message = f"{exercise}: expected {expected}, got {got}."
    if hint:
        message += f" Hint: {hint}"
    raise CheckFailed(message)


def grading_device() -> torch.device:
    """Where hidden tests run: the GPU when there is one (as on Colab), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tolerances(device: torch.device) -> tuple[float, float]:
    """(atol, rtol) for comparing two correct implementations that may sum in another order.

    Looser on CUDA, where cuDNN picks convolution algorithms (and TF32) per call.
    """
    return (1e-3, 1e-3) if torch.device(device).type == "cuda" else (1e-5, 1e-4)


def _shape(x: Any) -> str:
    return str(tuple(x.shape)) if isinstance(x, torch.Tensor) else type(x).__name__


def assert_close(got: Any, expected: torch.Tensor, exercise: str, what: str = "the output",
                 atol: float | None = None, rtol: float | None = None, hint: str = "") -> None:
    """Compare a tensor with the expected one: type, shape, dtype, then values (largest difference and where)."""
    if not isinstance(got, torch.Tensor):
        fail(exercise, f"{what} to be a torch.Tensor", f"a {type(got).__name__}",
             hint or "return the tensor; do not print it or return a list")
    if got.shape != expected.shape:
        fail(exercise, f"{what} of shape {_shape(expected)}", f"shape {_shape(got)}", hint)
    if got.dtype != expected.dtype:
        fail(exercise, f"{what} of dtype {expected.dtype}", f"dtype {got.dtype}", hint)
    default_atol, default_rtol = tolerances(expected.device)
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    got_c, exp_c = got.detach().to(expected.device).double(), expected.detach().double()
    if torch.allclose(got_c, exp_c, atol=atol, rtol=rtol, equal_nan=True):
        return
    diff = (got_c - exp_c).abs().nan_to_num(float("inf"))
    index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    fail(exercise, f"{what} to match the reference (within {atol:g})",
         f"a largest difference of {diff.max().item():.4g} at index {index} "
         f"({got_c[index].item():.4g} instead of {exp_c[index].item():.4g})", hint)


def check_values(fn: Callable, cases: Iterable[tuple[tuple, torch.Tensor]], exercise: str, hint: str = "") -> None:
    """Call `fn(*args)` for each (args, expected) case and compare with the expected tensor."""
    for args, expected in cases:
        inputs = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        got = call_quietly(fn, *inputs)
        shown = ", ".join(f"{a.tolist()}" if isinstance(a, torch.Tensor) and a.numel() <= 8 else _shape(a) for a in args)
        assert_close(got, expected, exercise, what=f"the result for input {shown}", hint=hint)
        for before, after in zip(args, inputs):
            if isinstance(before, torch.Tensor) and not torch.equal(before, after):
                fail(exercise, "the input tensor to be left unchanged", "it was modified in place",
                     "build a new tensor (x * 2) instead of changing x (x.mul_(2), x[...] = ...)")


def call_quietly(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call learner code with warnings silenced: nbgrader would score a test cell's stderr as a failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------------------------------------
# The reference: the solution notebook's own code (hidden tests only; needs the solutions folder)


def solutions_dir() -> Path:
    """The nbgrader source notebooks: `$COURSE_SOLUTIONS` (set by the grader), else the repository's."""
    if os.environ.get(SOLUTIONS_ENV):
        return Path(os.environ[SOLUTIONS_ENV])
    return Path(__file__).resolve().parent.parent / "solutions"


@functools.lru_cache(maxsize=None)
def reference(notebook: str) -> types.ModuleType:
    """The solution code of one notebook (e.g. "00_welcome") as a module: `reference("00_welcome").to_signed`.

    Runs the notebook's solution cells and the cells tagged `reference` (the imports they need), in
    order. Hidden tests compare the learner's code with it, so no second copy of a solution exists.
    """
    from course_utils.notebooks import definitions

    path = solutions_dir() / f"{notebook}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"hidden tests need the solution notebook {path}; set {SOLUTIONS_ENV} to the solutions folder")
    return definitions(path)


@contextlib.contextmanager
def using(namespace: dict, **replacements: Any) -> Iterator[None]:
    """Temporarily replace names in a namespace: `with using(globals(), ContractingBlock=ref.ContractingBlock):`.

    Hidden tests build the learner's later exercise around the reference's earlier parts this way, so
    that one mistake costs one exercise, not every exercise that builds on it.
    """
    missing = object()
    saved = {name: namespace.get(name, missing) for name in replacements}
    namespace.update(replacements)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


# ---------------------------------------------------------------------------------------------------------
# Modules: identical weights, identical inputs, identical random state


def copy_weights(student: nn.Module, ref: nn.Module, exercise: str) -> None:
    """Give the learner's module the reference's weights, matched by name (names are fixed by the skeleton)."""
    ref_state, student_state = ref.state_dict(), student.state_dict()
    missing = sorted(set(ref_state) - set(student_state))
    unexpected = sorted(set(student_state) - set(ref_state))
    if missing or unexpected:
        fail(exercise, f"parameters and buffers named {sorted(ref_state)}",
             f"missing {missing or 'none'} and unexpected {unexpected or 'none'}",
             "use the attribute names and layer types the docstring gives")
    for name, tensor in ref_state.items():
        if student_state[name].shape != tensor.shape:
            fail(exercise, f"{name} of shape {tuple(tensor.shape)}", f"shape {tuple(student_state[name].shape)}",
                 "check the in and out channels and the kernel size of that layer")
    student.load_state_dict(ref_state)


def compare_modules(student: nn.Module, ref: nn.Module, inputs: Iterable[tuple[torch.Tensor, ...]], exercise: str,
                    train: bool = False, seed: int = 0, hint: str = "") -> None:
    """Copy the reference's weights into the learner's module, run both on each input, compare outputs.

    Both run on grading_device(), in the same mode (train or eval), from the same random state, so dropout
    draws the same masks.
    """
    device = grading_device()
    copy_weights(student, ref, exercise)
    student.to(device).train(train)
    ref.to(device).train(train)
    for case, args in enumerate(inputs):
        args = tuple(a.to(device) for a in args)
        torch.manual_seed(seed + case)
        with torch.no_grad():
            expected = ref(*args)
        torch.manual_seed(seed + case)
        with torch.no_grad():
            got = call_quietly(student, *args)
        shapes = " and ".join(_shape(a) for a in args)
        assert_close(got, expected, exercise, what=f"the output for an input of shape {shapes}", hint=hint)


# ---------------------------------------------------------------------------------------------------------
# 00_welcome


def check_to_signed(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `to_signed`: [0, 1] -> [-1, 1]."""
    hint = "a pixel of 0 should become -1, 0.5 should become 0 and 1 should stay 1: stretch by 2, then shift"
    check_values(fn, [
        ((torch.tensor([0.0, 0.25, 0.5, 1.0]),), torch.tensor([-1.0, -0.5, 0.0, 1.0])),
        ((torch.full((2, 3, 4, 4), 0.75),), torch.full((2, 3, 4, 4), 0.5)),
    ], "to_signed", hint)
    print("to_signed: all checks passed.")


def check_to_unit(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `to_unit`: [-1, 1] -> [0, 1], clamped."""
    hint = "undo to_signed (shift, then halve) and clamp to [0, 1] for values a little outside the range"
    check_values(fn, [
        ((torch.tensor([-1.0, -0.5, 0.0, 1.0]),), torch.tensor([0.0, 0.25, 0.5, 1.0])),
        ((torch.tensor([-1.2, 1.5]),), torch.tensor([0.0, 1.0])),
    ], "to_unit", hint)
    print("to_unit: all checks passed.")
