"""Notebook 07 (Pix2PixHD): the visible checks of the residual block, the local enhancer's forward, the boundary
map, the multi-scale discriminator, the LSGAN losses and the feature-matching loss.

The wiring checks swap the learner's layers for stand-ins that record what they receive (so they test one
exercise, whatever the other parts do); the loss checks use outputs whose losses are worked out by hand in the
comments. `compare_multiscale` and `random_outputs` serve the hidden tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .core import check_answer_format, describe, expect_error, expect_number, expect_scalar, fail, run_learner
from .hidden import compare_modules

__all__ = ["check_answer_format", "check_boundary_map", "check_feature_matching_loss", "check_local_enhancer",
           "check_lsgan_losses", "check_multiscale_discriminator", "check_residual_block", "compare_multiscale",
           "random_outputs"]

# ---------------------------------------------------------------------------------------------------------
# ResidualBlock

_LAYOUT = (nn.ReflectionPad2d, nn.Conv2d, nn.InstanceNorm2d, nn.ReLU, nn.ReflectionPad2d, nn.Conv2d,
           nn.InstanceNorm2d)


def _block_layout(block: Any, channels: int) -> None:
    ex = "ResidualBlock"
    if not isinstance(block, nn.Sequential):
        fail(ex, "an attribute `block` that is an nn.Sequential", describe(block),
             "put the seven layers, in order, into self.block = nn.Sequential(...)")
    kinds = [type(layer).__name__ for layer in block]
    if len(block) != 7 or not all(isinstance(layer, kind) for layer, kind in zip(block, _LAYOUT)):
        wrong = "BatchNorm" in "".join(kinds)
        fail(ex, f"the layers {[k.__name__ for k in _LAYOUT]}", str(kinds),
             "instance norm normalises each image on its own, whatever the batch: not batch norm" if wrong else
             "pad, conv, norm, ReLU, pad, conv, norm: seven layers, no ReLU at the end (the addition comes last)")
    for index in (0, 4):
        if tuple(block[index].padding) != (1, 1, 1, 1):
            fail(ex, f"block.{index} to pad 1 pixel on every side", f"padding {tuple(block[index].padding)}",
                 "a 3x3 convolution takes one pixel from each side; the reflection pad gives it back")
    for index in (1, 5):
        conv = block[index]
        got = (conv.in_channels, conv.out_channels, tuple(conv.kernel_size), tuple(conv.stride), tuple(conv.padding))
        if got != (channels, channels, (3, 3), (1, 1), (0, 0)):
            fail(ex, f"block.{index}: {channels} -> {channels} channels, kernel 3, stride 1, padding 0",
                 f"{got[0]} -> {got[1]}, kernel {got[2]}, stride {got[3]}, padding {got[4]}",
                 "the reflection pad does the padding; the convolution keeps the channels")


def _residual_by_hand(block: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """The block's contract, computed with functional calls on the block's own convolution weights."""
    first, second = block[1], block[5]
    h = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), first.weight, first.bias)
    h = F.relu(F.instance_norm(h, eps=block[2].eps))
    h = F.conv2d(F.pad(h, (1, 1, 1, 1), mode="reflect"), second.weight, second.bias)
    return x + F.instance_norm(h, eps=block[6].eps)


def check_residual_block(block_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `ResidualBlock`: layers and names, the parameter count, the skip, the values."""
    ex = "ResidualBlock"
    module = run_learner(ex, block_cls, 6)
    _block_layout(getattr(module, "block", None), 6)
    names = sorted(module.state_dict())
    if names != ["block.1.bias", "block.1.weight", "block.5.bias", "block.5.weight"]:
        fail(ex, "the parameters block.1.weight, block.1.bias, block.5.weight, block.5.bias and nothing else",
             str(names), "convolutions with a bias; instance norm with affine off and no running statistics "
                         "(nn.InstanceNorm2d's defaults)")
    x = torch.randn(2, 6, 5, 7, generator=torch.Generator().manual_seed(0)) * 2 + 0.5
    with torch.no_grad():
        for conv in (module.block[1], module.block[5]):
            conv.weight.zero_()
            conv.bias.zero_()
        out = run_learner(ex, module, x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            fail(ex, f"an output of shape {describe(x)}", describe(out), "the block keeps the shape of its input")
        if not torch.allclose(out, x, atol=1e-5):
            relu = torch.allclose(out, x.clamp(min=0), atol=1e-5)
            fail(ex, "the input back unchanged when every weight is zero (the correction is then zero)",
                 "its negative values set to zero" if relu else "other values",
                 "no ReLU after the addition: the block ends with the norm" if relu else
                 "return the input plus the block's output: the skip connection")
        torch.manual_seed(1)
        for conv in (module.block[1], module.block[5]):
            nn.init.normal_(conv.weight, std=0.3)
            nn.init.normal_(conv.bias, std=0.3)
        out, expected = run_learner(ex, module, x), _residual_by_hand(module.block, x)
    if torch.allclose(out, expected.clamp(min=0), atol=1e-4):
        fail(ex, "negative values in the output", "none", "no ReLU after the addition: the block ends with the norm")
    if not torch.allclose(out, expected, atol=1e-4):
        fail(ex, "x + block(x) for random weights", f"a largest difference of {(out - expected).abs().max():.4g}",
             "pad, conv, norm, ReLU, pad, conv, norm, then add the input")
    print("ResidualBlock: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# LocalEnhancer.forward: the wiring, on stand-ins that record what they receive


class _Recorder(nn.Module):
    """Records every input; returns a fixed random tensor of `channels` channels, its size scaled by `scale`."""

    def __init__(self, channels: int, scale: float, seed: int) -> None:
        super().__init__()
        self.channels, self.scale, self.seed = channels, scale, seed
        self.seen: list[torch.Tensor] = []
        self.made: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        size = (x.shape[0], self.channels, int(x.shape[2] * self.scale), int(x.shape[3] * self.scale))
        self.made.append(torch.randn(size, generator=torch.Generator().manual_seed(self.seed)))
        return self.made[-1]


class _StandInG1(nn.Module):
    """G1 with recorders: `features` (also reachable as `body`) and `head`; calling G1 itself is recorded as head."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = _Recorder(channels, 1.0, seed=2)
        self.head = _Recorder(channels, 1.0, seed=5)  # as many channels as the features: a wrong sum runs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _same(seen: list[torch.Tensor], expected: torch.Tensor) -> bool:
    return len(seen) == 1 and seen[0].shape == expected.shape and torch.equal(seen[0], expected)


def check_local_enhancer(enhancer_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `LocalEnhancer.forward`: what G1, the front end and the back end receive, and the output."""
    ex = "LocalEnhancer"
    g1 = _StandInG1(8)
    module = run_learner(ex, enhancer_cls, 3, 3, 4, 0, global_generator=g1)  # no blocks: your ResidualBlock waits
    if getattr(module, "global_generator", None) is not g1:
        fail(ex, "self.global_generator to be the G1 passed in", describe(getattr(module, "global_generator", None)),
             "keep the given constructor")
    module.downsample, module.front, module.back = _Recorder(3, 0.5, 1), _Recorder(8, 0.5, 3), _Recorder(3, 2.0, 4)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = run_learner(ex, module, x, hint="G1's feature map and the front end's have the same shape; use the given "
                                          "attributes only")
    if g1.head.seen:
        fail(ex, "G1's last feature map (global_generator.features)", "G1's image (its head was used)",
             "G2 adds G1's 64-channel features, not G1's 3-channel image")
    if not _same(module.downsample.seen, x) or not _same(g1.body.seen, module.downsample.made[0]):
        fail(ex, "G1 to run once, on x downsampled by self.downsample",
             f"G1 given {[describe(t) for t in g1.body.seen]} (x is {describe(x)})",
             "G1 works at half the resolution: give it self.downsample(x)")
    if not _same(module.front.seen, x):
        fail(ex, "the front end to run once, on the full-size x", f"inputs {[describe(t) for t in module.front.seen]}",
             "the front end takes x itself")
    total = module.front.made[0] + g1.body.made[0]
    if len(module.back.seen) != 1:
        fail(ex, "the back end to run once", f"{len(module.back.seen)} calls", "end with self.back(...)")
    got = module.back.seen[0]
    if got.shape[1] == 16:
        fail(ex, "the back end to receive the SUM of the two feature maps (8 channels here)",
             f"a tensor of shape {describe(got)}: the maps were concatenated", "add the maps element-wise")
    if got.shape != total.shape or not torch.allclose(got, total, atol=1e-6):
        fail(ex, "the back end to receive front(x) + G1's features", "another tensor",
             "add the front end's output and G1's feature map, then give the sum to self.back")
    if not isinstance(out, torch.Tensor) or out is not module.back.made[0]:
        fail(ex, "the back end's output as the result", describe(out), "return what self.back gives")
    print("LocalEnhancer: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# boundary_map: instance ids -> 1 on both sides of every border between instances (4-neighbourhood)

_BOUNDARY_CASES = [  # (ids, expected), worked out by hand
    ([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]], [[0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1]]),
    ([[5, 5, 5], [5, 7, 5], [5, 5, 5]], [[0, 1, 0], [1, 1, 1], [0, 1, 0]]),  # a diagonal neighbour does not count
    ([[0, 0, 1, 1, 1]], [[0, 1, 1, 0, 0]]),
    ([[26001, 26001], [26002, 26002], [26002, 26002]], [[1, 1], [1, 1], [0, 0]]),  # Cityscapes-like ids
]


def _boundary_hint(got: torch.Tensor, expected: torch.Tensor) -> str:
    if (got <= expected).all():
        return "mark both pixels on either side of a border: compare each pixel with its left AND right, up AND down"
    return ("only the 4 neighbours inside the image count: no diagonals, and no wrapping around the border "
            "(torch.roll wraps the last column onto the first)")


def check_boundary_map(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `boundary_map`: hand-made maps, both sides of a border, no diagonals, no wrapping, dtype."""
    ex = "boundary_map"
    for ids, expected in _BOUNDARY_CASES:
        x = torch.tensor(ids, dtype=torch.int64)[None, None]
        _expect_boundary(fn, x, torch.tensor(expected, dtype=torch.float32)[None, None], str(ids))
    pair = torch.stack([torch.tensor(_BOUNDARY_CASES[1][0]), torch.full((3, 3), 4)])
    expected = torch.tensor([_BOUNDARY_CASES[1][1], [[0] * 3] * 3], dtype=torch.float32)[:, None]
    _expect_boundary(fn, pair[:, None].to(torch.int32), expected, "a batch of two int32 maps (the second uniform)")
    for shape in [(4, 4), (1, 2, 4, 4)]:
        expect_error(ex, fn, (torch.zeros(shape, dtype=torch.int64),), f"a map of shape {shape}", str(shape))
    print("boundary_map: all checks passed.")


def _expect_boundary(fn: Callable, x: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    ex = "boundary_map"
    before = x.clone()
    got = run_learner(ex, fn, x)
    if not torch.equal(x, before):
        fail(ex, "the instance map to be left unchanged", "it was modified", "build a new tensor for the edges")
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        fail(ex, f"a tensor of shape {describe(expected)} for ids of shape {describe(x)}", describe(got),
             "one value per pixel, in the input's shape (B, 1, H, W)")
    if got.dtype != torch.float32:
        fail(ex, "a float32 tensor of 0.0 and 1.0", f"dtype {got.dtype}",
             "the map is one more input channel of the generator: convert it with .float()")
    if not torch.equal(got, expected):
        fail(ex, f"{expected[:, 0].int().tolist()} for the ids {what}", str(got[:, 0].int().tolist()),
             _boundary_hint(got, expected))


# ---------------------------------------------------------------------------------------------------------
# MultiscaleDiscriminator


class _ScaleRecorder(nn.Module):
    """A stand-in discriminator: records its input, returns two maps that name its scale."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale, self.seen, self.made = scale, [], []

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.seen.append(x)
        self.made.append([x[:, :2] * 0 + self.scale, x[:, :1] + 10 * self.scale])
        return self.made[-1]


def _same_list(got: Any, made: list[torch.Tensor]) -> bool:
    return isinstance(got, (list, tuple)) and len(got) == len(made) and all(a is b for a, b in zip(got, made))


def _pool(x: torch.Tensor, counted: bool = False) -> torch.Tensor:
    return F.avg_pool2d(x, 3, 2, 1, count_include_pad=counted)


def _multiscale_layout(module: nn.Module, num_d: int, in_channels: int, base: int, n_layers: int) -> None:
    ex = "MultiscaleDiscriminator"
    found = getattr(module, "discriminators", None)
    if not isinstance(found, nn.ModuleList) or len(found) != num_d:
        fail(ex, f"`discriminators`, an nn.ModuleList of {num_d} PatchDiscriminators", describe(found),
             "one PatchDiscriminator per scale, num_d of them, in an nn.ModuleList (a list hides their weights)")
    first = found[0]
    if type(first).__name__ != "PatchDiscriminator" or len({id(d) for d in found}) != num_d:
        fail(ex, f"{num_d} distinct PatchDiscriminators", f"{[type(d).__name__ for d in found]}",
             "each scale has its own discriminator with its own weights")
    conv = first.layers[0][0]
    if (conv.in_channels, conv.out_channels, len(first.layers)) != (in_channels, base, n_layers + 2):
        fail(ex, f"PatchDiscriminator({in_channels}, {base}, {n_layers})",
             f"one with {conv.in_channels} inputs, {conv.out_channels} channels and {len(first.layers)} layers",
             "pass in_channels, base_channels and n_layers on")


def _scale_inputs_hint(index: int, got: torch.Tensor, pair: torch.Tensor, previous: torch.Tensor) -> str:
    if index == 0 and got.shape == pair.shape and torch.equal(got, torch.cat([pair[:, 3:], pair[:, :3]], 1)):
        return "concatenate the condition first, then the image"
    if index == 0:
        return "the first discriminator judges the full-size pair: downsample after it, not before"
    if got.shape == _pool(previous).shape and torch.allclose(got, _pool(previous, counted=True)):
        return ("the padded zeros were counted in the average, which darkens the border: the pool must "
                "average over the pixels inside the image only (count_include_pad off)")
    return "downsample each scale from the one before, with the local enhancer's pool (3x3, stride 2, padding 1)"


def check_multiscale_discriminator(disc_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `MultiscaleDiscriminator`: its discriminators, what each scale judges, the output's layout."""
    ex = "MultiscaleDiscriminator"
    module = run_learner(ex, disc_cls, 6, 4, 2, 3)
    _multiscale_layout(module, 3, 6, 4, 2)
    _multiscale_layout(run_learner(ex, disc_cls, 5, 2, 1, 2), 2, 5, 2, 1)
    gen = torch.Generator().manual_seed(0)
    condition, image = torch.ones(2, 3, 10, 12), torch.randn(2, 3, 10, 12, generator=gen)
    real = run_learner(ex, module, condition, image)
    if not isinstance(real, (list, tuple)) or len(real) != 3 or not all(isinstance(r, (list, tuple)) for r in real):
        fail(ex, "a list of 3 lists (one per scale, each a PatchDiscriminator's features)", describe(real),
             "append each discriminator's whole output (its list of features) to the result")
    depths = [len(r) for r in real]
    if depths != [4, 4, 4]:
        fail(ex, "4 feature maps per scale for n_layers=2", str(depths), "keep every feature, the logits last")
    module.discriminators = nn.ModuleList(_ScaleRecorder(i) for i in range(3))
    out = run_learner(ex, module, condition, image)
    pair, previous = torch.cat([condition, image], 1), None
    for index, recorder in enumerate(module.discriminators):
        expected = pair if index == 0 else _pool(previous)
        if len(recorder.seen) != 1 or not (recorder.seen[0].shape == expected.shape
                                           and torch.allclose(recorder.seen[0], expected, atol=1e-6)):
            got = recorder.seen[0] if len(recorder.seen) == 1 else None
            fail(ex, f"discriminators[{index}] to judge the pair downsampled {index} times, of shape "
                     f"{describe(expected)}",
                 "no call or several" if got is None else f"another input, {describe(got)}",
                 "use each discriminator once" if got is None else _scale_inputs_hint(index, got, pair, previous))
        previous = expected
    made = [r.made[0] for r in module.discriminators]
    if not isinstance(out, (list, tuple)) or len(out) != 3 or not all(map(_same_list, out, made)):
        reversed_order = isinstance(out, (list, tuple)) and all(map(_same_list, out, made[::-1]))
        fail(ex, "[discriminators[0]'s output, discriminators[1]'s, discriminators[2]'s]", describe(out),
             "the full-size scale first" if reversed_order else "return one list per scale, each unchanged")
    print("MultiscaleDiscriminator: all checks passed.")


class _Flat(nn.Module):
    """A multi-scale discriminator whose output is flattened to one tuple, for compare_modules."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t for scale in self.inner(condition, image) for t in scale)


def compare_multiscale(student: nn.Module, ref: nn.Module, inputs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Hidden test: the learner's multi-scale discriminator against the reference on identical weights."""
    with torch.no_grad():
        layout = [len(scale) for scale in ref(*inputs[0])]
    names = tuple(f"scale {s} feature {j}" for s, n in enumerate(layout) for j in range(n))
    compare_modules(_Flat(student), _Flat(ref), inputs, "MultiscaleDiscriminator", names=names,
                    hint="the pair, condition first, downsampled once more for each scale with the enhancer's pool")


# ---------------------------------------------------------------------------------------------------------
# The losses: multi-scale outputs whose losses are worked out by hand


def _outputs(logits: list[float], inner: list[list[float]], requires_grad: bool = False) -> list[list[torch.Tensor]]:
    """One list per scale: inner maps filled with the given values (shapes differ per map), then the logits."""
    result = []
    for scale, (value, maps) in enumerate(zip(logits, inner)):
        size = 4 >> scale
        found = [torch.full((2, 2 + j, size + j, size), v) for j, v in enumerate(maps)]
        found.append(torch.full((2, 1, size, size + 1), value))
        result.append([t.requires_grad_(requires_grad) for t in found])
    return result


def random_outputs(seed: int, num_d: int, depth: int) -> list[list[torch.Tensor]]:
    """Random multi-scale outputs (num_d scales, depth maps each, logits last) for hidden tests."""
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(2, 1 if j == depth - 1 else 2 + j, 9 >> s, 7 >> s, generator=gen) for j in range(depth)]
            for s in range(num_d)]


def check_lsgan_losses(d_loss: Callable[..., torch.Tensor], g_loss: Callable[..., torch.Tensor]) -> None:
    """Visible check of the LSGAN losses on hand-made outputs, and the sign test."""
    # Real logits 0.5 and 3.0: (0.5 - 1)^2 + (3 - 1)^2 = 4.25; fake logits 0.5 and -1: 0.25 + 1 = 1.25;
    # D = (4.25 + 1.25) / 2 = 2.75. G on the fakes: (0.5 - 1)^2 + (-1 - 1)^2 = 4.25. Inner maps hold 7s.
    real, fake = _outputs([0.5, 3.0], [[7.0], [7.0]], True), _outputs([0.5, -1.0], [[7.0], [7.0]], True)
    bce = F.binary_cross_entropy_with_logits
    as_bce = 0.5 * sum(bce(r[-1], torch.ones_like(r[-1])) + bce(f[-1], torch.zeros_like(f[-1]))
                       for r, f in zip(real, fake))
    ex = "discriminator_lsgan_loss"
    got = expect_scalar(run_learner(ex, d_loss, real, fake), ex)
    if abs(got.item() - as_bce.item()) < 1e-4:
        fail(ex, "2.75000 (least squares)", f"{got.item():.5f}, the BCE value", "LSGAN squares the error: no BCE")
    hints = {5.5: "halve the sum of the real and the fake term", 1.375: "sum over the scales, do not average them"}
    expect_number(got, 2.75, ex, "real logits 0.5 and 3 against 1, fake logits 0.5 and -1 against 0",
                  hints.get(round(got.item(), 3), "real against 1, fake against 0, squared error, mean per scale, "
                                                  "sum over scales, halved; only the last map of each scale counts"))
    ex = "generator_lsgan_loss"
    got = expect_scalar(run_learner(ex, g_loss, fake), ex)
    if abs(got.item() - sum(bce(f[-1], torch.ones_like(f[-1])) for f in fake).item()) < 1e-4:
        fail(ex, "4.25000 (least squares)", f"{got.item():.5f}, the BCE value", "LSGAN squares the error: no BCE")
    expect_number(got, 4.25, ex, "fake logits 0.5 and -1 against 1",
                  "the generator wants its fakes judged real: (logits - 1)^2, mean per scale, sum over scales"
                  if abs(got.item() - 1.25) > 1e-4 else "the target is 1 (real), not 0")
    if not got.requires_grad:
        fail(ex, "a loss that gradients can flow through", "a tensor without a gradient", "no .item() or .detach()")
    _lsgan_signs(d_loss, g_loss)
    print("discriminator_lsgan_loss, generator_lsgan_loss: all checks passed.")


def _lsgan_signs(d_loss: Callable[..., torch.Tensor], g_loss: Callable[..., torch.Tensor]) -> None:
    """D's loss falls when D(real) rises and D(fake) falls; G's falls when D(fake) rises (logits in (-0.5, 0.7))."""
    gen = torch.Generator().manual_seed(3)
    real = [[torch.rand(2, 1, 5, 5, generator=gen) - 0.5] for _ in range(3)]
    fake = [[torch.rand(2, 1, 5, 5, generator=gen) * 0.5 + 0.2] for _ in range(3)]
    up = [[s[0] + 0.2] for s in real]
    down = [[s[0] - 0.2] for s in fake]
    base = float(run_learner("discriminator_lsgan_loss", d_loss, real, fake))
    for moved, what in [((up, fake), "D(real) rises"), ((real, down), "D(fake) falls")]:
        if not float(run_learner("discriminator_lsgan_loss", d_loss, *moved)) < base:
            fail("discriminator_lsgan_loss", f"the loss to fall when {what}", "it did not fall",
                 "real pairs are pushed towards 1, fake pairs towards 0")
    if not float(run_learner("generator_lsgan_loss", g_loss, [[s[0] + 0.2] for s in fake])) < float(
            run_learner("generator_lsgan_loss", g_loss, fake)):
        fail("generator_lsgan_loss", "the loss to fall when D(fake) rises", "it did not fall",
             "the generator pushes D's logits on its fakes towards 1")


def check_feature_matching_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `feature_matching_loss` on hand-made outputs: layers, weights, L1, lambda, gradients."""
    ex = "feature_matching_loss"
    # Two scales of three maps (n_layers + 1 = 2 inner maps): weight 1/2 x 4/2 = 1 per map. Real maps are 0,
    # fake inner maps 0.5, -1 | 0.25, 2: L1 sum 0.5 + 1 + 0.25 + 2 = 3.75, times lambda 10 = 37.5. The logits
    # (0 against 7) would add 2 x 7 = 14 more (177.5 with lambda).
    real = _outputs([0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]], True)
    fake = _outputs([7.0, 7.0], [[0.5, -1.0], [0.25, 2.0]], True)
    got = expect_scalar(run_learner(ex, fn, real, fake), ex)
    hints = {177.5: "leave out the last map of each scale: the logits belong to the GAN loss",
             75.0: "weight each scale by 1 / num_d", 18.75: "weight each map by 4 / (n_layers + 1)",
             25.0: "n_layers + 1 is the number of maps compared (every map but the logits)",
             53.125: "L1: the mean ABSOLUTE difference, not the squared one", 3.75: "multiply by lambda_fm (10)"}
    expect_number(got, 37.5, ex, "the loss of inner maps 0.5, -1 | 0.25, 2 against zeros (two scales, 3 maps each)",
                  hints.get(round(got.item(), 3), "the mean |fake - real| per map, weighted, summed, times lambda_fm"))
    if not got.requires_grad:
        fail(ex, "a gradient into the fake features", "a loss without a gradient",
             "do not detach the fake features: they train G (and no .item())")
    grads = torch.autograd.grad(got, [t for s in real + fake for t in s], allow_unused=True)
    real_grads, fake_grads = grads[:6], grads[6:]
    if any(g is not None and g.abs().sum() > 0 for g in real_grads):
        fail(ex, "no gradient into the real features", "a gradient in them",
             "the real features are the target: detach them, or this loss trains the discriminator too")
    if not any(g is not None and g.abs().sum() > 0 for g in fake_grads):
        fail(ex, "a gradient into the fake features", "none", "do not detach the fake features: they train G")
    got = expect_scalar(run_learner(ex, fn, real, fake, lambda_fm=2.0), ex)
    expect_number(got, 7.5, ex, "with lambda_fm=2, 2 x 3.75", "multiply by the lambda_fm argument")
    print("feature_matching_loss: all checks passed.")
