"""The hidden-test toolkit: the reference solutions, module comparison on identical weights, isolation.

Hidden tests compare the learner's code with the reference, the solution notebook's own code, loaded from
the solutions folder by `reference()` at grading time, run on identical weights, inputs and random state.
`using` and `isolate_cell` build a later exercise around the reference's earlier parts, so that one mistake
costs one exercise.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from ..environment import SOLUTIONS_ENV, CourseFilesNotFound, solutions_dir
from .core import assert_close, describe, fail, grading_device, run_learner


@functools.cache
def reference(notebook: str) -> types.ModuleType:
    """The solution code of one notebook (e.g. "00_welcome") as a module: `reference("00_welcome").to_signed`.

    Runs the notebook's solution cells and the cells tagged `reference` (the imports they need), in
    order. Hidden tests compare the learner's code with it, so no second copy of a solution exists.
    """
    from ..notebooks import definitions

    try:
        path = solutions_dir() / f"{notebook}.ipynb"
    except CourseFilesNotFound as exc:
        raise FileNotFoundError(f"hidden tests need the solution notebooks, which this copy of the course does not "
                                f"have ({exc})") from None
    if not path.exists():
        raise FileNotFoundError(f"hidden tests need the solution notebook {path}; set {SOLUTIONS_ENV} to the "
                                "solutions folder")
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


_ISOLATED: list = []


def isolate_cell(namespace: dict, **replacements: Any) -> None:
    """Replace names in the learner's namespace until the current notebook cell ends (for hidden tests).

    A graded cell calls this before its visible check, so that the check of a later exercise runs on the
    reference's earlier parts: one mistake costs one exercise. The names come back when the cell ends,
    even when it fails (an IPython post_run_cell event); outside IPython they stay replaced.
    """
    context = using(namespace, **replacements)
    context.__enter__()
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is None:
        _ISOLATED.append(context)  # keep it alive: a collected context manager would restore at once
        return

    def restore(*_: Any) -> None:
        shell.events.unregister("post_run_cell", restore)
        context.__exit__(None, None, None)

    shell.events.register("post_run_cell", restore)


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
                    train: bool = False, seed: int = 0, hint: str = "",
                    names: tuple[str, ...] = ("the output",)) -> None:
    """Copy the reference's weights into the learner's module, run both on each input, compare outputs.

    Both run on grading_device(), in the same mode (train or eval), from the same random state, so dropout
    draws the same masks. A module may return a tuple: `names` says what each tensor is ("the skip
    features", "the pooled output"). A crash in the learner's module becomes a message naming the exercise.
    """
    device = grading_device()
    copy_weights(student, ref, exercise)
    student.to(device).train(train)
    ref.to(device).train(train)
    for case, args in enumerate(inputs):
        args = tuple(a.to(device) for a in args)
        shapes = " and ".join(describe(a) for a in args)
        torch.manual_seed(seed + case)
        with torch.no_grad():
            expected = ref(*args)
        torch.manual_seed(seed + case)
        with torch.no_grad():
            got = run_learner(exercise, student, *args, hint=hint)
        if isinstance(expected, torch.Tensor):
            assert_close(got, expected, exercise, f"{names[0]} for an input of shape {shapes}", hint=hint)
            continue
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            fail(exercise, f"a tuple of {len(expected)} tensors ({', '.join(names)})",
                 f"a {type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""),
                 hint or "return the tensors in the order the docstring gives")
        for name, g, e in zip(names, got, expected):
            assert_close(g, e, exercise, f"{name} for an input of shape {shapes}", hint=hint)


def randomize_batchnorm(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm layer random affine parameters and running statistics (so eval mode is tested too)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                n = layer.num_features
                layer.weight.copy_(0.5 + torch.rand(n, generator=generator))
                layer.bias.copy_(torch.randn(n, generator=generator) * 0.3)
                layer.running_mean.copy_(torch.randn(n, generator=generator) * 0.3)
                layer.running_var.copy_(0.5 + torch.rand(n, generator=generator))
    return module
