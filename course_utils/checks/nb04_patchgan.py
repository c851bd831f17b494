"""Notebook 04 (PatchGAN): the visible checks of the discriminator, its receptive field and one logit's patch.

The PatchGAN's layers are the learner's to arrange (a list, a Sequential, functional activations): the check
runs the model with forward hooks on its Conv2d and norm layers and tests what each one receives and returns,
in the order they run. So it sees a missing or wrong activation, a norm before or after the activation, and a
sigmoid at the end, whatever the code looks like. Receptive fields and patch boxes are measured with autograd
(`measured_box`): the input pixels that get a gradient from one output value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .core import assert_close, check_answer_format, describe, fail, grading_device, run_learner
from .hidden import randomize_batchnorm

__all__ = ["check_answer_format", "check_patch_box", "check_patchgan", "check_receptive_field",
           "compare_in_call_order", "measured_box", "patchgan_layers"]

NORMS = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)
ACTIVATION_HINT = "LeakyReLU with slope 0.2 after every conv but the last (after its norm where it has one)"


# ---------------------------------------------------------------------------------------------------------
# PatchGAN: the layers as they run


def patchgan_layers(n_layers: int, in_channels: int = 6, base_channels: int = 64) -> list[tuple[int, int, int, int]]:
    """The stated architecture as (in, out, stride, has_norm) per conv: the table of the notebook, for any size."""
    widths = [in_channels] + [base_channels * 2 ** min(k, 3) for k in range(n_layers + 1)] + [1]
    strides = [2] * n_layers + [1, 1]
    return [(widths[k], widths[k + 1], strides[k], 0 < k <= n_layers) for k in range(n_layers + 2)]


def _trace(exercise: str, model: nn.Module, condition: torch.Tensor, image: torch.Tensor) -> tuple[list, Any]:
    """Run the model once; return [(layer, copy of its input, copy of its output)] in the order they ran, and the
    model's output. Copies are taken at once, so an in-place activation afterwards does not change them."""
    records: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []

    def hook(module: nn.Module, inputs: tuple, output: Any) -> None:
        if inputs and isinstance(inputs[0], torch.Tensor) and isinstance(output, torch.Tensor):
            records.append((module, inputs[0].detach().clone(), output.detach().clone()))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, *NORMS))]
    try:
        with torch.no_grad():
            out = run_learner(exercise, model, condition, image,
                              hint="forward(condition, image) takes the two images of the pair, in that order")
    finally:
        for handle in handles:
            handle.remove()
    return records, out


def _transforms(x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"nothing": x, "LeakyReLU(0.2)": F.leaky_relu(x, 0.2), "ReLU": F.relu(x),
            "LeakyReLU(0.01), the default slope": F.leaky_relu(x, 0.01), "a sigmoid": torch.sigmoid(x),
            "tanh": torch.tanh(x)}


def _what_happened(src: torch.Tensor, dst: Any) -> str:
    """Which elementwise function turns `src` into `dst` (for messages)."""
    if not isinstance(dst, torch.Tensor) or dst.shape != src.shape:
        return f"something of shape {describe(dst)}"
    for name, value in _transforms(src).items():
        if torch.allclose(dst.to(value.dtype), value, atol=1e-4, rtol=1e-4):
            return name
    return "another function"


LINK_HINTS = {
    ("LeakyReLU(0.2)", "nothing"): "no activation found here: " + ACTIVATION_HINT,
    ("LeakyReLU(0.2)", "ReLU"): "LeakyReLU(0.2), not ReLU: a leaky slope keeps a gradient for negative values, "
                                "so D keeps telling G something everywhere",
    ("LeakyReLU(0.2)", "LeakyReLU(0.01), the default slope"): "nn.LeakyReLU's default slope is 0.01; the paper's "
                                                              "is 0.2",
    ("nothing", "LeakyReLU(0.2)"): "norm before activation: batch norm takes the conv's output as it is, and the "
                                   "LeakyReLU comes after the norm",
    ("nothing", "ReLU"): "norm before activation: batch norm takes the conv's output as it is, and the LeakyReLU "
                         "comes after the norm",
}


def _link(exercise: str, where: str, src: torch.Tensor, dst: Any, expected: str, config: str) -> None:
    """`dst` must be `expected` applied to `src` (elementwise)."""
    got = _what_happened(src, dst)
    if got == expected:
        return
    if where.startswith("the model's output"):
        hint = "the last conv's output is the logits: nothing after it (BCEWithLogits applies the sigmoid itself)"
    else:
        hint = LINK_HINTS.get((expected, got), ACTIVATION_HINT if expected != "nothing" else
                              "norm before activation: batch norm takes the conv's output as it is")
    fail(exercise, f"{where} to be {expected} applied to the previous layer's output ({config})",
         f"{got} applied to it", hint)


def _check_convs(exercise: str, convs: list[nn.Conv2d], n_layers: int, in_channels: int, base: int,
                 config: str) -> None:
    expected = patchgan_layers(n_layers, in_channels, base)
    if len(convs) != len(expected):
        fail(exercise, f"{len(expected)} convs to run ({config})", f"{len(convs)}",
             "n_layers convs with stride 2, then the C512 conv with stride 1, then the 1-channel conv")
    for k, (conv, (c_in, c_out, stride, has_norm)) in enumerate(zip(convs, expected)):
        got = (conv.in_channels, conv.out_channels, conv.stride[0])
        if got != (c_in, c_out, stride):
            fail(exercise, f"conv {k} (in the order they run) to map {c_in} -> {c_out} channels with stride "
                 f"{stride} ({config})", f"{got[0]} -> {got[1]} with stride {got[2]}",
                 "the C-layers double their filters from one to the next, from base_channels up to at most 8 x "
                 "base_channels; n_layers of them have stride 2, the next one stride 1, and the last conv gives 1 "
                 "channel; in_channels counts both images of the pair")
        if tuple(conv.kernel_size) != (4, 4) or tuple(conv.padding) != (1, 1) or tuple(conv.stride) != (stride,) * 2:
            fail(exercise, f"conv {k} with a 4x4 kernel, padding 1 and stride {stride} ({config})",
                 f"kernel {tuple(conv.kernel_size)}, padding {tuple(conv.padding)}, stride {tuple(conv.stride)}",
                 "every conv of the PatchGAN is 4x4 with padding 1")
        if (conv.bias is not None) == has_norm:
            fail(exercise, f"conv {k} {'without' if has_norm else 'with'} a bias ({config})",
                 "a bias" if has_norm else "no bias",
                 "a conv followed by batch norm needs no bias (the norm subtracts the mean); the others keep theirs")


def _check_sequence(exercise: str, records: list, n_layers: int, config: str) -> list:
    """The layers ran as conv, conv, norm, conv, norm, ..., conv: no norm after the first and the last conv."""
    kinds = ["conv" if isinstance(m, nn.Conv2d) else "norm" for m, _, _ in records]
    expected = ["conv", "conv"] + ["norm", "conv"] * n_layers
    if kinds != expected:
        fail(exercise, f"the layers to run as {', '.join(expected)} ({config})", ", ".join(kinds),
             "a norm after every conv but the first and the last")
    for module, _, _ in records:
        if not isinstance(module, nn.Conv2d) and type(module) is not nn.BatchNorm2d:
            fail(exercise, f"nn.BatchNorm2d as the norm ({config})", type(module).__name__,
                 "the paper's discriminator uses batch norm")
    return records


def _check_static(exercise: str, model: nn.Module, in_channels: int, config: str) -> None:
    """What can be seen before running the model (a wrong kernel or input width would crash it)."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        if tuple(conv.kernel_size) != (4, 4) or tuple(conv.padding) != (1, 1):
            fail(exercise, f"every conv with a 4x4 kernel and padding 1 ({config})",
                 f"a conv with kernel {tuple(conv.kernel_size)} and padding {tuple(conv.padding)}",
                 "every conv of the PatchGAN is 4x4 with padding 1")
    if not any(conv.in_channels == in_channels for conv in convs):
        fail(exercise, f"a first conv that takes {in_channels} channels ({config})",
             f"convs taking {sorted({conv.in_channels for conv in convs})}",
             "in_channels counts both images of the pair: use the argument, do not fix it")


def _check_one(exercise: str, disc_cls: Callable[..., nn.Module], config: tuple, device: torch.device) -> nn.Module:
    (c_cond, c_image), base, n_layers, side = config
    text = f"PatchGAN(in_channels={c_cond + c_image}, base_channels={base}, n_layers={n_layers}) on {side}x{side} pairs"
    model = run_learner(exercise, disc_cls, in_channels=c_cond + c_image, base_channels=base, n_layers=n_layers)
    if not isinstance(model, nn.Module):
        fail(exercise, "an nn.Module", describe(model), "PatchGAN subclasses nn.Module")
    _check_static(exercise, model, c_cond + c_image, text)
    model = randomize_batchnorm(model, seed=n_layers).to(device).eval()
    generator = torch.Generator().manual_seed(side + base)
    condition = torch.randn(2, c_cond, side, side, generator=generator).to(device)
    image = torch.randn(2, c_image, side, side, generator=generator).to(device)
    records, out = _trace(exercise, model, condition, image)
    convs = [m for m, _, _ in records if isinstance(m, nn.Conv2d)]
    _check_convs(exercise, convs, n_layers, c_cond + c_image, base, text)
    _check_sequence(exercise, records, n_layers, text)
    first_input = records[0][1]
    if not torch.equal(first_input, torch.cat([condition, image], dim=1)):
        swapped = torch.equal(first_input, torch.cat([image, condition], dim=1))
        fail(exercise, f"the first conv to get the condition and the image stacked along channels, condition first "
             f"({text})", "the image first" if swapped else "another input",
             "the order is part of the contract: notebook 05 calls disc(condition, image)")
    for (m_a, _, out_a), (m_b, in_b, _) in zip(records, records[1:]):
        expected = "nothing" if isinstance(m_b, nn.BatchNorm2d) else "LeakyReLU(0.2)"
        where = f"the input of the {'norm' if expected == 'nothing' else 'conv'} after conv {convs.index(m_a)}" \
            if isinstance(m_a, nn.Conv2d) else f"the input of conv {convs.index(m_b)}"
        _link(exercise, where, out_a, in_b, expected, text)
    _link(exercise, "the model's output", records[-1][2], out, "nothing", text)
    return model


def check_patchgan(disc_cls: Callable[..., nn.Module], configs: Sequence[tuple] | None = None,
                   device: torch.device | str | None = None) -> None:
    """Visible check of `PatchGAN(in_channels, base_channels, n_layers)`; hidden tests pass other `configs`.

    A config is ((condition channels, image channels), base_channels, n_layers, image side). For each, the
    convs in the order they run, the layers between them (measured on their inputs and outputs), the order of
    the pair, the raw logits; then the parameter count and output size of the default PatchGAN().
    """
    ex = "PatchGAN"
    device = torch.device(device) if device is not None else grading_device()
    configs = configs or [((3, 3), 64, 3, 64), ((1, 3), 8, 1, 32), ((2, 3), 4, 5, 128)]
    with torch.random.fork_rng(devices=[]):
        for config in configs:
            _check_one(ex, disc_cls, config, device)
        model = run_learner(ex, disc_cls)
        n_params = sum(p.numel() for p in model.parameters())
        if n_params != 2_768_705:
            fail(ex, "2,768,705 parameters in PatchGAN()", f"{n_params:,}",
                 "the defaults are in_channels=6, base_channels=64, n_layers=3; a conv before batch norm has no bias")
        small = run_learner(ex, disc_cls, in_channels=6, base_channels=2).to(device).eval()
        pair = [torch.zeros(1, 3, 256, 256, device=device)] * 2
        with torch.no_grad():
            out = run_learner(ex, small, *pair)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 1, 30, 30):
            fail(ex, "logits of shape (1, 1, 30, 30) for a pair of 256x256 images", describe(out),
                 "one logit per patch, in a (B, 1, h, w) matrix")
    print("PatchGAN: all checks passed.")


def compare_in_call_order(student: nn.Module, ref: nn.Module, condition: torch.Tensor, image: torch.Tensor,
                          exercise: str = "PatchGAN") -> None:
    """Give the learner's model the reference's weights, layer by layer in the order the layers run (the names
    are the learner's to choose), then compare the outputs in train and in eval mode."""
    layers = []
    for model in (student, ref):
        records, _ = _trace(exercise, model.eval(), condition, image)
        layers.append([m for m, _, _ in records])
    if len(layers[0]) != len(layers[1]):
        fail(exercise, f"{len(layers[1])} conv and norm layers to run", str(len(layers[0])),
             "the layers of the stated architecture, each used once")
    for mine, theirs in zip(*layers):
        if type(mine) is not type(theirs):
            fail(exercise, f"a {type(theirs).__name__}", type(mine).__name__, "follow the stated architecture")
        mine.load_state_dict(theirs.state_dict())
    for train in (True, False):
        logits = []
        for model in (ref, student):
            model.train(train)
            with torch.no_grad():
                logits.append(run_learner(exercise, model, condition, image))
        assert_close(logits[1], logits[0], exercise, f"the logits in {'train' if train else 'eval'} mode for "
                     f"inputs {describe(condition)} and {describe(image)}",
                     hint="conv, batch norm, LeakyReLU(0.2) in that order; raw logits at the end")


# ---------------------------------------------------------------------------------------------------------
# Receptive fields and patch boxes, measured with autograd


def _measured_span(layers: Sequence[tuple[int, int, int]], index: int) -> tuple[int, int]:
    """(first, one past the last) input position that output `index` of a 1-D stack of convs depends on.

    The stack (all-ones weights, so no gradient cancels) runs on a long input; the output `shift` places further
    on, whose field lies well inside it, is measured and moved back by `shift` output places (the field moves by
    the same number of input pixels for each output place, which is also measured)."""
    step = math.prod(s for _, s, _ in layers)
    bound = sum((k + p + 1) * math.prod(s for _, s, _ in layers[:n]) for n, (k, _, p) in enumerate(layers))
    shift = bound // step + 2
    x = torch.ones(1, 1, (index + 2 * shift + 4) * step + 2 * bound, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, p in layers:
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, padding=p)
    spans = []
    for where in (index + shift, index + shift + 1):
        (grad,) = torch.autograd.grad(y[0, 0, where], x, retain_graph=True)
        touched = grad[0, 0].nonzero()
        spans.append((int(touched.min()), int(touched.max()) + 1))
    moved = spans[1][0] - spans[0][0]
    return spans[0][0] - shift * moved, spans[0][1] - shift * moved


def measured_box(layers: Sequence[tuple[int, int, int]], i: int, j: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the input pixels that output (i, j) of a stack of square convs depends on,
    measured with autograd; bottom and right are one past the last row and column. layers: (kernel, stride,
    padding) per conv, input first. Where the box reaches past the image's edge, it covers the padding."""
    top, bottom = _measured_span(layers, i)
    left, right = _measured_span(layers, j)
    return top, left, bottom, right


PAPER_LAYERS = [([(1, 1)] * 3, "PixelGAN"), ([(4, 2)] + [(4, 1)] * 2, "16x16 PatchGAN (n_layers=1)"),
                ([(4, 2)] * 3 + [(4, 1)] * 2, "70x70 PatchGAN (n_layers=3)"),
                ([(4, 2)] * 5 + [(4, 1)] * 2, "286x286 ImageGAN (n_layers=5)")]


def _random_stacks(seed: int, count: int, padding: bool) -> list[list[tuple[int, ...]]]:
    generator = torch.Generator().manual_seed(seed)

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high, (1,), generator=generator))

    stacks = []
    for _ in range(count):
        stacks.append([(draw(1, 7), draw(1, 4), draw(0, 3)) if padding else (draw(1, 7), draw(1, 4))
                       for _ in range(draw(1, 6))])
    return stacks


def check_receptive_field(fn: Callable[[list[tuple[int, int]]], int], seed: int = 0, count: int = 6) -> None:
    """Visible check of `receptive_field`: the paper's variants, and random stacks measured with autograd."""
    ex = "receptive_field"
    cases = [(layers, name) for layers, name in PAPER_LAYERS] + [([], "no layers"), ([(7, 1)], "one 7x7 conv"),
                                                                  ([(3, 1), (3, 1)], "two 3x3 convs"),
                                                                  ([(2, 2), (5, 1)], "a stride-2 conv, then a 5x5")]
    cases += [(layers, "a stack measured with autograd") for layers in _random_stacks(seed, count, padding=False)]
    for layers, name in cases:
        top, _, bottom, _ = measured_box([(k, s, 0) for k, s in layers], 0, 0)
        got = run_learner(ex, fn, list(layers))
        if got != bottom - top:
            reversed_stack = [(k, s, 0) for k, s in reversed(layers)]
            flipped = measured_box(reversed_stack, 0, 0)
            hint = ("that is the field of the stack upside down: a layer's kernel covers values that lie as far apart "
                    "in the input as the strides of the layers before it make them"
                    if got == flipped[2] - flipped[0] else
                    "walk from one output value back to the input: what does each layer add, in input pixels?")
            fail(ex, f"{bottom - top} for {layers} ({name})", repr(got), hint)
    print("receptive_field: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# patch_box: which input pixels one logit sees


def _as_box(exercise: str, got: Any) -> tuple[int, ...]:
    if not isinstance(got, (tuple, list)) or len(got) != 4 or not all(isinstance(v, Integral) for v in got):
        fail(exercise, "a tuple of four ints (top, left, bottom, right)", describe(got),
             "return the box as plain Python ints")
    return tuple(int(v) for v in got)


def _box_hint(layers: list, i: int, j: int, got: tuple[int, ...], box: tuple[int, int, int, int]) -> str:
    top, left, bottom, right = box
    unpadded = measured_box([(k, s, 0) for k, s, _ in layers], i, j)
    flat = sum(p for _, _, p in layers)
    guesses = [
        ((top, left, bottom - 1, right - 1), "bottom and right are one PAST the last row and column, as in "
                                             "image[top:bottom, left:right]"),
        ((left, top, right, bottom), "i is the row (top and bottom), j the column (left and right)"),
        ((top, bottom, left, right), "the order is (top, left, bottom, right)"),
        (unpadded, "padding adds rows and columns around a layer's input, so the box starts earlier"),
        ((unpadded[0] - flat, unpadded[1] - flat, unpadded[2] - flat, unpadded[3] - flat),
         "a padded value of a deeper layer stands for a step of several input pixels, not one"),
        ((max(top, 0), max(left, 0), bottom, right), "do not clip the box to the image: where it reaches past the "
                                                    "edge (a negative top or left), it covers the padding"),
    ]
    for guess, hint in guesses:
        if got == guess:
            return hint
    if got[2] - got[0] != bottom - top:
        return f"the box is as wide as the receptive field, {bottom - top} pixels here"
    return "the box moves by the same number of input pixels for each step of i or j; find where cell (0, 0) starts"


def check_patch_box(fn: Callable[..., tuple[int, int, int, int]], seed: int = 0, count: int = 6) -> None:
    """Visible check of `patch_box(layers, i, j)`: the 70x70 PatchGAN's cells, other stacks, random stacks
    measured with autograd (`measured_box`)."""
    ex = "patch_box"
    patchgan = [(4, 2, 1)] * 3 + [(4, 1, 1)] * 2
    cases = [(patchgan, 0, 0), (patchgan, 14, 12), (patchgan, 29, 3), ([(3, 1, 1)], 5, 2), ([], 3, 4),
             ([(4, 2, 0)], 1, 0), ([(4, 2, 1), (3, 1, 0), (5, 2, 2)], 2, 7)]
    cases += [(layers, 3, 1) for layers in _random_stacks(seed + 100, count, padding=True)]
    for layers, i, j in cases:
        box = measured_box(layers, i, j)
        got = _as_box(ex, run_learner(ex, fn, list(layers), i, j))
        if got != box:
            fail(ex, f"{box} for output ({i}, {j}) of the stack {layers}", str(got), _box_hint(layers, i, j, got, box))
    print("patch_box: all checks passed.")
