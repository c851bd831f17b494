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


def run_learner(exercise: str, fn: Callable, *args: Any, hint: str = "", **kwargs: Any) -> Any:
    """Call learner code quietly; an exception becomes a CheckFailed that names the exercise and the inputs."""
    try:
        return call_quietly(fn, *args, **kwargs)
    except CheckFailed:
        raise
    except NotImplementedError:
        fail(exercise, "your code", "NotImplementedError: the exercise is not answered yet",
             "write your code where it says YOUR CODE HERE and delete the raise line")
    except Exception as exc:  # any error in learner code becomes a message
        shapes = ", ".join(_shape(a) if isinstance(a, torch.Tensor) else repr(a) for a in args)
        fail(exercise, f"a call with inputs {shapes} to run", f"{type(exc).__name__}: {exc}".splitlines()[0],
             hint or "run the failing line on these shapes and print the shape after each step")


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
        shapes = " and ".join(_shape(a) for a in args)
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


# ---------------------------------------------------------------------------------------------------------
# ----- 01_paired_data -----


def _columns_image(height: int, width: int) -> "np.ndarray":
    """A uint8 (height, width, 3) image whose pixel value is its column index (channel c adds 100 * c)."""
    import numpy as np

    columns = np.arange(width, dtype=np.uint8)[None, :, None]
    return np.broadcast_to(columns + np.array([0, 100, 200], dtype=np.uint8), (height, width, 3)).copy()


def assert_equal_arrays(got: Any, expected: "np.ndarray", exercise: str, what: str, hint: str = "") -> None:
    """Compare an array with the expected one exactly: type, shape, dtype, then values (how many differ, first where)."""
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


def _expect_value_error(fn: Callable, args: tuple, exercise: str, case: str, mention: str = "") -> None:
    try:
        call_quietly(fn, *args)
    except ValueError as error:
        if mention and mention not in str(error):
            fail(exercise, f"the ValueError for {case} to mention {mention}", f"the message {str(error)!r}",
                 f"put the offending value in the message, e.g. raise ValueError(f'... got {mention}')")
        return
    except Exception as error:  # noqa: BLE001 (any other error is the learner's to see)
        fail(exercise, f"a ValueError for {case}", f"a {type(error).__name__}: {error}",
             "check the input first and raise ValueError with a clear message")
    fail(exercise, f"a ValueError for {case}", "no error", "check the input first and raise ValueError")


def _describe_columns(part: Any) -> str:
    """Which columns of a _columns_image a returned half holds (for failure messages)."""
    import numpy as np

    if not isinstance(part, np.ndarray) or part.ndim != 3 or part.shape[1] == 0:
        return f"a {type(part).__name__} of shape {getattr(part, 'shape', '?')}"
    cols = part[0, :, 0].astype(int)
    return f"columns {cols[0]}..{cols[-1]} (width {part.shape[1]})"


def check_split_pair(fn: Callable) -> None:
    """Visible check of `split_pair(image, direction)`: an A|B image -> (input, target)."""
    import numpy as np

    exercise = "split_pair"
    for height, width in [(4, 6), (3, 10)]:
        image = _columns_image(height, width)
        original = image.copy()
        half = width // 2
        for direction, (first, second) in [("AtoB", (0, half)), ("BtoA", (half, 0))]:
            result = call_quietly(fn, image, direction)
            if not isinstance(result, tuple) or len(result) != 2:
                fail(exercise, "a tuple (input, target)", f"a {type(result).__name__}",
                     "return two arrays: return input_image, target_image")
            for name, part, start in [("input", result[0], first), ("target", result[1], second)]:
                expected = f"columns {start}..{start + half - 1} (width {half})"
                if not isinstance(part, np.ndarray):
                    fail(exercise, f"the {name} to be a numpy array", f"a {type(part).__name__}",
                         "slice the array: image[:, a:b]")
                if part.shape != (height, half, 3):
                    fail(exercise, f"the {name} of a {image.shape} image ({direction}) to have shape {(height, half, 3)}, "
                         f"{expected}", f"shape {part.shape}, {_describe_columns(part)}",
                         "each half is exactly width // 2 wide: image[:, :w // 2] and image[:, w // 2:]")
                if not np.array_equal(part, image[:, start:start + half]):
                    swapped = "A is the left half and B the right half; AtoB returns (A, B), BtoA returns (B, A)"
                    fail(exercise, f"the {name} for {direction} to be {expected}", _describe_columns(part), swapped)
        if not np.array_equal(image, original):
            fail(exercise, "the image to be left unchanged", "it was modified", "slice it; do not write into it")
    _expect_value_error(fn, (_columns_image(2, 7), "AtoB"), exercise, "an image of odd width 7", "7")
    _expect_value_error(fn, (_columns_image(2, 6), "AB"), exercise, "the direction 'AB'", "AB")
    print("split_pair: all checks passed.")


def check_normalize_pair(fn: Callable) -> None:
    """Visible check of `normalize_pair(input_image, target_image)`: uint8 (H, W, 3) arrays -> (3, H, W) in [-1, 1]."""
    import numpy as np

    exercise = "normalize_pair"
    first = np.array([[[0, 51, 255], [102, 153, 204]]], dtype=np.uint8)  # (1, 2, 3): height 1, width 2
    second = 255 - first
    originals = first.copy(), second.copy()
    result = call_quietly(fn, first, second)
    if not isinstance(result, tuple) or len(result) != 2:
        fail(exercise, "a tuple of two tensors (input, target)", f"a {type(result).__name__}",
             "return both: return input_tensor, target_tensor")
    for name, got, image in [("input", result[0], first), ("target", result[1], second)]:
        if not isinstance(got, torch.Tensor):
            fail(exercise, f"the {name} to be a torch.Tensor", f"a {type(got).__name__}", "torch.from_numpy(array)")
        if got.dtype != torch.float32:
            fail(exercise, f"the {name} of dtype torch.float32", f"dtype {got.dtype}",
                 "convert to float before any arithmetic: in uint8, 200 * 2 wraps around to 144"
                 if got.dtype == torch.uint8 else "convert with .astype(np.float32) or .float(), not to float64")
        if tuple(got.shape) != (3, 1, 2):
            fail(exercise, f"the {name} of a (1, 2, 3) (height, width, channels) image to have shape (3, 1, 2)",
                 f"shape {tuple(got.shape)}", "channels first: .permute(2, 0, 1), not .T or .reshape")
        expected = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
        if got.min() >= -1e-6 and got.max() <= 1 + 1e-6 and torch.allclose(got, (expected + 1) / 2, atol=1e-5):
            fail(exercise, f"the {name} in [-1, 1]", "values in [0, 1]",
                 "0 must become -1 and 255 must become 1: divide by 127.5, then subtract 1")
        if torch.allclose(got, -expected, atol=1e-5) and not torch.allclose(got, expected, atol=1e-5):
            fail(exercise, f"the {name} to come from the {name} image", "the other image's values",
                 "return (input, target) in the order they were given")
        assert_close(got, expected, exercise, what=f"the {name}",
                     hint="pixel 0 -> -1, 255 -> 1, 51 -> -0.6; keep channel c of pixel (i, j) at [c, i, j]")
    if not (np.array_equal(first, originals[0]) and np.array_equal(second, originals[1])):
        fail(exercise, "the arrays to be left unchanged", "they were modified", "build new tensors")
    print("normalize_pair: all checks passed.")


def check_denormalize(fn: Callable) -> None:
    """Visible check of `denormalize(tensor)`: (3, H, W) in [-1, 1] -> numpy (H, W, 3) in [0, 1], clamped."""
    import numpy as np

    exercise = "denormalize"
    tensor = torch.tensor([[[-1.0, 0.0, 1.0]], [[0.5, -0.5, 2.0]], [[-3.0, 0.2, -0.2]]])  # (3, 1, 3)
    tensor.requires_grad_(True)
    got = call_quietly(fn, tensor)
    if not isinstance(got, np.ndarray):
        fail(exercise, "a numpy array", f"a {type(got).__name__}",
             "matplotlib wants numpy: .detach().cpu().numpy() at the end")
    if got.shape != (1, 3, 3):
        fail(exercise, "shape (1, 3, 3) (height, width, channels) for a (3, 1, 3) tensor", f"shape {got.shape}",
             "channels last for matplotlib: .permute(1, 2, 0)")
    expected = np.array([[[0.0, 0.75, 0.0], [0.5, 0.25, 0.6], [1.0, 1.0, 0.4]]], dtype=np.float32)
    if not np.allclose(got, expected, atol=1e-6):
        fail(exercise, f"{expected.tolist()}", f"{np.round(got, 4).tolist()}",
             "(x + 1) / 2, then clamp to [0, 1] (2.0 -> 1.0, -3.0 -> 0.0)")
    print("denormalize: all checks passed.")


def check_random_jitter(fn: Callable) -> None:
    """Visible check of `random_jitter(input, target, size, generator)`: properties of a jittered pair.

    Alignment: the target is -input, and every step of the jitter (resize, crop, flip) keeps that, so the
    jittered target must be -(jittered input). Reproducible: the same generator seed gives the same pair.
    Random: different seeds give different crops, and both mirrored and unmirrored pairs.
    """
    import torchvision.transforms.functional as TF

    exercise = "random_jitter"
    size = 16
    load = round(size * 286 / 256)  # 18
    base = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(0)) * 2 - 1
    resized = TF.resize(base, [load, load], antialias=True)
    candidates = {}
    for top in range(load - size + 1):
        for left in range(load - size + 1):
            crop = resized[:, top:top + size, left:left + size]
            candidates[(top, left, False)] = crop
            candidates[(top, left, True)] = crop.flip(-1)
    seen = set()
    for seed in range(12):
        x, y = base.clone(), -base
        result = call_quietly(fn, x, y, size, torch.Generator().manual_seed(seed))
        if not isinstance(result, tuple) or len(result) != 2:
            fail(exercise, "a tuple (input, target)", f"a {type(result).__name__}", "return both jittered images")
        jx, jy = result
        for name, t in [("input", jx), ("target", jy)]:
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != (3, size, size):
                fail(exercise, f"the jittered {name} to be a tensor of shape (3, {size}, {size})",
                     f"{_shape(t)}", "resize both to round(size * 286 / 256), then crop size x size")
        if not torch.equal(x, base) or not torch.equal(y, -base):
            fail(exercise, "the inputs to be left unchanged", "they were modified", "build new tensors")
        if not torch.allclose(jy, -jx, atol=1e-5):
            fail(exercise, "the pair to stay aligned (this target is -input, so the jittered target must be "
                 "-(jittered input))", f"a largest mismatch of {(jy + jx).abs().max().item():.3g} "
                 f"(seed {seed})", "draw ONE crop position and ONE flip decision and apply them to both images")
        match = [key for key, crop in candidates.items() if torch.allclose(jx, crop, atol=1e-4)]
        if not match:
            fail(exercise, f"the input to be a {size}x{size} crop (maybe mirrored) of the input resized to "
                 f"{load}x{load} with TF.resize(x, [{load}, {load}], antialias=True)", "no such crop matched",
                 "resize first (to round(size * 286 / 256)), then crop, then flip")
        seen.add(match[0])
        again = call_quietly(fn, base.clone(), -base, size, torch.Generator().manual_seed(seed))
        if not torch.equal(again[0], jx):
            fail(exercise, "the same result for the same generator seed", "a different result",
                 "draw every random number from `generator` (torch.randint(..., generator=generator))")
    if len({(top, left) for top, left, _ in seen}) < 2:
        fail(exercise, "different crops for different seeds", f"always the crop at {sorted(seen)[0][:2]}",
             "draw top and left with torch.randint(0, load_size - size + 1, (1,), generator=generator)")
    if len({flip for _, _, flip in seen}) < 2:
        fail(exercise, "some pairs mirrored and some not over 12 seeds", f"mirrored = {sorted(seen)[0][2]} every time",
             "flip when torch.rand(1, generator=generator) < 0.5")
    print("random_jitter: all checks passed.")


def check_edge_pair(fn: Callable) -> None:
    """Visible check of `edge_pair(photo, low, high)`: a photo -> (edge drawing, photo)."""
    import numpy as np

    exercise = "edge_pair"
    photo = np.zeros((24, 32, 3), dtype=np.uint8)
    photo[:, 16:] = (200, 120, 40)  # a vertical step in the middle
    original = photo.copy()
    result = call_quietly(fn, photo, 100, 200)
    if not isinstance(result, tuple) or len(result) != 2:
        fail(exercise, "a tuple (edges, photo)", f"a {type(result).__name__}", "return edges_rgb, photo")
    edges, target = result
    if not isinstance(edges, np.ndarray) or edges.shape != photo.shape or edges.dtype != np.uint8:
        fail(exercise, f"the edges as a uint8 array of shape {photo.shape}",
             f"{type(edges).__name__} {getattr(edges, 'dtype', '')} of shape {getattr(edges, 'shape', '?')}",
             "cv2.Canny gives (H, W); stack it three times along a last axis: np.stack([e, e, e], axis=-1)")
    if not (np.array_equal(edges[..., 0], edges[..., 1]) and np.array_equal(edges[..., 0], edges[..., 2])):
        fail(exercise, "three equal channels (a grey drawing)", "channels that differ", "stack one edge map three times")
    values = set(np.unique(edges).tolist())
    if not values <= {0, 255}:
        fail(exercise, "only the values 0 (edge) and 255 (paper)", f"values {sorted(values)[:6]}", "")
    if np.array_equal(edges[:, :8], np.zeros_like(edges[:, :8])):
        fail(exercise, "a white background (255) away from the edges", "black (0)",
             "draw dark lines on white paper: 255 - cv2.Canny(...)")
    dark_columns = sorted(set(np.nonzero(edges[..., 0] == 0)[1].tolist()))
    if not dark_columns or not set(dark_columns) <= {14, 15, 16, 17}:
        fail(exercise, "dark edge pixels only along the step at column 16", f"dark pixels in columns {dark_columns[:8]}",
             "run cv2.Canny on the greyscale photo (cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))")
    if not isinstance(target, np.ndarray) or not np.array_equal(target, photo):
        fail(exercise, "the target to be the photo itself", f"a {type(target).__name__}", "return edges_rgb, photo")
    if not np.array_equal(photo, original):
        fail(exercise, "the photo to be left unchanged", "it was modified", "")
    flat = np.full((10, 12, 3), 90, dtype=np.uint8)
    if not np.array_equal(call_quietly(fn, flat, 100, 200)[0], np.full_like(flat, 255)):
        fail(exercise, "a blank (all 255) drawing for a flat photo", "some dark pixels", "")
    _expect_value_error(fn, (photo.astype(np.float32) / 255, 100, 200), exercise, "a float photo", "float32")
    _expect_value_error(fn, (photo[..., 0], 100, 200), exercise, "a (24, 32) greyscale array", "(24, 32)")
    print("edge_pair: all checks passed.")

# ----- 03_pix2pix_generator -----


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


def _p2p_conv_layout(exercise: str, conv: Any, kind: type, name: str, stride: int = 2) -> None:
    if not isinstance(conv, kind):
        fail(exercise, f"`{name}` to be an nn.{kind.__name__}", f"a {type(conv).__name__}",
             "set the attribute with the name and layer type the docstring gives")
    if tuple(conv.kernel_size) != (4, 4) or tuple(conv.stride) != (stride, stride) or tuple(conv.padding) != (1, 1):
        fail(exercise, f"`{name}` with kernel_size=4, stride={stride}, padding=1",
             f"kernel_size={tuple(conv.kernel_size)}, stride={tuple(conv.stride)}, padding={tuple(conv.padding)}",
             "a 4x4 kernel with stride 2 and padding 1 halves (or, transposed, doubles) the height and width exactly")


def check_encoder_block(block_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `EncoderBlock`: layout, shapes, no norm on the first block, LeakyReLU 0.2 after batch norm."""
    ex = "EncoderBlock"
    first = run_learner(ex, block_cls, 3, 8, use_norm=False)
    _p2p_conv_layout(ex, getattr(first, "conv", None), nn.Conv2d, "conv")
    if first.conv.bias is not None:
        fail(ex, "`conv` without a bias (bias=False)", "a conv with a bias",
             "batch norm subtracts the mean right after the conv, so a bias would do nothing; the reference "
             "implementation leaves it out in every encoder block, which is how it reaches its parameter count")
    if (first.conv.in_channels, first.conv.out_channels) != (3, 8):
        fail(ex, "EncoderBlock(3, 8) to have a conv from 3 to 8 channels",
             f"{first.conv.in_channels} to {first.conv.out_channels}", "use in_channels and out_channels")
    if not isinstance(getattr(first, "norm", None), nn.Identity):
        fail(ex, "`norm` to be nn.Identity() when use_norm=False", f"a {type(getattr(first, 'norm', None)).__name__}",
             "the first encoder block has no batch norm: with use_norm=False set self.norm = nn.Identity()")
    block = run_learner(ex, block_cls, 8, 16)
    if not isinstance(getattr(block, "norm", None), nn.BatchNorm2d) or block.norm.num_features != 16:
        fail(ex, "`norm` to be nn.BatchNorm2d(out_channels) when use_norm=True", repr(getattr(block, "norm", None)),
             "batch norm normalises the conv's out_channels")
    n_params = sum(p.numel() for p in block.parameters())
    if n_params != 8 * 16 * 16 + 2 * 16:
        fail(ex, f"EncoderBlock(8, 16) to have {8 * 16 * 16 + 2 * 16} parameters", str(n_params),
             "a 4x4 conv without bias (2048) and a batch norm (32)")
    generator = torch.Generator().manual_seed(0)
    for mod, shape, expected in [(first, (2, 3, 16, 16), (2, 8, 8, 8)), (block, (1, 8, 10, 12), (1, 16, 5, 6))]:
        out = run_learner(ex, mod.train(), torch.randn(shape, generator=generator))
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            fail(ex, f"an output of shape {expected} for an input of shape {shape}", _shape(out),
                 "the block halves the height and width and changes the channels")
    # LeakyReLU(0.2) straight after the conv when there is no norm.
    x = torch.randn(2, 3, 16, 16, generator=generator)
    with torch.no_grad():
        pre, out = first.conv(x), call_quietly(first, x)
    neg = pre < 0
    if not torch.allclose(out[~neg], pre[~neg], atol=1e-5) or not torch.allclose(out[neg], 0.2 * pre[neg], atol=1e-5):
        got = "negative values set to zero (a ReLU)" if (out[neg] == 0).all() else "another function of the conv's output"
        fail(ex, "LeakyReLU with slope 0.2 applied to the conv's output (use_norm=False)", got,
             "nn.LeakyReLU(0.2): positive values stay, negative values are multiplied by 0.2")
    # With batch norm (train mode, fresh affine parameters) the values before the LeakyReLU are standardised.
    x = torch.randn(4, 8, 12, 12, generator=generator) * 3 + 1
    with torch.no_grad():
        out = call_quietly(block.train(), x)
    pre = torch.where(out >= 0, out, out / 0.2)
    mean, var = pre.mean(dim=(0, 2, 3)), pre.var(dim=(0, 2, 3), unbiased=False)
    if not (torch.allclose(mean, torch.zeros_like(mean), atol=1e-3) and torch.allclose(var, torch.ones_like(var), atol=1e-2)):
        fail(ex, "conv, then batch norm, then LeakyReLU(0.2) (per channel, the values before the LeakyReLU "
             "have mean 0 and variance 1 in training mode)",
             f"means up to {mean.abs().max():.3g} and variances from {var.min():.3g} to {var.max():.3g}",
             "apply self.norm to the conv's output and the LeakyReLU last")
    print("EncoderBlock: all checks passed.")


def check_decoder_block(block_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `DecoderBlock`: layout, shapes, ReLU after batch norm, dropout 0.5 only when asked, off in eval."""
    ex = "DecoderBlock"
    block = run_learner(ex, block_cls, 16, 8)
    _p2p_conv_layout(ex, getattr(block, "conv", None), nn.ConvTranspose2d, "conv")
    if block.conv.bias is not None:
        fail(ex, "`conv` without a bias (bias=False)", "a conv with a bias", "batch norm follows it, so a bias would do nothing")
    if (block.conv.in_channels, block.conv.out_channels) != (16, 8):
        fail(ex, "DecoderBlock(16, 8) to have a transposed conv from 16 to 8 channels",
             f"{block.conv.in_channels} to {block.conv.out_channels}", "use in_channels and out_channels")
    if not isinstance(getattr(block, "norm", None), nn.BatchNorm2d) or block.norm.num_features != 8:
        fail(ex, "`norm` to be nn.BatchNorm2d(out_channels)", repr(getattr(block, "norm", None)), "every decoder block has batch norm")
    n_params = sum(p.numel() for p in block.parameters())
    if n_params != 16 * 8 * 16 + 2 * 8:
        fail(ex, f"DecoderBlock(16, 8) to have {16 * 8 * 16 + 2 * 8} parameters", str(n_params),
             "a 4x4 transposed conv without bias (2048) and a batch norm (16); dropout has no parameters")
    dropping = run_learner(ex, block_cls, 16, 8, use_dropout=True)
    if sorted(dropping.state_dict()) != sorted(block.state_dict()):
        fail(ex, f"the same parameters with and without dropout ({sorted(block.state_dict())})",
             str(sorted(dropping.state_dict())), "dropout has no parameters; keep the names conv and norm")
    dropping.load_state_dict(block.state_dict())
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4, 16, 6, 5, generator=generator)
    with torch.no_grad():
        plain = run_learner(ex, block.train(), x)
        if not isinstance(plain, torch.Tensor) or tuple(plain.shape) != (4, 8, 12, 10):
            fail(ex, "an output of shape (4, 8, 12, 10) for an input of shape (4, 16, 6, 5)", _shape(plain),
                 "the block doubles the height and width and changes the channels")
        if not torch.equal(plain, call_quietly(block, x)):
            fail(ex, "the same output twice in a row when use_dropout=False", "two different outputs",
                 "only blocks built with use_dropout=True may drop values: use nn.Identity() otherwise")
        if (plain < 0).any():
            fail(ex, "no negative values (a ReLU comes last)", f"a minimum of {plain.min():.3g}", "end with nn.ReLU()")
        pre = block.norm(block.conv(x))
        if not torch.allclose(plain, pre.clamp(min=0), atol=1e-5):
            fail(ex, "ReLU(batch norm(transposed conv(x))) when use_dropout=False", "other values",
                 "the order is conv, norm, ReLU (then dropout)")
        dropped = call_quietly(dropping.train(), x)
        kept = dropped != 0
        alive = plain > 0
        share = 1 - kept[alive].float().mean().item()
        if torch.equal(dropped, plain):
            fail(ex, "dropout to zero about half of the values in training mode when use_dropout=True",
                 "no value dropped", "add nn.Dropout(0.5) after the ReLU when use_dropout is True")
        if not torch.allclose(dropped[kept], 2 * plain[kept], atol=1e-5) or abs(share - 0.5) > 0.08:
            fail(ex, "dropout with p=0.5 (half the values zeroed, the rest doubled)",
                 f"{share:.0%} of the positive values zeroed", "use nn.Dropout(0.5), after the ReLU")
        dropping.load_state_dict(block.state_dict())  # the same running statistics in both
        if not torch.allclose(call_quietly(dropping.eval(), x), call_quietly(block.eval(), x), atol=1e-6):
            fail(ex, "no dropout in eval mode", "random zeros in eval mode",
                 "use nn.Dropout (or F.dropout with training=self.training), which is off after model.eval()")
    print("DecoderBlock: all checks passed.")


class _P2PStub(nn.Module):
    """Stand-in block for check_unet_generator: records its input, returns a distinct random tensor."""

    def __init__(self, channels: int, scale: float, seed: int, squash: bool = False):
        super().__init__()
        self.channels, self.scale, self.seed, self.squash = channels, scale, seed, squash
        self.seen: list[torch.Tensor] = []
        self.made: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        h, w = int(x.shape[2] * self.scale), int(x.shape[3] * self.scale)
        out = torch.randn(x.shape[0], self.channels, h, w, generator=torch.Generator().manual_seed(self.seed))
        out = torch.tanh(out) if self.squash else out
        self.made.append(out)
        return out


def check_unet_generator(generator_cls: type) -> None:
    """Visible check of `UNetGenerator.forward`: the wiring, tested with stand-in blocks that record their inputs.

    Independent of your EncoderBlock and DecoderBlock: the generator is assembled from stand-ins, so this
    check tests only the forward pass (the order of the blocks, the skips, the concatenation order).
    """
    ex = "UNetGenerator.forward"
    for levels in (3, 5):
        model = generator_cls.__new__(generator_cls)
        nn.Module.__init__(model)
        channels = [2 + i for i in range(levels)]  # distinct channel counts, so every tensor is recognisable
        model.levels = levels
        model.encoders = nn.ModuleList(_P2PStub(c, 0.5, 10 + i) for i, c in enumerate(channels))
        model.decoders = nn.ModuleList(_P2PStub(channels[levels - 2 - i], 2.0, 50 + i) for i in range(levels - 1))
        model.out = _P2PStub(3, 2.0, 99, squash=True)
        size = 2 ** levels
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(levels))
        result = run_learner(ex, model.forward, x, hint="loop over self.encoders, then self.decoders, then self.out")
        encs, decs = model.encoders, model.decoders
        for name, block in [(f"encoders[{i}]", e) for i, e in enumerate(encs)] + \
                           [(f"decoders[{i}]", d) for i, d in enumerate(decs)] + [("out", model.out)]:
            if len(block.seen) != 1:
                fail(ex, f"self.{name} to be called once", f"{len(block.seen)} calls",
                     "each encoder, each decoder and the out layer run once per forward pass")
        outs = [e.made[0] for e in encs]
        if not torch.equal(encs[0].seen[0], x):
            fail(ex, "encoders[0] to receive the input image", "another tensor", "start with x")
        for i in range(1, levels):
            if not torch.equal(encs[i].seen[0], outs[i - 1]):
                fail(ex, f"encoders[{i}] to receive the output of encoders[{i - 1}]", "another tensor",
                     "the encoders run in order, each on the previous one's output")
        if not (decs[0].seen[0].shape == outs[-1].shape and torch.equal(decs[0].seen[0], outs[-1])):
            fail(ex, f"decoders[0] to receive the bottleneck (the output of encoders[{levels - 1}]) alone, "
                 f"shape {_shape(outs[-1])}", f"shape {_shape(decs[0].seen[0])}",
                 "the bottleneck has no partner to concatenate with: the skips are the other encoders' outputs")
        stages = [(f"decoders[{i}]", decs[i].seen[0], decs[i - 1].made[0], levels - 1 - i) for i in range(1, levels - 1)]
        stages.append(("out", model.out.seen[0], decs[-1].made[0], 0))
        for name, seen, previous, level in stages:
            skip = outs[level]
            if seen.shape == torch.Size([*previous.shape[:1], previous.shape[1] + skip.shape[1], *previous.shape[2:]]) \
                    and torch.equal(seen, torch.cat([previous, skip], dim=1)):
                continue
            if seen.shape[1] == previous.shape[1] + skip.shape[1] and torch.equal(seen, torch.cat([skip, previous], dim=1)):
                fail(ex, f"{name} to receive torch.cat([decoder_output, skip], dim=1)", "torch.cat([skip, decoder_output])",
                     "the order is fixed by the docstring: the previous decoder's output first, then the skip")
            if torch.equal(seen, previous):
                fail(ex, f"{name} to receive the previous output concatenated with the skip of encoders[{level}]",
                     "the previous output alone", "concatenate the skip with torch.cat([decoder_output, skip], dim=1)")
            for other in range(levels):
                for pair in (torch.cat([previous, outs[other]], dim=1),) if outs[other].shape[2:] == previous.shape[2:] else ():
                    if pair.shape == seen.shape and torch.equal(seen, pair):
                        fail(ex, f"{name} to get the skip from encoders[{level}]", f"the skip from encoders[{other}]",
                             "pair each decoder with the encoder output of the same height and width")
            fail(ex, f"{name} to receive torch.cat([previous decoder output, output of encoders[{level}]], dim=1)",
                 f"a tensor of shape {_shape(seen)}", "keep every encoder output (but the last) as a skip, and use "
                 "them from the deepest to the shallowest")
        if not (isinstance(result, torch.Tensor) and torch.equal(result, model.out.made[0])):
            fail(ex, "forward to return the output of self.out", _shape(result), "return self.out(...) (it ends with tanh)")
    print("UNetGenerator.forward: all checks passed.")


def check_generator_size(model: nn.Module, expected: int = 54_413_955) -> None:
    """Visible check of the full-size generator: which blocks have norm and dropout, and the parameter count."""
    ex = "UNetGenerator(levels=8, base_channels=64)"
    norms = [type(e.norm).__name__ for e in model.encoders]
    wanted = ["Identity"] + ["BatchNorm2d"] * (len(norms) - 2) + ["Identity"]
    if norms != wanted:
        fail(ex, f"encoder norms {wanted}", str(norms), "no batch norm on the first block and on the 1x1 bottleneck")
    drops = [any(isinstance(m, nn.Dropout) for m in d.modules()) for d in model.decoders]
    if drops != [i < 3 for i in range(len(drops))]:
        fail(ex, "dropout in the first three decoder blocks only", str(drops), "use_dropout=True for decoders 0, 1 and 2")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != expected:
        fail(ex, f"{expected:,} parameters", f"{n_params:,}", "convs followed by batch norm have no bias")
    print(f"UNetGenerator: {n_params:,} parameters ({n_params / 1e6:.3f} M), as in the reference implementation.")


# ----- 04_patchgan -----


def check_patchgan(disc_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `PatchGAN`: layout (strides 2, 2, 2, 1, 1), parameter count, output size, logits, input order."""
    ex = "PatchGAN"
    model = run_learner(ex, disc_cls)
    convs, norms = getattr(model, "convs", None), getattr(model, "norms", None)
    if not isinstance(convs, nn.ModuleList) or not isinstance(norms, nn.ModuleList) or len(convs) != 5 or len(norms) != 5:
        fail(ex, "nn.ModuleLists `convs` and `norms` of 5 layers each (n_layers=3)",
             f"convs={type(convs).__name__} ({len(convs) if convs is not None else 0}), "
             f"norms={type(norms).__name__} ({len(norms) if norms is not None else 0})",
             "n_layers + 2 convs; norms[i] follows convs[i] (nn.Identity for the first and the last)")
    strides = [tuple(c.stride)[0] if isinstance(c, nn.Conv2d) else None for c in convs]
    if strides != [2, 2, 2, 1, 1]:
        fail(ex, "strides [2, 2, 2, 1, 1]", str(strides),
             "stride 2 for the first n_layers convs, stride 1 for the last two (the paper's C512 and the final "
             "1-channel conv): that is how 256x256 gives 30x30")
    for i, c in enumerate(convs):
        if tuple(c.kernel_size) != (4, 4) or tuple(c.padding) != (1, 1):
            fail(ex, f"convs[{i}] with kernel_size=4 and padding=1", f"{tuple(c.kernel_size)}, padding {tuple(c.padding)}")
    chans = [c.out_channels for c in convs]
    if [convs[0].in_channels] + chans != [6, 64, 128, 256, 512, 1]:
        fail(ex, "channels 6 -> 64 -> 128 -> 256 -> 512 -> 1", str([convs[0].in_channels] + chans),
             "base_channels doubling (at most 8x) and one output channel: one logit per patch")
    kinds = [type(n).__name__ for n in norms]
    if kinds != ["Identity", "BatchNorm2d", "BatchNorm2d", "BatchNorm2d", "Identity"]:
        fail(ex, "norms [Identity, BatchNorm2d, BatchNorm2d, BatchNorm2d, Identity]", str(kinds),
             "no batch norm on the first conv (as in the generator's first block) nor on the final conv")
    biases = [c.bias is not None for c in convs]
    if biases != [True, False, False, False, True]:
        fail(ex, "a bias on the first and the last conv only", str(biases), "a conv followed by batch norm needs no bias")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != 2_768_705:
        fail(ex, "2,768,705 parameters for PatchGAN(6, 64, 3)", f"{n_params:,}", "check the channels and the biases")
    small = run_learner(ex, disc_cls, in_channels=6, base_channels=8, n_layers=3)
    generator = torch.Generator().manual_seed(0)
    cond, image = torch.randn(1, 2, 256, 256, generator=generator), torch.randn(1, 4, 256, 256, generator=generator)
    with torch.no_grad():
        out = run_learner(ex, small.eval(), cond, image, hint="forward(condition, image) concatenates them along channels")
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 1, 30, 30):
            fail(ex, "an output of shape (1, 1, 30, 30) for 256x256 inputs", _shape(out),
                 "stride 2 in the first three convs, stride 1 in the last two, padding 1 everywhere")
        small.convs[-1].bias.fill_(-5.0)
        out = call_quietly(small, cond, image)
        if ((out > 0) & (out < 1)).all():
            fail(ex, "raw logits (negative values here)", "values all within (0, 1)",
                 "did you apply a sigmoid inside the discriminator? BCEWithLogits expects logits")
        if out.mean() > -2:
            fail(ex, "the last conv's output as is (about -5 here)", f"a mean of {out.mean():.3g}",
                 "no LeakyReLU (nor any activation) after the last conv")
        small.convs[0].weight[:, 2:] = 0  # only the condition's 2 channels can now affect the output
        base = call_quietly(small, cond, image)
        if not torch.allclose(call_quietly(small, cond, image.flip(-1)), base):
            fail(ex, "torch.cat([condition, image], dim=1) (condition first)", "the image first",
                 "the order is fixed: forward(condition, image) concatenates condition, then image")
    print("PatchGAN: all checks passed.")


def _p2p_measured_rf(layers: list[tuple[int, int]]) -> int:
    """The receptive field of one output of a stack of 1-D convs with all-ones weights, measured with autograd."""
    size = 1
    for k, s in layers:
        size = size * s + k
    x = torch.ones(1, 1, size + 8, requires_grad=True)
    y = x
    for k, s in layers:
        y = torch.nn.functional.conv1d(y, torch.ones(1, 1, k), stride=s)
    y[0, 0, 0].backward()
    touched = (x.grad[0, 0] != 0).nonzero()
    return int(touched.max() - touched.min() + 1)


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], int]) -> None:
    """Visible check of `receptive_field`: the paper's variants, and random stacks measured with autograd."""
    ex = "receptive_field"
    known = [([(1, 1), (1, 1), (1, 1)], 1, "PixelGAN"), ([(4, 2), (4, 1), (4, 1)], 16, "16x16 PatchGAN"),
             ([(4, 2)] * 3 + [(4, 1)] * 2, 70, "70x70 PatchGAN"), ([(4, 2)] * 5 + [(4, 1)] * 2, 286, "ImageGAN"),
             ([(7, 1)], 7, "one 7x7 conv"), ([(3, 1), (3, 1)], 5, "two 3x3 convs")]
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        n = int(torch.randint(1, 5, (1,), generator=generator))
        layers = [(int(torch.randint(1, 6, (1,), generator=generator)), int(torch.randint(1, 4, (1,), generator=generator)))
                  for _ in range(n)]
        known.append((layers, _p2p_measured_rf(layers), "a stack measured with autograd"))
    for layers, expected, name in known:
        got = run_learner(ex, fn, list(layers))
        if got != expected:
            hint = ("each layer adds (kernel - 1) times the product of the strides of the layers BEFORE it"
                    if got == fn(list(reversed(layers))) and got != expected else
                    "start from 1; each layer adds (kernel - 1) x (product of the earlier strides)")
            fail(ex, f"{expected} for {layers} ({name})", repr(got), hint)
    print("receptive_field: all checks passed.")


def check_real_and_fake_labels(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Visible check of `real_and_fake_labels`: ones then zeros, shaped like the logits, same dtype."""
    ex = "real_and_fake_labels"
    for shape, dtype in [((2, 1, 30, 30), torch.float32), ((1, 1, 14, 6), torch.float64)]:
        logits = torch.randn(shape, dtype=dtype)
        result = run_learner(ex, fn, logits)
        if not isinstance(result, tuple) or len(result) != 2:
            fail(ex, "a tuple (ones, zeros)", type(result).__name__, "return ones, zeros")
        real, fake = result
        for what, tensor, value in [("the real labels", real, 1.0), ("the fake labels", fake, 0.0)]:
            if not isinstance(tensor, torch.Tensor) or tensor.shape != logits.shape:
                fail(ex, f"{what} of shape {tuple(shape)}, like the discriminator's output", _shape(tensor),
                     "one label per patch: a matrix shaped like the logits (torch.ones_like)")
            if tensor.dtype != dtype:
                fail(ex, f"{what} of dtype {dtype}", str(tensor.dtype), "use the logits' dtype (torch.ones_like does)")
        if (real == 0).all() and (fake == 1).all():
            fail(ex, "(ones, zeros)", "(zeros, ones)", "real pairs are labelled 1, fake pairs 0: ones first")
        if not ((real == 1).all() and (fake == 0).all()):
            fail(ex, "all ones for the real labels and all zeros for the fake labels", "other values")
    print("real_and_fake_labels: all checks passed.")


class _P2PStubDisc(nn.Module):
    """A stand-in discriminator: the logits are a scale times the image's first channel (the condition is ignored)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.scale * image[:, :1]


def check_discriminator_bce(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `discriminator_bce` with a stand-in discriminator whose logits are known."""
    ex = "discriminator_bce"
    import math

    disc = _P2PStubDisc()
    cond = torch.zeros(2, 3, 4, 4)
    cases = [(0.0, 0.0, 2 * math.log(2), "logits 0 for both pairs"),
             (8.0, -8.0, 2 * math.log1p(math.exp(-8)), "confident and right"),
             (-3.0, 2.0, math.log1p(math.exp(3)) + math.log1p(math.exp(2)), "confident and wrong")]
    for real_logit, fake_logit, expected, name in cases:
        real = torch.full((2, 3, 4, 4), real_logit)
        fake = torch.full((2, 3, 4, 4), fake_logit, requires_grad=True)
        loss = run_learner(ex, fn, disc, cond, real, fake)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            fail(ex, "a scalar tensor", _shape(loss), "average over the patches and the batch (reduction='mean')")
        value = loss.item()
        if abs(value - expected) < 1e-4:
            pass
        elif abs(value - expected / 2) < 1e-4:
            fail(ex, f"{expected:.4f} ({name})", f"{value:.4f}, half of it",
                 "this exercise returns loss_real + loss_fake, not halved (notebook 05 halves the Pix2Pix loss)")
        else:
            swapped = math.log1p(math.exp(-fake_logit)) + math.log1p(math.exp(real_logit))
            hint = ("real pairs go with ones and fake pairs with zeros: the labels are swapped"
                    if abs(value - swapped) < 1e-4 else
                    "BCE with logits of D(condition, real) against ones, plus the same for D(condition, fake) against zeros")
            fail(ex, f"{expected:.4f} ({name})", f"{value:.4f}", hint)
        if not loss.requires_grad:
            fail(ex, "a loss that gradients can flow back through to the discriminator", "a loss without grad",
                 "do not detach the loss or use .item(); detach only the fake image")
        loss.backward()
        if fake.grad is not None:
            fail(ex, "no gradient reaching the fake image", "a gradient on fake",
                 "detach the fake (fake.detach()): the discriminator's loss must not train the generator")
    print("discriminator_bce: all checks passed.")

# ----- 02_unet -----


def _unet_conv(exercise: str, module: nn.Module, name: str, in_ch: int, out_ch: int, kernel: int, padding: int) -> None:
    conv = getattr(module, name, None)
    if not isinstance(conv, nn.Conv2d):
        fail(exercise, f"an attribute `{name}` that is an nn.Conv2d", f"{type(conv).__name__}",
             f"create self.{name} = nn.Conv2d(...) in __init__, with the name the docstring gives")
    got = (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding)
    want = (in_ch, out_ch, (kernel, kernel), (padding, padding))
    if got != want:
        fail(exercise, f"{name} with (in_channels, out_channels, kernel_size, padding) = {want}", f"{got}",
             "check the channels (doubled on the way down, halved on the way up) and that the 3x3 convs are unpadded")


def check_crop(crop: Callable) -> None:
    """Visible check of `crop(image, new_shape)`: the centre crop, known answers on odd and even sizes."""
    exercise = "crop"
    hint = "keep rows top .. top + h - 1 with top = (H - h) // 2, and columns left .. left + w - 1 with left = (W - w) // 2"
    x = torch.arange(25.0).view(1, 1, 5, 5)
    check_values(lambda t: run_learner(exercise, crop, t, (3, 3), hint=hint),
                 [((x,), torch.tensor([[[[6.0, 7, 8], [11, 12, 13], [16, 17, 18]]]]))], exercise, hint)
    x = torch.arange(42.0).view(1, 1, 6, 7)  # 6 - 3 = 3 rows to cut: 1 on top, 2 below; 7 - 4 = 3 columns likewise
    check_values(lambda t: run_learner(exercise, crop, t, (3, 4), hint=hint),
                 [((x,), torch.tensor([[[[8.0, 9, 10, 11], [15, 16, 17, 18], [22, 23, 24, 25]]]]))], exercise,
                 "when H - h is odd, the extra row is cut at the bottom (and the extra column on the right): " + hint)
    x = torch.arange(2 * 3 * 8 * 10.0).view(2, 3, 8, 10)
    got = run_learner(exercise, crop, x, torch.Size([2, 5, 4, 4]), hint=hint)
    if not isinstance(got, torch.Tensor) or got.shape != (2, 3, 4, 4):
        fail(exercise, "shape (2, 3, 4, 4) for a (2, 3, 8, 10) batch and new_shape torch.Size([2, 5, 4, 4])",
             _shape(got), "use only the last two entries of new_shape; keep the batch and channel sizes of the image")
    if got[1, 2, 0, 0].item() != 80 * 5 + 2 * 10 + 3:
        fail(exercise, f"the top-left value of the crop of batch 1, channel 2 to be {80 * 5 + 23}",
             f"{got[1, 2, 0, 0].item():g}", hint)
    print("crop: all checks passed.")


def check_contracting_block(ContractingBlock: type) -> None:
    """Visible check of `ContractingBlock`: layers, shapes, ReLU after both convs, the pool of the features."""
    exercise = "ContractingBlock"
    torch.manual_seed(0)
    block = run_learner(exercise, ContractingBlock, 3)
    _unet_conv(exercise, block, "conv1", 3, 6, 3, 0)
    _unet_conv(exercise, block, "conv2", 6, 6, 3, 0)
    count = sum(p.numel() for p in block.parameters())
    if count != 498:
        fail(exercise, "498 parameters for ContractingBlock(3) (two convs with biases)", f"{count}",
             "only conv1 and conv2 have parameters")
    x = torch.randn(2, 3, 21, 24)
    with torch.no_grad():
        out = run_learner(exercise, block, x)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(exercise, "a tuple (features, pooled)", f"a {type(out).__name__}",
             "return both: the features before the pool (for the skip) and the pooled tensor (for the next block)")
    features, pooled = out
    if _shape(features) != "(2, 6, 17, 20)" or _shape(pooled) != "(2, 6, 8, 10)":
        fail(exercise, "features of shape (2, 6, 17, 20) and pooled of shape (2, 6, 8, 10) for an input (2, 3, 21, 24)",
             f"{_shape(features)} and {_shape(pooled)}",
             "two unpadded 3x3 convs take 2 pixels each off the height and the width; the 2x2 max pool halves (rounding down)")
    if features.min() < 0:
        fail(exercise, "features >= 0", f"a minimum of {features.min().item():.3g}", "apply a ReLU after conv2 too")
    assert_close(pooled, torch.nn.functional.max_pool2d(features, 2), exercise, "pooled (the 2x2 max pool of the features)",
                 hint="pool the features (after the second ReLU) with a 2x2 max pool of stride 2")
    with torch.no_grad():  # known answer: conv1 outputs -1 everywhere, so after its ReLU conv2 sees zeros
        block.conv1.weight.zero_()
        block.conv1.bias.fill_(-1.0)
        block.conv2.weight.fill_(0.1)
        block.conv2.bias.fill_(0.5)
        features, _ = run_learner(exercise, block, torch.randn(1, 3, 8, 8))
    assert_close(features, torch.full((1, 6, 4, 4), 0.5), exercise,
                 "the features when conv1 outputs -1 everywhere (its ReLU makes that 0, so conv2 gives its bias 0.5)",
                 hint="apply a ReLU after conv1, before conv2")
    print("ContractingBlock: all checks passed.")


def check_expanding_block(ExpandingBlock: type) -> None:
    """Visible check of `ExpandingBlock`: layers, shapes, ReLU, the centre crop of the skip, the concatenation order."""
    exercise = "ExpandingBlock"
    torch.manual_seed(0)
    block = run_learner(exercise, ExpandingBlock, 8)
    _unet_conv(exercise, block, "conv1", 8, 4, 3, 1)
    _unet_conv(exercise, block, "conv2", 8, 4, 3, 0)
    _unet_conv(exercise, block, "conv3", 4, 4, 3, 0)
    up = getattr(block, "upsample", None)  # optional: F.interpolate in forward is fine too
    if isinstance(up, nn.Upsample) and (float(up.scale_factor), up.mode, up.align_corners) != (2.0, "bilinear", True):
        fail(exercise, "self.upsample = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)", repr(up),
             "create it in __init__ as the docstring says")
    block.eval()
    x, skip = torch.randn(2, 8, 10, 12), torch.randn(2, 4, 27, 31)
    with torch.no_grad():
        out = run_learner(exercise, block, x, skip)
    if _shape(out) != "(2, 4, 16, 20)":
        fail(exercise, "an output of shape (2, 4, 16, 20) for x (2, 8, 10, 12) and skip (2, 4, 27, 31)", _shape(out),
             "upsample to 20 x 24, conv1 keeps that size (padding 1), crop the skip to 20 x 24, then two unpadded 3x3 convs")
    if out.min() < 0:
        fail(exercise, "an output >= 0", f"a minimum of {out.min().item():.3g}", "apply a ReLU after conv2 and after conv3")
    # Which channels of the concatenation come from where: silence the skip's half, then x's half.
    with torch.no_grad():
        block.conv2.weight[:, 4:] = 0
        base = block(x, skip)
        other = skip.clone()
        other[:, :, 3:23, 3:27] = torch.randn(2, 4, 20, 24)
        if not torch.allclose(block(x, other), base):
            fail(exercise, "the output not to change with the skip when conv2 ignores the last half of its input channels",
                 "a change", "concatenate in the order (x, cropped skip) along the channel axis: torch.cat([x, skip], dim=1)")
        torch.manual_seed(1)
        block.conv2.weight.normal_(0, 0.3)
        block.conv2.weight[:, :4] = 0
        base = block(x, skip)
        if not torch.allclose(block(x + torch.randn_like(x), skip), base):
            fail(exercise, "the output not to change with x when conv2 ignores the first half of its input channels",
                 "a change", "concatenate in the order (x, cropped skip) along the channel axis: torch.cat([x, skip], dim=1)")
        outside = skip.clone()  # the 27 x 31 skip is cropped to rows 3..22 and columns 3..26
        outside[:, :, :3] = 9.0
        outside[:, :, 23:] = 9.0
        outside[:, :, :, :3] = 9.0
        outside[:, :, :, 27:] = 9.0
        if not torch.allclose(block(x, outside), base):
            fail(exercise, "the output not to change with the skip's border outside the centre crop (rows 3..22, columns 3..26 of 27 x 31)",
                 "a change", "crop the skip to the upsampled size with your crop function")
        inside = skip.clone()
        inside[:, :, 3:23, 3:27] += 1.0
        if torch.allclose(block(x, inside), base):
            fail(exercise, "the output to change with the skip's centre", "no change",
                 "concatenate the cropped skip with the upsampled x and feed it to conv2")
    print("ExpandingBlock: all checks passed.")


def check_feature_map_block(FeatureMapBlock: type) -> None:
    """Visible check of `FeatureMapBlock`: a 1x1 conv, known answer with all-ones weights."""
    exercise = "FeatureMapBlock"
    block = run_learner(exercise, FeatureMapBlock, 5, 3)
    _unet_conv(exercise, block, "conv", 5, 3, 1, 0)
    x = torch.randn(2, 5, 7, 9)
    with torch.no_grad():
        block.conv.weight.fill_(1.0)
        block.conv.bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
        out = run_learner(exercise, block, x)
    expected = x.sum(dim=1, keepdim=True) + torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1)
    assert_close(out, expected, exercise, "the output with all weights 1 and biases (0, 1, 2)",
                 hint="return self.conv(x), with no activation")
    print("FeatureMapBlock: all checks passed.")


def check_unet(UNet: type) -> None:
    """Visible check of `UNet.forward`: output shapes, and that every block gets the right tensors (by forward hooks)."""
    exercise = "UNet"
    for depth, shape, expected in [(2, (1, 3, 92, 92), (1, 12, 52, 52)), (1, (2, 3, 45, 38), (2, 12, 28, 22)),
                                   (3, (1, 3, 124, 132), (1, 12, 36, 44))]:
        torch.manual_seed(0)
        model = run_learner(exercise, UNet, 3, 12, 4, depth).eval()
        seen: dict[str, Any] = {}

        def record(name: str) -> Callable:
            def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
                seen[name] = (tuple(args) + tuple(kwargs.values()), output)
            return hook

        blocks = {"upfeature": model.upfeature, "bottleneck": model.bottleneck, "downfeature": model.downfeature}
        blocks.update({f"contract[{i}]": b for i, b in enumerate(model.contract)})
        blocks.update({f"expand[{i}]": b for i, b in enumerate(model.expand)})
        handles = [b.register_forward_hook(record(n), with_kwargs=True) for n, b in blocks.items()]
        try:
            with torch.no_grad():
                out = run_learner(exercise, model, torch.randn(shape))
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in blocks if n not in seen]
        if missing:
            fail(exercise, f"every block to be used (depth {depth})", f"{', '.join(missing)} never called",
                 "run upfeature, every contracting block, the bottleneck, every expanding block, then downfeature")

        def same(a: Any, b: Any) -> bool:
            return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)

        wiring = [("upfeature", "the input", seen["upfeature"][0][0], None)]
        previous = seen["upfeature"][1]
        for i in range(depth):
            wiring.append((f"contract[{i}]", "its input", seen[f"contract[{i}]"][0][0], previous))
            previous = seen[f"contract[{i}]"][1][1]
        wiring.append(("bottleneck", "its input", seen["bottleneck"][0][0], previous))
        previous = seen["bottleneck"][1][0]
        for i in range(depth):
            args = seen[f"expand[{i}]"][0]
            wiring.append((f"expand[{i}]", "its first input x", args[0], previous))
            level = depth - 1 - i
            if len(args) < 2 or not same(args[1], seen[f"contract[{level}]"][1][0]):
                fail(exercise, f"expand[{i}] to get as skip the features (first output) of contract[{level}] (depth {depth})",
                     f"a skip of shape {_shape(args[1]) if len(args) > 1 else 'none'}",
                     "keep each contracting block's features in a list and give them to the expanding blocks in reverse order")
            previous = seen[f"expand[{i}]"][1]
        wiring.append(("downfeature", "its input", seen["downfeature"][0][0], previous))
        for name, what, got, want in wiring[1:]:
            if not same(got, want):
                fail(exercise, f"{name} to get as {what} the output of the block before it (depth {depth})",
                     f"a tensor of shape {_shape(got)}",
                     "pass the pooled output down the contracting path, the bottleneck's features up the expanding path")
        if not same(out, seen["downfeature"][1]) or tuple(out.shape) != expected:
            fail(exercise, f"the output of downfeature, of shape {expected}, for an input {shape} (depth {depth})",
                 _shape(out), "return self.downfeature(...) of the last expanding block's output")
    print("UNet: all checks passed.")


# ----- 05_pixel_distance_loss -----
# The loss checks use a toy discriminator whose logits are known by hand: w * (image - condition), averaged
# over the channels and over 4x4 patches. With condition 0.5, real 1 and fake -1 everywhere, the real
# pair's logits are 0.5 and the fake pair's -1.5 (w = 1); BCE(z, 1) = log(1 + e^-z), BCE(z, 0) = log(1 + e^z).


class _ToyPatchDisc(nn.Module):
    """disc(condition, image) -> (B, 1, H/4, W/4) logits w * mean over channels and 4x4 patches of (image - condition)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.w * torch.nn.functional.avg_pool2d((image - condition).mean(1, keepdim=True), 4)


def _toy_pairs(batch: int = 2, size: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(condition, real, fake): constants 0.5, 1 and -1; fake requires grad."""
    shape = (batch, 3, size, size)
    return torch.full(shape, 0.5), torch.ones(shape), torch.full(shape, -1.0, requires_grad=True)


def _scalar_loss(value: Any, exercise: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        fail(exercise, "a torch.Tensor", f"a {type(value).__name__}", "return the loss tensor (no .item()), so it can be back-propagated")
    if value.dim() != 0:
        fail(exercise, "a scalar tensor (shape ())", f"shape {tuple(value.shape)}", "average over every patch and pixel")
    return value


def _expect_number(got: torch.Tensor, expected: float, exercise: str, what: str, hint: str, atol: float = 1e-4) -> None:
    if not abs(got.item() - expected) <= atol * max(1.0, abs(expected)):
        fail(exercise, f"{what} of {expected:.5f}", f"{got.item():.5f}", hint)


def check_pixel_distance(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `pixel_distance`: the mean absolute difference, differentiable."""
    ex = "pixel_distance"
    hint = "take the absolute value of the difference, then the mean over every element (not the sum, not the square)"
    check_values(fn, [
        ((torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)), torch.tensor(1.0)),
        ((torch.tensor([1.0, -1.0]), torch.tensor([0.0, 0.0])), torch.tensor(1.0)),
        ((torch.tensor([2.0, 0.0, 0.0, 0.0]), torch.zeros(4)), torch.tensor(0.5)),
        ((torch.tensor([[0.5, -0.5]]), torch.tensor([[-0.5, 0.5]])), torch.tensor(1.0)),
    ], ex, hint)
    generated = torch.zeros(1, 3, 2, 2, requires_grad=True)
    out = _scalar_loss(call_quietly(fn, generated, torch.ones(1, 3, 2, 2)), ex)
    if not out.requires_grad:
        fail(ex, "a result that gradients can flow through", "a tensor without a gradient",
             "use torch operations on the tensors; do not call .item(), .detach() or numpy")
    print("pixel_distance: all checks passed.")


def check_generator_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `generator_loss` on a toy discriminator with known logits."""
    ex = "generator_loss"
    condition, real, fake = _toy_pairs()
    disc = _ToyPatchDisc()
    # Independent of your pixel_distance: while this check runs, the name pixel_distance in your notebook
    # is a stand-in that returns the true L1 of these constant images (2), so only generator_loss is tested.
    namespace = getattr(fn, "__globals__", {})
    with using(namespace, pixel_distance=lambda a, b: (a - a.detach()).sum() + 2.0):
        _check_generator_loss(fn, ex, disc, condition, real, fake)
    print("generator_loss: all checks passed.")


def _check_generator_loss(fn: Callable[..., torch.Tensor], ex: str, disc: nn.Module, condition: torch.Tensor,
                          real: torch.Tensor, fake: torch.Tensor) -> None:
    # The fake pair's logits are -1.5: BCE against ones = log(1 + e^1.5) = 1.70141; L1 = |-1 - 1| = 2.
    loss = _scalar_loss(call_quietly(fn, disc, condition, real, fake, lambda_l1=0.0), ex)
    _expect_number(loss, 1.7014133, ex, "with lambda_l1=0, the adversarial term alone",
                   "BCE with logits of disc(condition, fake) against a matrix of ones (the generator wants "
                   "'real'); call the discriminator as disc(condition, fake); arguments (disc, condition, real, fake)")
    grad = torch.autograd.grad(loss, fake, allow_unused=True)[0] if loss.requires_grad else None
    if grad is None or not grad.abs().sum() > 0:
        fail(ex, "the adversarial term to send a gradient into fake", "none",
             "do not detach fake: this loss trains the generator through the discriminator")
    loss = _scalar_loss(call_quietly(fn, disc, condition, real, fake, lambda_l1=7.0), ex)
    _expect_number(loss, 15.7014133, ex, "with lambda_l1=7, 1.70141 + 7 x 2",
                   "add lambda_l1 times your pixel_distance(fake, real)")
    loss = _scalar_loss(call_quietly(fn, disc, condition, real, fake), ex)
    _expect_number(loss, 201.7014133, ex, "with the default lambda_l1, 1.70141 + 100 x 2", "the default lambda_l1 is 100")


def check_discriminator_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `discriminator_loss` on a toy discriminator with known logits."""
    ex = "discriminator_loss"
    condition, real, fake = _toy_pairs()
    disc = _ToyPatchDisc()
    # Real logits 0.5 against ones: log(1 + e^-0.5) = 0.47408; fake logits -1.5 against zeros: log(1 + e^-1.5) = 0.20141.
    loss = _scalar_loss(call_quietly(fn, disc, condition, real, fake), ex)
    _expect_number(loss, 0.3377451, ex, "(0.47408 + 0.20141) / 2",
                   "real pairs against ones, fake pairs against zeros (BCE with logits), then halve the sum "
                   "(0.67549 means the sum was not halved); call the discriminator as disc(condition, image); "
                   "the arguments are (disc, condition, real, fake)")
    loss.backward()
    if fake.grad is not None:
        fail(ex, "no gradient to reach the fake image", "a gradient in it",
             "pass fake.detach() to the discriminator: this loss trains D only")
    if disc.w.grad is None:
        fail(ex, "a gradient in the discriminator's parameters", "none", "compute the loss from the discriminator's logits")
    print("discriminator_loss: all checks passed.")


# ----- 06_train_pix2pix -----
# The step check trains a toy pair with plain SGD (lr 1) from known weights: the generator outputs tanh(b)
# everywhere (b = 0, so the fake is 0), the discriminator is _ToyPatchDisc (w = 1); condition 0.5, real 1.
# D loss = log(1 + e^-0.5) = 0.474077 (both logits +-0.5); its gradient in w is -sigmoid(-0.5) / 2, so one
# SGD step gives w = 1.188770. G loss against the updated D: log(1 + e^(0.5 w)) + 100 x |0 - 1| = 101.033866.


class _ToyConstantGen(nn.Module):
    """gen(x) -> tanh(b) everywhere, in the shape of x."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0 + torch.tanh(self.b)


def check_pix2pix_step(step_fn: Callable[..., Any]) -> None:
    """Visible check of `pix2pix_step(batch, models, optimizers, lambda_l1=100.0)` on a toy pair of models."""
    ex = "pix2pix_step"
    for lambda_l1, g_expected in [(None, 101.0338663), (0.0, 1.0338663)]:
        gen, disc = _ToyConstantGen(), _ToyPatchDisc()
        gen.b.grad, disc.w.grad = torch.tensor(5.0), torch.tensor(5.0)  # stale gradients from a previous step
        models = {"gen": gen, "disc": disc}
        optimizers = {"gen": torch.optim.SGD(gen.parameters(), lr=1.0), "disc": torch.optim.SGD(disc.parameters(), lr=1.0)}
        batch = (torch.full((1, 3, 8, 8), 0.5), torch.ones(1, 3, 8, 8))
        kwargs = {} if lambda_l1 is None else {"lambda_l1": lambda_l1}
        out = call_quietly(step_fn, batch, models, optimizers, **kwargs)
        if not isinstance(out, dict) or set(out) != {"d_loss", "g_loss"}:
            fail(ex, "a dict with the keys 'd_loss' and 'g_loss'", repr(out)[:80], "return {'d_loss': ..., 'g_loss': ...}")
        try:
            d_loss, g_loss = float(out["d_loss"]), float(out["g_loss"])
        except (TypeError, ValueError):
            fail(ex, "numbers as the losses", repr(out)[:80], "return d_loss.item() and g_loss.item()")
        if not abs(d_loss - 0.4740770) < 1e-4:
            fail(ex, "d_loss of 0.47408 (the discriminator loss before D's update)", f"{d_loss:.5f}",
                 "call discriminator_loss(disc, condition, real, fake) once, on fake = gen(condition); "
                 "check discriminator_loss in notebook 05")
        if not abs(disc.w.item() - 1.1887703) < 1e-4:
            fail(ex, "the discriminator's weight to be 1.18877 after one step from fresh gradients", f"{disc.w.item():.5f}",
                 "zero D's gradients (optimizers['disc'].zero_grad()) before d_loss.backward(), then one optimizer step")
        if abs(g_loss - (g_expected - 0.0597893)) < 1e-4:
            fail(ex, f"g_loss of {g_expected:.5f} (computed with the updated discriminator)", f"{g_loss:.5f}",
                 "update D first, then compute the generator loss (the discriminator has changed)")
        if not abs(g_loss - g_expected) < 1e-4 * max(1.0, g_expected):
            fail(ex, f"g_loss of {g_expected:.5f}" + (" with the default lambda_l1 of 100" if lambda_l1 is None else " with lambda_l1=0"),
                 f"{g_loss:.5f}", "generator_loss(disc, condition, real, fake, lambda_l1) after D's update; pass "
                 "lambda_l1 on; check generator_loss in notebook 05")
        b_expected = 0.7660087 + (100.0 if lambda_l1 is None else 0.0)
        if not abs(gen.b.item() - b_expected) < 1e-3:
            fail(ex, f"the generator's weight to be {b_expected:.4f} after one step from fresh gradients",
                 f"{gen.b.item():.4f}", "zero G's gradients (optimizers['gen'].zero_grad()) before g_loss.backward(), "
                 "then one optimizer step")
    print("pix2pix_step: all checks passed.")
