"""Notebook 09 (GauGAN / SPADE): the visible checks of the SPADE layer, the SPADE residual block and the hinge
losses.

SPADE is checked on its own weights against functional calls, and against the same calls with one typical mistake
each, so a wrong answer gets the hint that names its mistake. The residual block's wiring is checked on stand-in
SPADE layers that record what they receive (so it tests the block, whatever the learner's SPADE does). The losses
are checked on logits whose losses are worked out by hand in the comments, and by sign tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .core import check_answer_format, describe, expect_number, expect_scalar, fail, run_learner

__all__ = ["check_answer_format", "check_hinge_losses", "check_spade", "check_spade_res_block"]

# ---------------------------------------------------------------------------------------------------------
# SPADE


def _conv_shape(conv: Any) -> Any:
    if not isinstance(conv, nn.Conv2d):
        return describe(conv)
    return (conv.in_channels, conv.out_channels, tuple(conv.kernel_size), tuple(conv.padding), conv.bias is not None)


def _spade_norm(module: nn.Module, norm_channels: int) -> None:
    ex = "SPADE"
    norm = getattr(module, "param_free_norm", None)
    if isinstance(norm, nn.InstanceNorm2d) or not isinstance(norm, nn.BatchNorm2d):
        fail(ex, "param_free_norm, an nn.BatchNorm2d", describe(norm),
             "SPADE normalises with batch norm (synchronised across GPUs in the authors' code), not instance norm")
    if norm.affine:
        fail(ex, "a batch norm without learned scale and shift (affine off)", "affine=True",
             "the scale and the shift come from the label map: the norm itself has no parameters")
    if norm.num_features != norm_channels or not norm.track_running_stats:
        fail(ex, f"nn.BatchNorm2d({norm_channels}) with running statistics",
             f"{norm.num_features} features, running statistics {norm.track_running_stats}",
             "normalise the activation's channels; keep nn.BatchNorm2d's running statistics (its default)")


def _spade_layout(module: nn.Module, norm_channels: int, label_channels: int, hidden: int) -> None:
    ex = "SPADE"
    _spade_norm(module, norm_channels)
    shared = getattr(module, "mlp_shared", None)
    if not isinstance(shared, nn.Sequential):
        fail(ex, "mlp_shared, an nn.Sequential (a convolution and a ReLU)", describe(shared),
             "one shared convolution reads the label map, and both gamma and beta are computed from its output")
    if len(shared) != 2 or not isinstance(shared[1], nn.ReLU):
        fail(ex, "mlp_shared = [nn.Conv2d, nn.ReLU]", str([type(layer).__name__ for layer in shared]),
             "two layers: the shared convolution, then a ReLU")
    want = (label_channels, hidden, (3, 3), (1, 1), True)
    if _conv_shape(shared[0]) != want:
        fail(ex, f"mlp_shared.0: {label_channels} -> {hidden} channels, kernel 3, padding 1, with a bias",
             f"(in, out, kernel, padding, bias) = {_conv_shape(shared[0])}",
             "the label map's channels in, `hidden` channels out; a 3x3 kernel with padding 1 keeps the size")
    for name in ("mlp_gamma", "mlp_beta"):
        conv = getattr(module, name, None)
        got = _conv_shape(conv)
        if got != (hidden, norm_channels, (3, 3), (1, 1), True):
            from_labels = isinstance(got, tuple) and got[0] == label_channels
            fail(ex, f"{name}: {hidden} -> {norm_channels} channels, kernel 3, padding 1, with a bias",
                 f"(in, out, kernel, padding, bias) = {got}",
                 "gamma and beta are computed from mlp_shared's output, not from the label map" if from_labels else
                 f"one value per channel of the activation ({norm_channels}) from mlp_shared's {hidden} channels")
    names = sorted(name for name, _ in module.named_parameters())
    expected = sorted(f"{a}.{b}" for a in ("mlp_shared.0", "mlp_gamma", "mlp_beta") for b in ("weight", "bias"))
    if names != expected:
        fail(ex, f"the parameters {expected} and nothing else", str(names),
             "no layers beyond the ones in the docstring; the norm has no parameters")


_VARIANTS = [  # (what differs from SPADE, the hint that names the mistake)
    ({"plus_one": False}, "scale by (1 + gamma), not gamma: with gamma = 0 the layer must leave the normalised x"),
    ({"mode": "bilinear"}, "resize the label map with nearest neighbour: bilinear blends the one-hot classes"),
    ({"mode": "nearest-exact"}, "use PyTorch's mode 'nearest' (the authors' code), not 'nearest-exact'"),
    ({"mode": "area"}, "resize the label map with nearest neighbour, not by averaging"),
    ({"norm": "instance"}, "SPADE normalises with batch norm, not instance norm"),
    ({"norm": "none"}, "normalise x first (param_free_norm), then scale and shift it"),
    ({"swap": True}, "mlp_gamma makes the scale, mlp_beta the shift"),
    ({"relu": False}, "apply mlp_shared (convolution and ReLU) once, and feed its output to mlp_gamma and mlp_beta"),
]


def _spade_by_hand(module: nn.Module, x: torch.Tensor, seg: torch.Tensor, mode: str = "nearest",
                   plus_one: bool = True, norm: str = "batch", swap: bool = False, relu: bool = True) -> torch.Tensor:
    """SPADE's contract in functional calls on the module's own weights; the keywords make one mistake each."""
    eps = module.param_free_norm.eps
    normed = {"batch": lambda t: F.batch_norm(t, None, None, training=True, eps=eps),
              "instance": lambda t: F.instance_norm(t, eps=eps), "none": lambda t: t}[norm](x)
    labels = F.interpolate(seg, size=tuple(x.shape[-2:]), mode=mode)
    conv = module.mlp_shared[0]
    hidden = F.conv2d(labels, conv.weight, conv.bias, padding=1)
    hidden = F.relu(hidden) if relu else hidden
    scale, shift = (F.conv2d(hidden, c.weight, c.bias, padding=1) for c in (module.mlp_gamma, module.mlp_beta))
    if swap:
        scale, shift = shift, scale
    return normed * (scale + 1 if plus_one else scale) + shift


def _one_hot(classes: torch.Tensor, n: int) -> torch.Tensor:
    return F.one_hot(classes, n).permute(0, 3, 1, 2).float()


def _expect_spade(module: nn.Module, x: torch.Tensor, seg: torch.Tensor, case: str) -> None:
    ex = "SPADE"
    before = (x.clone(), seg.clone())
    with torch.no_grad():
        out = run_learner(ex, module, x, seg, hint="resize the label map to x's height and width first")
        expected = _spade_by_hand(module, x, seg)
    if not (torch.equal(x, before[0]) and torch.equal(seg, before[1])):
        fail(ex, "x and the label map left unchanged", "an input was modified", "build new tensors; no in-place ops")
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        fail(ex, f"an output of x's shape {describe(x)} ({case})", describe(out),
             "one scale and shift per channel and pixel of x: resize the label map to x's size")
    if torch.allclose(out, expected, atol=1e-4):
        return
    for variant, hint in _VARIANTS:
        with torch.no_grad():
            wrong = _spade_by_hand(module, x, seg, **variant)
        if wrong.shape == out.shape and torch.allclose(out, wrong, atol=1e-4):
            fail(ex, f"the normalised x * (1 + gamma) + beta ({case})", "another output", hint)
    fail(ex, f"the normalised x * (1 + gamma) + beta ({case})",
         f"a largest difference of {(out - expected).abs().max():.4g}",
         "normalise x; resize the label map (nearest), mlp_shared, then mlp_gamma and mlp_beta on its output")


def check_spade(spade_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `SPADE`: the layers, gamma = beta = 0, a one-class map, the nearest resize, the values."""
    ex = "SPADE"
    module = run_learner(ex, spade_cls, 4, 3, 6)
    _spade_layout(module, 4, 3, 6)
    default = run_learner(ex, spade_cls, 4, 3)
    if default.mlp_shared[0].out_channels != 128:
        fail(ex, "hidden=128 by default (the paper's width)", f"{default.mlp_shared[0].out_channels} channels",
             "keep the signature's default hidden=128 and use the `hidden` argument for mlp_shared's output")
    module.train()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 6, 5, generator=gen) * 2 + 1
    seg = _one_hot(torch.randint(0, 3, (3, 3, 5), generator=gen), 3)
    with torch.no_grad():
        for conv in (module.mlp_gamma, module.mlp_beta):
            conv.weight.zero_()
            conv.bias.zero_()
    _expect_spade(module, x, seg, "gamma = beta = 0: the normalised x")
    torch.manual_seed(1)
    with torch.no_grad():  # kernels with a centre only: every pixel's gamma and beta depend on its own class only
        for conv in (module.mlp_shared[0], module.mlp_gamma, module.mlp_beta):
            nn.init.normal_(conv.weight, std=0.5)
            conv.weight.mul_(F.pad(torch.ones(1, 1), (1, 1, 1, 1)))  # zero but the centre of each 3x3 kernel
            nn.init.normal_(conv.bias, std=0.5)
    _expect_spade(module, x, _one_hot(torch.full((3, 2, 2), 1), 3), "a label map of one class: one gamma and one "
                  "beta per channel, the same at every pixel")
    _expect_spade(module, x, seg, "a 3 x 5 label map for a 6 x 5 activation: each label pixel covers two rows")
    _expect_spade(module, torch.randn(2, 4, 7, 9, generator=gen),
                  _one_hot(torch.randint(0, 3, (2, 3, 4), generator=gen), 3), "a 3 x 4 label map, a 7 x 9 activation")
    torch.manual_seed(2)
    with torch.no_grad():  # full 3x3 kernels: the padding and the neighbours count now
        for conv in (module.mlp_shared[0], module.mlp_gamma, module.mlp_beta):
            nn.init.normal_(conv.weight, std=0.3)
    _expect_spade(module, torch.randn(2, 4, 5, 5, generator=gen),
                  _one_hot(torch.randint(0, 3, (2, 16, 16), generator=gen), 3), "a 16 x 16 label map, a 5 x 5 x")
    print("SPADE: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# SPADEResBlock: the layers, then the wiring on stand-in SPADE layers


class _NormRecorder(nn.Module):
    """A stand-in SPADE layer: records (x, segmap) and returns x * scale + shift + the mean of segmap per sample."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale, self.shift = scale, shift
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        self.seen.append((x, segmap))
        return self.apply_to(x, segmap)

    def apply_to(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift + segmap.flatten(1).mean(1)[:, None, None, None]


def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)


def _block_by_hand(m: nn.Module, x: torch.Tensor, seg: torch.Tensor, order: str = "norm relu conv",
                   shortcut: str = "spade conv") -> torch.Tensor:
    """The block's contract on the recorders' formulas and the block's own convolutions; the keywords make mistakes."""
    def step(norm: _NormRecorder, conv: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
        h = norm.apply_to(h, seg)
        if order in ("norm relu conv", "norm leaky conv"):
            return _conv(conv, F.relu(h) if order == "norm relu conv" else F.leaky_relu(h, 0.2))
        return F.relu(_conv(conv, h)) if order == "norm conv relu" else _conv(conv, h)

    dx = step(m.norm_1, m.conv_1, step(m.norm_0, m.conv_0, x))
    if shortcut == "none":
        return dx
    if not m.learned_shortcut:
        return x + dx
    if shortcut == "conv":
        return _conv(m.conv_s, x) + dx
    return _conv(m.conv_s, m.norm_s.apply_to(x, seg)) + dx


_BLOCK_VARIANTS = [
    ({"order": "norm conv relu"}, "each step is SPADE, ReLU, convolution: the ReLU comes before the convolution"),
    ({"order": "norm conv"}, "a ReLU between each SPADE layer and its convolution"),
    ({"shortcut": "conv"}, "the learned shortcut has its own SPADE layer: x goes through norm_s before conv_s"),
    ({"order": "norm leaky conv"}, "a plain ReLU, as in the paper (the authors' code uses a leaky one)"),
    ({"shortcut": "none"}, "add the shortcut: the block returns shortcut + dx"),
]


def _block_layout(block: nn.Module, cin: int, cout: int) -> None:
    ex = "SPADEResBlock"
    middle = min(cin, cout)
    for name, want in (("conv_0", (cin, middle)), ("conv_1", (middle, cout))):
        if _conv_shape(getattr(block, name, None)) != (*want, (3, 3), (1, 1), True):
            fail(ex, f"{name}: {want[0]} -> {want[1]} channels, kernel 3, padding 1, with a bias",
                 f"(in, out, kernel, padding, bias) = {_conv_shape(getattr(block, name, None))}",
                 f"the middle width is the smaller of in_channels and out_channels, {middle}")
    learned = cin != cout
    if getattr(block, "learned_shortcut", None) is not learned:
        fail(ex, f"learned_shortcut = {learned} for {cin} -> {cout} channels",
             repr(getattr(block, "learned_shortcut", None)), "a learned shortcut only when the channels change")
    has = [hasattr(block, name) for name in ("norm_s", "conv_s")]
    if has != [learned, learned]:
        fail(ex, f"norm_s and conv_s {'present' if learned else 'absent'} for {cin} -> {cout} channels",
             f"norm_s {'present' if has[0] else 'absent'}, conv_s {'present' if has[1] else 'absent'}",
             "the shortcut is x itself when the channels match; otherwise its own SPADE and a 1x1 convolution")
    if learned and _conv_shape(block.conv_s) != (cin, cout, (1, 1), (0, 0), False):
        fail(ex, f"conv_s: {cin} -> {cout} channels, kernel 1, no padding, no bias",
             f"(in, out, kernel, padding, bias) = {_conv_shape(block.conv_s)}", "a 1x1 convolution without a bias")
    for name, channels in (("norm_0", cin), ("norm_1", middle), ("norm_s", cin)):
        found = getattr(getattr(getattr(block, name, None), "param_free_norm", None), "num_features", channels)
        if found != channels:
            fail(ex, f"{name} normalising {channels} channels", f"{found} channels",
                 "each SPADE layer normalises the activation it is applied to")


def check_spade_res_block(block_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `SPADEResBlock`: layers per channel case, then the wiring on recording stand-in norms."""
    ex = "SPADEResBlock"
    gen = torch.Generator().manual_seed(0)
    for cin, cout in [(6, 6), (6, 4), (3, 7)]:
        block = run_learner(ex, block_cls, cin, cout, 3, 5)
        _block_layout(block, cin, cout)
        block.norm_0, block.norm_1 = _NormRecorder(1.5, 0.2), _NormRecorder(-0.7, 0.1)
        if block.learned_shortcut:
            block.norm_s = _NormRecorder(2.0, -0.3)
        x = torch.randn(2, cin, 8, 8, generator=gen)
        seg = _one_hot(torch.randint(0, 3, (2, 4, 4), generator=gen), 3)
        with torch.no_grad():
            out = run_learner(ex, block, x, seg)
            expected = _block_by_hand(block, x, seg)
        norms = [block.norm_0, block.norm_1] + ([block.norm_s] if block.learned_shortcut else [])
        for norm in norms:
            if any(got is not seg and not torch.equal(got, seg) for _, got in norm.seen):
                fail(ex, "every SPADE layer to receive segmap itself", "another label map",
                     "pass segmap on unchanged: each SPADE layer resizes it to its own input")
        if block.learned_shortcut and not block.norm_s.seen:
            fail(ex, f"norm_s used on the shortcut for {cin} -> {cout} channels", "norm_s never called",
                 "the learned shortcut has its own SPADE layer: x goes through norm_s before conv_s")
        if [len(norm.seen) for norm in norms] != [1] * len(norms):
            fail(ex, "each SPADE layer used once", f"calls {[len(norm.seen) for norm in norms]}",
                 "norm_0, norm_1 (and norm_s) once each per forward")
        if not isinstance(out, torch.Tensor) or out.shape != expected.shape:
            fail(ex, f"an output of shape {describe(expected)}", describe(out), "shortcut + dx, out_channels wide")
        if not torch.allclose(out, expected, atol=1e-4):
            hint = "norm_0, ReLU, conv_0, norm_1, ReLU, conv_1, plus the shortcut"
            for variant, wrong_hint in _BLOCK_VARIANTS:
                with torch.no_grad():
                    if torch.allclose(out, _block_by_hand(block, x, seg, **variant), atol=1e-4):
                        hint = wrong_hint
            fail(ex, f"shortcut + dx for {cin} -> {cout} channels", f"a largest difference of "
                 f"{(out - expected).abs().max():.4g}", hint)
    print("SPADEResBlock: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# The hinge losses


def _logits(values: list[list[float]], grad: bool = True) -> list[torch.Tensor]:
    shapes = [(1, 1, 2, 2), (1, 1, 1, 3)]
    return [torch.tensor(v).view(s).requires_grad_(grad) for v, s in zip(values, shapes)]


def check_hinge_losses(d_loss: Callable[..., torch.Tensor], g_loss: Callable[..., torch.Tensor]) -> None:
    """Visible check of the hinge losses on hand-made logits, the hinge itself and the sign tests."""
    # Two scales. Real 0.5, 2, -1, 1 | 0, 3, 0.5: max(0, 1 - r) means 0.625 | 0.5. Fake -2, 0, 0.5, -0.5 | -1.5, 1,
    # -0.5: max(0, 1 + f) means 0.75 | 0.8333. D = (1.375 + 1.3333) / 2 = 1.35417. G = -(-0.5 - 0.3333) / 2 = 0.41667.
    real = _logits([[0.5, 2.0, -1.0, 1.0], [0.0, 3.0, 0.5]])
    fake = _logits([[-2.0, 0.0, 0.5, -0.5], [-1.5, 1.0, -0.5]])
    ex = "discriminator_hinge_loss"
    got = expect_scalar(run_learner(ex, d_loss, real, fake), ex)
    hints = {2.708: "average the scales' losses, do not sum them", 3.312: "real logits are pushed up, towards "
             "1 and above: max(0, 1 - real); fake ones down: max(0, 1 + fake)",
             0.688: "clip at zero: max(0, ...), the hinge",
             0.354: "the margin is 1: max(0, 1 - real), max(0, 1 + fake)",
             0.677: "add the real and the fake term, do not halve them", -1.312: "the hinge: max(0, 1 - real) and "
             "max(0, 1 + fake), not the plain logits", 1.357: "take the mean per scale, then average the scales",
             1.096: "the hinge loss, not binary cross-entropy"}
    expect_number(got, 1.35417, ex, "the loss of two scales of hand-made logits",
                  hints.get(round(got.item(), 3), "mean of max(0, 1 - real) + mean of max(0, 1 + fake) per scale, "
                                                  "averaged over the scales"))
    ex = "generator_hinge_loss"
    got = expect_scalar(run_learner(ex, g_loss, fake), ex)
    hints = {1.417: "the generator's loss has no hinge: minus the mean of the fake logits",
             -0.417: "minus the mean: the generator wants its fake logits high", 0.833: "average over the scales",
             0.792: "no hinge and no margin: minus the mean of the fake logits",
             1.032: "the hinge version: minus the mean logit, not binary cross-entropy"}
    expect_number(got, 0.41667, ex, "the loss of two scales of hand-made fake logits",
                  hints.get(round(got.item(), 3), "minus the mean fake logit per scale, averaged over the scales"))
    if not got.requires_grad:
        fail(ex, "a loss that gradients can flow through", "a tensor without a gradient", "no .item() or .detach()")
    _hinge_signs(d_loss, g_loss)
    print("discriminator_hinge_loss, generator_hinge_loss: all checks passed.")


def _hinge_signs(d_loss: Callable[..., torch.Tensor], g_loss: Callable[..., torch.Tensor]) -> None:
    """Inside the margin D's loss falls as D(real) rises and D(fake) falls; beyond it, it stays; G's always falls."""
    d_ex, g_ex = "discriminator_hinge_loss", "generator_hinge_loss"
    gen = torch.Generator().manual_seed(3)
    inside = [torch.rand(2, 1, 4, 4, generator=gen) - 0.5 for _ in range(2)]  # logits in (-0.5, 0.5)
    far = [t + 3.0 for t in inside]  # every logit above 2

    def d(real: list[torch.Tensor], fake: list[torch.Tensor]) -> float:
        return float(run_learner(d_ex, d_loss, real, fake))

    def g(fake: list[torch.Tensor]) -> float:
        return float(run_learner(g_ex, g_loss, fake))

    base = d(inside, inside)
    for moved, what in [(([t + 0.2 for t in inside], inside), "D(real) rises"),
                        ((inside, [t - 0.2 for t in inside]), "D(fake) falls")]:
        if not d(*moved) < base:
            fail(d_ex, f"the loss to fall when {what} (logits within the margin)", "it did not fall",
                 "real pairs are pushed towards +1 and above, fake pairs towards -1 and below")
    if abs(d(far, [-t for t in far]) - d([t + 1 for t in far], [-t - 1 for t in far])) > 1e-6:
        fail(d_ex, "no change once real logits are above 1 and fake ones below -1", "the loss still changed",
             "the hinge: max(0, 1 - real) and max(0, 1 + fake) stop pushing beyond the margin")
    if not (g([t + 0.2 for t in inside]) < g(inside) and g([t + 0.2 for t in far]) < g(far)):
        fail(g_ex, "the loss to fall whenever D(fake) rises, also above 1", "it did not fall",
             "the generator's loss has no hinge: minus the mean fake logit keeps pushing")
