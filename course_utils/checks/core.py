"""The core of every check: failures and their messages, the one wrapper around learner code, comparisons.

Every failure reads "<exercise>: expected <what>, got <what>. Hint: <hint>". Every call into learner code,
in visible checks and hidden tests alike, goes through `run_learner` (or `call_quietly`, which names the
exercise after the function), so a crash in learner code becomes such a message, never a raw traceback.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import torch

NOT_ANSWERED_HINT = "write your code where it says YOUR CODE HERE and delete the raise line"


class CheckFailed(AssertionError):
    """An exercise gave a wrong answer. The message says what was expected, what was got, and a hint."""


def fail(exercise: str, expected: str, got: str, hint: str = "") -> NoReturn:
    """Raise CheckFailed with the course's three-part message."""
    message = f"{exercise}: expected {expected}, got {got}."
    if hint:
        message += f" Hint: {hint}"
    raise CheckFailed(message)


def describe(x: Any) -> str:
    """A short, one-line description of a value for messages: shapes of tensors and arrays, nested containers,
    class names of modules and other objects, and short literals."""
    if isinstance(x, torch.Tensor) or (hasattr(x, "shape") and hasattr(x, "dtype")):
        return str(tuple(x.shape))
    if isinstance(x, (tuple, list)):
        inner = ", ".join(describe(v) for v in x[:6]) + (", ..." if len(x) > 6 else "")
        return f"({inner})" if isinstance(x, tuple) else f"[{inner}]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in list(x.items())[:6]) + "}"
    if isinstance(x, (bool, int, float, str, type(None))):
        text = repr(x)
        return text if len(text) <= 40 else text[:37] + "..."
    return type(x).__name__


def grading_device() -> torch.device:
    """Where hidden tests run: the GPU when there is one (as on Colab), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tolerances(device: torch.device | str) -> tuple[float, float]:
    """(atol, rtol) for comparing two correct implementations that may sum in another order.

    Looser on CUDA, where cuDNN picks convolution algorithms (and TF32) per call.
    """
    return (1e-3, 1e-3) if torch.device(device).type == "cuda" else (1e-5, 1e-4)


# ---------------------------------------------------------------------------------------------------------
# The one wrapper around learner code


@contextlib.contextmanager
def _quiet() -> Any:
    """Warnings off, and the learner's own stderr (a debug print) sent to stdout: nbgrader zeroes a test cell
    that writes to stderr, and a learner's print is not a wrong answer."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        yield


def _inputs(args: tuple, kwargs: dict) -> str:
    return ", ".join([describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()])


def run_learner(exercise: str, fn: Callable, *args: Any, hint: str = "", **kwargs: Any) -> Any:
    """Call learner code quietly; any exception becomes a CheckFailed that names the exercise and the inputs."""
    try:
        with _quiet():
            return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except NotImplementedError:
        fail(exercise, "your code", "NotImplementedError: the exercise is not answered yet", NOT_ANSWERED_HINT)
    except Exception as exc:  # any error in learner code becomes a message
        first_line = (f"{type(exc).__name__}: {exc}".strip().splitlines() or [type(exc).__name__])[0]
        fail(exercise, f"a call with inputs ({_inputs(args, kwargs)}) to run", first_line,
             hint or "run the failing line on these inputs and print the shape of each intermediate result")


def exercise_name(fn: Callable) -> str:
    """The name an exercise goes by in messages: the function's or class's name, or the module's class name."""
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def call_quietly(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """`run_learner` with the exercise named after `fn`: for hidden tests that call learner code directly."""
    return run_learner(exercise_name(fn), fn, *args, **kwargs)


def expect_error(exercise: str, fn: Callable, args: tuple, case: str, mention: str = "",
                 error: type[Exception] = ValueError) -> None:
    """Check that `fn(*args)` raises `error` for a bad input (`case`), with `mention` in its message."""
    try:
        with _quiet():
            fn(*args)
    except error as raised:
        if mention and mention not in str(raised):
            first_line = (str(raised).strip().splitlines() or [""])[0]
            fail(exercise, f"the {error.__name__} for {case} to mention {mention}", f"the message {first_line!r}",
                 f"put the offending value in the message, e.g. raise {error.__name__}(f'... got {mention}')")
        return
    except NotImplementedError:
        fail(exercise, "your code", "NotImplementedError: the exercise is not answered yet", NOT_ANSWERED_HINT)
    except Exception as raised:  # any other error is the learner's to see
        first_line = (str(raised).strip().splitlines() or [""])[0]
        fail(exercise, f"a {error.__name__} for {case}", f"a {type(raised).__name__}: {first_line}",
             f"check the input first and raise {error.__name__} with a clear message")
    fail(exercise, f"a {error.__name__} for {case}", "no error", f"check the input first and raise {error.__name__}")


# ---------------------------------------------------------------------------------------------------------
# Comparisons


def assert_close(got: Any, expected: torch.Tensor, exercise: str, what: str = "the output",
                 atol: float | None = None, rtol: float | None = None, hint: str = "") -> None:
    """Compare a tensor with the expected one: type, shape, dtype, then values (largest difference and where)."""
    if not isinstance(got, torch.Tensor):
        fail(exercise, f"{what} to be a torch.Tensor", f"a {type(got).__name__}",
             hint or "return the tensor; do not print it or return a list")
    if got.shape != expected.shape:
        fail(exercise, f"{what} of shape {describe(expected)}", f"shape {describe(got)}", hint)
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


def assert_equal_arrays(got: Any, expected: Any, exercise: str, what: str, hint: str = "") -> None:
    """Compare a numpy array with the expected one exactly: type, shape, dtype, then values (how many differ, where)."""
    import numpy as np

    if not isinstance(got, np.ndarray):
        fail(exercise, f"{what} to be a numpy array", f"a {type(got).__name__}", hint)
    if got.shape != expected.shape:
        fail(exercise, f"{what} of shape {expected.shape}", f"shape {got.shape}", hint)
    if got.dtype != expected.dtype:
        fail(exercise, f"{what} of dtype {expected.dtype}", f"dtype {got.dtype}", hint)
    differ = got != expected
    if differ.any():
        first = tuple(int(i) for i in np.argwhere(differ)[0])
        fail(exercise, f"{what} to match the reference", f"{int(differ.sum())} of {differ.size} values differ, "
             f"the first at index {first} ({got[first]} instead of {expected[first]})", hint)


def check_values(fn: Callable, cases: Iterable[tuple[tuple, torch.Tensor]], exercise: str, hint: str = "") -> None:
    """Call `fn(*args)` for each (args, expected) case, compare with the expected tensor, and check the inputs
    were left unchanged."""
    for args, expected in cases:
        inputs = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        got = run_learner(exercise, fn, *inputs, hint=hint)
        shown = ", ".join(f"{a.tolist()}" if isinstance(a,
                                                        torch.Tensor) and a.numel() <= 8 else describe(a) for a in args)
        assert_close(got, expected, exercise, what=f"the result for input {shown}", hint=hint)
        for before, after in zip(args, inputs):
            if isinstance(before, torch.Tensor) and not torch.equal(before, after):
                fail(exercise, "the input tensor to be left unchanged", "it was modified in place",
                     "build a new tensor (x * 2) instead of changing x (x.mul_(2), x[...] = ...)")


def expect_scalar(value: Any, exercise: str) -> torch.Tensor:
    """Check that a loss is a scalar tensor (so it can be back-propagated) and return it."""
    if not isinstance(value, torch.Tensor):
        fail(exercise, "a torch.Tensor", f"a {type(value).__name__}",
             "return the loss tensor (no .item()), so it can be back-propagated")
    if value.dim() != 0:
        fail(exercise, "a scalar tensor (shape ())", f"shape {tuple(value.shape)}",
             "average over every patch and pixel")
    return value


def expect_number(got: torch.Tensor | float, expected: float, exercise: str, what: str, hint: str,
                  atol: float = 1e-4) -> None:
    """Compare a number with a value computed by hand, with a relative tolerance for large values."""
    value = got.detach().item() if isinstance(got, torch.Tensor) else float(got)
    if not abs(value - expected) <= atol * max(1.0, abs(expected)):
        fail(exercise, f"{what} of {expected:.5f}", f"{value:.5f}", hint)


# ---------------------------------------------------------------------------------------------------------
# Think items: a prediction or a multiple-choice answer held in a variable


def check_answer_format(name: str, value: Any, choices: str) -> None:
    """Visible check of a think item: says only whether `value` is one of `choices` ("abc"), never if it is right."""
    allowed = ", ".join(f'"{c}"' for c in choices)
    if value is None or value is NotImplemented:
        fail(name, f"one of {allowed}", "no answer yet", f'set {name} = "..." to the letter of your choice')
    if not (isinstance(value, str) and len(value.strip()) == 1 and value.strip().lower() in choices):
        fail(name, f"one of {allowed}", repr(value), "answer with a single letter, as a string")
    print(f"{name}: the answer has the right form; it is graded when the notebook is graded.")


def check_answer(name: str, value: Any, correct: str, why: str) -> None:
    """Hidden test of a think item: the right letter, and the reason, which the grader's feedback shows either way."""
    if not (isinstance(value, str) and value.strip().lower() == correct):
        fail(name, f'"{correct}"', repr(value), why)
    print(f"{name}: right. {why}")
