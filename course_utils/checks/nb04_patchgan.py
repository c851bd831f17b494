"""Notebook 04 (PatchGAN): the visible checks of the discriminator, its receptive field, labels and loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .core import describe, fail, run_learner
from .standins import FirstChannelDiscriminator


def check_patchgan(disc_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `PatchGAN`: layout (strides 2, 2, 2, 1, 1), parameter count, output size, logits, order."""
    ex = "PatchGAN"
    model = run_learner(ex, disc_cls)
    convs, norms = getattr(model, "convs", None), getattr(model, "norms", None)
    if not isinstance(convs, nn.ModuleList) or not isinstance(norms,
                                                              nn.ModuleList) or len(convs) != 5 or len(norms) != 5:
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
            fail(ex, f"convs[{i}] with kernel_size=4 and padding=1",
                 f"{tuple(c.kernel_size)}, padding {tuple(c.padding)}")
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
        fail(ex, "a bias on the first and the last conv only", str(biases),
             "a conv followed by batch norm needs no bias")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != 2_768_705:
        fail(ex, "2,768,705 parameters for PatchGAN(6, 64, 3)", f"{n_params:,}", "check the channels and the biases")
    small = run_learner(ex, disc_cls, in_channels=6, base_channels=8, n_layers=3)
    generator = torch.Generator().manual_seed(0)
    cond, image = torch.randn(1, 2, 256, 256, generator=generator), torch.randn(1, 4, 256, 256, generator=generator)
    with torch.no_grad():
        out = run_learner(ex, small.eval(), cond, image,
                          hint="forward(condition, image) concatenates them along channels")
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (1, 1, 30, 30):
            fail(ex, "an output of shape (1, 1, 30, 30) for 256x256 inputs", describe(out),
                 "stride 2 in the first three convs, stride 1 in the last two, padding 1 everywhere")
        small.convs[-1].bias.fill_(-5.0)
        out = run_learner(ex, small, cond, image)
        if ((out > 0) & (out < 1)).all():
            fail(ex, "raw logits (negative values here)", "values all within (0, 1)",
                 "did you apply a sigmoid inside the discriminator? BCEWithLogits expects logits")
        if out.mean() > -2:
            fail(ex, "the last conv's output as is (about -5 here)", f"a mean of {out.mean():.3g}",
                 "no LeakyReLU (nor any activation) after the last conv")
        small.convs[0].weight[:, 2:] = 0  # only the condition's 2 channels can now affect the output
        base = run_learner(ex, small, cond, image)
        if not torch.allclose(run_learner(ex, small, cond, image.flip(-1)), base):
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
        layers = [(int(torch.randint(1, 6, (1,), generator=generator)), int(torch.randint(1, 4, (1,),
                                                                                          generator=generator)))
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
        for what, tensor in [("the real labels", real), ("the fake labels", fake)]:
            if not isinstance(tensor, torch.Tensor) or tensor.shape != logits.shape:
                fail(ex, f"{what} of shape {tuple(shape)}, like the discriminator's output", describe(tensor),
                     "one label per patch: a matrix shaped like the logits (torch.ones_like)")
            if tensor.dtype != dtype:
                fail(ex, f"{what} of dtype {dtype}", str(tensor.dtype), "use the logits' dtype (torch.ones_like does)")
        if (real == 0).all() and (fake == 1).all():
            fail(ex, "(ones, zeros)", "(zeros, ones)", "real pairs are labelled 1, fake pairs 0: ones first")
        if not ((real == 1).all() and (fake == 0).all()):
            fail(ex, "all ones for the real labels and all zeros for the fake labels", "other values")
    print("real_and_fake_labels: all checks passed.")


def check_discriminator_bce(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `discriminator_bce` with a stand-in discriminator whose logits are known."""
    ex = "discriminator_bce"
    disc = FirstChannelDiscriminator()
    cond = torch.zeros(2, 3, 4, 4)
    cases = [(0.0, 0.0, 2 * math.log(2), "logits 0 for both pairs"),
             (8.0, -8.0, 2 * math.log1p(math.exp(-8)), "confident and right"),
             (-3.0, 2.0, math.log1p(math.exp(3)) + math.log1p(math.exp(2)), "confident and wrong")]
    for real_logit, fake_logit, expected, name in cases:
        real = torch.full((2, 3, 4, 4), real_logit)
        fake = torch.full((2, 3, 4, 4), fake_logit, requires_grad=True)
        loss = run_learner(ex, fn, disc, cond, real, fake)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            fail(ex, "a scalar tensor", describe(loss), "average over the patches and the batch (reduction='mean')")
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
                    "BCE with logits of D(condition, real) against ones, plus the same for D(condition, fake) against "
                    "zeros")
            fail(ex, f"{expected:.4f} ({name})", f"{value:.4f}", hint)
        if not loss.requires_grad:
            fail(ex, "a loss that gradients can flow back through to the discriminator", "a loss without grad",
                 "do not detach the loss or use .item(); detach only the fake image")
        loss.backward()
        if fake.grad is not None:
            fail(ex, "no gradient reaching the fake image", "a gradient on fake",
                 "detach the fake (fake.detach()): the discriminator's loss must not train the generator")
    print("discriminator_bce: all checks passed.")
