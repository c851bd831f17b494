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
    import nbformat

    path = solutions_dir() / f"{notebook}.ipynb"
    if not path.exists():
        raise FileNotFoundError(f"hidden tests need the solution notebook {path}; set {SOLUTIONS_ENV} to the solutions folder")
    nb = nbformat.read(path, as_version=4)
    module = types.ModuleType(f"reference_{notebook}")
    for cell in nb.cells:
        meta = cell.metadata
        if cell.cell_type == "code" and (meta.get("nbgrader", {}).get("solution") or "reference" in meta.get("tags", [])):
            exec(compile(cell.source, f"{path.name}:{meta.get('nbgrader', {}).get('grade_id', 'cell')}", "exec"),
                 module.__dict__)
    return module


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


# ---------------------------------------------------------------------------------------------------------
# ----- 02_unet -----


def run_learner(exercise: str, fn: Callable, *args: Any, hint: str = "") -> Any:
    """Call learner code quietly; an exception becomes a CheckFailed that names the exercise and the inputs."""
    try:
        return call_quietly(fn, *args)
    except CheckFailed:
        raise
    except Exception as exc:
        shapes = ", ".join(_shape(a) if isinstance(a, torch.Tensor) else repr(a) for a in args)
        fail(exercise, f"a call with inputs {shapes} to run", f"{type(exc).__name__}: {exc}".splitlines()[0],
             hint or "run the failing line on these shapes and print the shape after each step")


_UNET_ISOLATED: list = []


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
        _UNET_ISOLATED.append(context)  # keep it alive: a collected context manager would restore at once
        return

    def restore(*_: Any) -> None:
        shell.events.unregister("post_run_cell", restore)
        context.__exit__(None, None, None)

    shell.events.register("post_run_cell", restore)


def compare_outputs(student: nn.Module, ref: nn.Module, inputs: Iterable[tuple[torch.Tensor, ...]], exercise: str,
                    names: tuple[str, ...] = ("the output",), seed: int = 0, hint: str = "") -> None:
    """Like compare_modules, for modules that may return a tuple, and naming the exercise if the learner's crashes.

    `names` says what each returned tensor is ("the skip features", "the pooled output").
    """
    device = grading_device()
    copy_weights(student, ref, exercise)
    student.to(device).eval()
    ref.to(device).eval()
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
            assert_close(got, expected, exercise, f"{names[0]} for inputs of shape {shapes}", hint=hint)
            continue
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            fail(exercise, f"a tuple of {len(expected)} tensors ({', '.join(names)})",
                 f"a {type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""),
                 hint or "return the tensors in the order the docstring gives")
        for name, g, e in zip(names, got, expected):
            assert_close(g, e, exercise, f"{name} for inputs of shape {shapes}", hint=hint)


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
