"""Notebook 08 (SRGAN): the visible checks of the bicubic downsampling, the sub-pixel block, SRResNet's residual
block and the generator's perceptual loss.

The module checks read the layers the docstrings fix, set known weights and compare with the contract computed by
functional calls; the loss check uses a stand-in discriminator and a stand-in feature network whose losses are
worked out by hand in the comments. `random_feature_net` and `shifted_logits` serve the hidden tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .core import check_answer_format, describe, expect_error, expect_number, expect_scalar, fail, run_learner

__all__ = ["check_answer_format", "check_bicubic_downsample", "check_sr_residual_block", "check_srgan_generator_loss",
           "check_subpixel_block", "loss_value", "random_feature_net", "shifted_logits"]

# ---------------------------------------------------------------------------------------------------------
# bicubic_downsample: what each typical mistake gives, on an image with sharp detail


def _resized(x: torch.Tensor, scale: int, mode: str, antialias: bool) -> torch.Tensor:
    size = (x.shape[-2] // scale, x.shape[-1] // scale)
    extra = {} if mode in ("nearest", "area") else {"align_corners": False, "antialias": antialias}
    return F.interpolate(x, size=size, mode=mode, **extra)


def _downsample_hint(got: torch.Tensor, x: torch.Tensor, scale: int) -> str:
    tries = [(_resized(x, scale, "bicubic", True), "clip the result to [-1, 1]: bicubic overshoots at sharp edges"),
             (_resized(x, scale, "bicubic", False).clamp(-1, 1),
              "switch antialiasing on: without it, bicubic samples a few pixels of each 4 x 4 block and aliases"),
             (_resized(x, scale, "nearest", False), "bicubic, not nearest: nearest keeps one pixel per block"),
             (_resized(x, scale, "bilinear", True).clamp(-1, 1), "bicubic, not bilinear"),
             (_resized(x, scale, "area", False), "bicubic, not an average of each block (area, avg_pool2d)")]
    for candidate, hint in tries:
        if candidate.shape == got.shape and torch.allclose(got, candidate, atol=1e-5):
            return hint
    return "torch's bicubic interpolation with antialiasing, align_corners off, then clip to [-1, 1]"


def check_bicubic_downsample(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `bicubic_downsample`: shapes, a constant image, sharp detail against the usual mistakes."""
    ex = "bicubic_downsample"
    gen = torch.Generator().manual_seed(0)
    flat = torch.full((2, 3, 16, 12), 0.3)
    got = run_learner(ex, fn, flat)
    if not isinstance(got, torch.Tensor) or got.shape != (2, 3, 4, 3):
        fail(ex, "an output of shape (2, 3, 4, 3) for an input (2, 3, 16, 12) and scale 4", describe(got),
             "divide the height and the width by `scale`; keep the batch and the channels")
    if not torch.allclose(got, flat[:, :, :4, :3], atol=1e-5):
        fail(ex, "a constant image to stay constant (0.3)", f"values from {got.min():.4f} to {got.max():.4f}",
             "interpolation averages neighbours: a constant stays the same")
    steps = torch.ones(1, 3, 32, 24)  # four black and white quadrants: bicubic overshoots at their edges
    steps[..., :, :12] = -1
    steps[..., :16, :] *= -1
    dots = [(torch.rand(shape, generator=gen) > 0.5).float() * 2 - 1 for shape in [(2, 3, 32, 24), (1, 3, 16, 16)]]
    for x, scale in [(dots[0], 4), (dots[1], 2), (steps, 4)]:  # black and white pixels: the sharpest detail
        before = x.clone()
        got = run_learner(ex, fn, x, scale=scale)
        if not torch.equal(x, before):
            fail(ex, "the input to be left unchanged", "it was modified", "build a new tensor")
        expected = _resized(x, scale, "bicubic", True).clamp(-1, 1)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            fail(ex, f"an output of shape {describe(expected)} for scale={scale}", describe(got),
                 "use the `scale` argument")
        if not torch.allclose(got, expected, atol=1e-5):
            fail(ex, f"the bicubic downsampling by {scale} of a black-and-white image",
                 f"a largest difference of {(got - expected).abs().max():.4g}", _downsample_hint(got, x, scale))
    for shape, case in [((1, 3, 18, 16), "a (1, 3, 18, 16) image with scale 4"), ((3, 16, 16), "a 3-D tensor")]:
        expect_error(ex, fn, (torch.zeros(shape),), case, str(shape))
    print("bicubic_downsample: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# SubPixelBlock: conv (channels -> channels * scale^2), PixelShuffle, scalar PReLU


def _prelu_layer(layer: Any, exercise: str, name: str) -> None:
    if isinstance(layer, nn.ReLU | nn.LeakyReLU):
        fail(exercise, f"{name} to be an nn.PReLU", type(layer).__name__,
             "PReLU learns the slope of the negative part; ReLU has none and LeakyReLU a fixed one")
    if not isinstance(layer, nn.PReLU):
        fail(exercise, f"{name} to be an nn.PReLU", describe(layer), "the activation is a PReLU")
    if layer.num_parameters != 1:
        fail(exercise, f"{name} with one parameter (a scalar slope)", f"{layer.num_parameters} parameters",
             "nn.PReLU() with its default: one slope shared by every channel, as in the paper's count")


def _conv_layer(conv: Any, exercise: str, name: str, c_in: int, c_out: int) -> None:
    if not isinstance(conv, nn.Conv2d):
        hint = ("a transposed convolution upsamples with uneven overlaps (the checkerboard); here a plain convolution "
                "makes the channels and PixelShuffle the pixels") if isinstance(conv, nn.ConvTranspose2d) else ""
        fail(exercise, f"{name} to be an nn.Conv2d", describe(conv), hint or "a 3x3 nn.Conv2d")
    padding = (1, 1) if conv.padding == "same" and tuple(conv.kernel_size) == (3, 3) else conv.padding
    got = (conv.in_channels, conv.out_channels, tuple(conv.kernel_size), tuple(conv.stride), tuple(padding),
           conv.bias is not None)
    if got != (c_in, c_out, (3, 3), (1, 1), (1, 1), True):
        fail(exercise, f"{name}: {c_in} -> {c_out} channels, kernel 3, stride 1, padding 1, with a bias",
             f"{got[0]} -> {got[1]}, kernel {got[2]}, stride {got[3]}, padding {got[4]}, bias {got[5]}",
             "PixelShuffle(r) turns r * r channels into one channel r times larger: the convolution makes them"
             if c_out != c_in else "a 3x3 convolution with padding 1 keeps the size and the channels")


def _subpixel_layout(module: nn.Module, channels: int, scale: int) -> None:
    ex = "SubPixelBlock"
    shuffle = getattr(module, "shuffle", None)
    if isinstance(shuffle, nn.ConvTranspose2d) or isinstance(getattr(module, "conv", None), nn.ConvTranspose2d):
        fail(ex, "an nn.PixelShuffle as `shuffle`", "a transposed convolution",
             "a transposed convolution upsamples with uneven overlaps (the checkerboard); PixelShuffle rearranges "
             "channels into pixels")
    if not isinstance(shuffle, nn.PixelShuffle) or shuffle.upscale_factor != scale:
        fail(ex, f"`shuffle` to be nn.PixelShuffle({scale})", describe(shuffle),
             "the sub-pixel step rearranges scale * scale channels into a scale times larger image")
    _conv_layer(getattr(module, "conv", None), ex, "conv", channels, channels * scale ** 2)
    _prelu_layer(getattr(module, "act", None), ex, "act")
    names = sorted(module.state_dict())
    if names != ["act.weight", "conv.bias", "conv.weight"]:
        fail(ex, "the parameters conv.weight, conv.bias, act.weight and nothing else", str(names),
             "three attributes: conv, shuffle, act")


def check_subpixel_block(block_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `SubPixelBlock`: layers, shapes, and the values for random weights, at scales 2 and 3."""
    ex = "SubPixelBlock"
    gen = torch.Generator().manual_seed(1)
    for channels, scale, shape in [(4, 2, (2, 4, 5, 7)), (3, 3, (1, 3, 4, 4))]:
        module = run_learner(ex, block_cls, channels, scale) if scale != 2 else run_learner(ex, block_cls, channels)
        _subpixel_layout(module, channels, scale)
        with torch.no_grad():
            module.conv.weight.copy_(torch.randn(module.conv.weight.shape, generator=gen) * 0.3)
            module.conv.bias.copy_(torch.randn(module.conv.bias.shape, generator=gen) * 0.3)
            module.act.weight.fill_(0.2)
            x = torch.randn(shape, generator=gen)
            got = run_learner(ex, module, x, hint="the convolution runs on the input first; PixelShuffle on its "
                                                  "output")
            made = F.conv2d(x, module.conv.weight, module.conv.bias, padding=1)
            expected = F.prelu(F.pixel_shuffle(made, scale), module.act.weight)
        want = (shape[0], channels, scale * shape[2], scale * shape[3])
        if not isinstance(got, torch.Tensor) or got.shape != want:
            fail(ex, f"an output of shape {want} for an input {shape} at scale {scale}", describe(got),
                 "convolution to channels * scale^2, then PixelShuffle: the channels come back, the size grows")
        if not torch.allclose(got, expected, atol=1e-5):
            plain = F.pixel_shuffle(made, scale)
            fail(ex, "conv, PixelShuffle and PReLU applied to the input",
                 f"a largest difference of {(got - expected).abs().max():.4g}",
                 "end with the PReLU" if torch.allclose(got, plain, atol=1e-5) else
                 "the convolution first, then PixelShuffle, then the PReLU")
    print("SubPixelBlock: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# ResidualBlock (SRResNet): conv, BN, PReLU, conv, BN, plus the input

_SR_LAYOUT = (nn.Conv2d, nn.BatchNorm2d, nn.PReLU, nn.Conv2d, nn.BatchNorm2d)


def _sr_block_layout(block: Any, channels: int) -> None:
    ex = "ResidualBlock"
    if not isinstance(block, nn.Sequential):
        fail(ex, "an attribute `block` that is an nn.Sequential", describe(block),
             "put the five layers, in order, into self.block = nn.Sequential(...)")
    kinds = [type(layer).__name__ for layer in block]
    if len(block) == 5 and isinstance(block[2], nn.ReLU | nn.LeakyReLU):
        _prelu_layer(block[2], ex, "block.2")
    if len(block) != 5 or not all(isinstance(layer, kind) for layer, kind in zip(block, _SR_LAYOUT)):
        norms = "InstanceNorm" in "".join(kinds)
        fail(ex, f"the layers {[k.__name__ for k in _SR_LAYOUT]}", str(kinds),
             "SRResNet uses batch norm after each convolution" if norms or "BatchNorm" not in "".join(kinds) else
             "conv, BN, PReLU, conv, BN: five layers, no activation at the end (the addition comes last)")
    for index in (0, 3):
        _conv_layer(block[index], ex, f"block.{index}", channels, channels)
    _prelu_layer(block[2], ex, "block.2")
    for index in (1, 4):
        if block[index].num_features != channels or not block[index].affine:
            fail(ex, f"block.{index}: nn.BatchNorm2d({channels}) with its defaults", describe(block[index]),
                 "batch norm over the block's channels, learned scale and shift")


def _sr_residual_by_hand(block: nn.Sequential, x: torch.Tensor, train: bool) -> torch.Tensor:
    """The block's contract with functional calls on the block's own parameters (eval: running statistics)."""
    def norm(h: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
        return F.batch_norm(h, bn.running_mean.clone(), bn.running_var.clone(), bn.weight, bn.bias, train, 0.0, bn.eps)

    h = norm(F.conv2d(x, block[0].weight, block[0].bias, padding=1), block[1])
    h = F.prelu(h, block[2].weight)
    return x + norm(F.conv2d(h, block[3].weight, block[3].bias, padding=1), block[4])


def _randomize(block: nn.Sequential, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for index in (0, 3):
            block[index].weight.copy_(torch.randn(block[index].weight.shape, generator=gen) * 0.2)
            block[index].bias.copy_(torch.randn(block[index].bias.shape, generator=gen) * 0.2)
        for index in (1, 4):
            n = block[index].num_features
            block[index].weight.copy_(0.5 + torch.rand(n, generator=gen))
            block[index].bias.copy_(torch.randn(n, generator=gen) * 0.3)
            block[index].running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
            block[index].running_var.copy_(0.5 + torch.rand(n, generator=gen))
        block[2].weight.fill_(0.25)


def check_sr_residual_block(block_cls: Callable[..., nn.Module]) -> None:
    """Visible check of SRResNet's `ResidualBlock`: layers, parameter count, the skip, values in eval and train mode."""
    ex = "ResidualBlock"
    module = run_learner(ex, block_cls, 6)
    _sr_block_layout(getattr(module, "block", None), 6)
    count = sum(p.numel() for p in module.parameters())
    if count != 2 * (6 * 6 * 9 + 6) + 2 * 12 + 1:
        fail(ex, f"{2 * (6 * 6 * 9 + 6) + 2 * 12 + 1} parameters at 6 channels", str(count),
             "two 3x3 convolutions with a bias, two batch norms, one scalar PReLU, nothing else")
    x = torch.randn(2, 6, 5, 7, generator=torch.Generator().manual_seed(0)) * 2 + 0.5
    module.eval()
    with torch.no_grad():
        for index in (0, 3):
            module.block[index].weight.zero_()
            module.block[index].bias.zero_()
        out = run_learner(ex, module, x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            fail(ex, f"an output of shape {describe(x)}", describe(out), "the block keeps the shape of its input")
        if not torch.allclose(out, x, atol=1e-5):
            act = F.prelu(x, module.block[2].weight)
            fail(ex, "the input back unchanged when every convolution weight is zero (eval mode)",
                 "the PReLU of the input" if torch.allclose(out, act, atol=1e-5) else "other values",
                 "no activation after the addition: the block ends with batch norm"
                 if torch.allclose(out, act, atol=1e-5) else "return the input plus the block's output: the skip")
    for train, seed in [(False, 1), (True, 2)]:
        _randomize(module.block, seed)
        module.train(train)
        expected = _sr_residual_by_hand(module.block, x, train).detach()
        with torch.no_grad():
            out = run_learner(ex, module, x)
        if not torch.allclose(out, expected, atol=1e-4):
            mode = "train" if train else "eval"
            fail(ex, f"x + block(x) for random weights in {mode} mode",
                 f"a largest difference of {(out - expected).abs().max():.4g}",
                 "conv, BN, PReLU, conv, BN, then add the input (nothing after the addition)")
    print("ResidualBlock: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# generator_loss: stand-ins whose losses are worked out by hand


class _MeanLogit(nn.Module):
    """A stand-in discriminator: logits (B, 1) = w * the mean of each image."""

    def __init__(self, w: float = 1.0) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.w * images.mean((1, 2, 3))[:, None]


class _PooledTriple(nn.Module):
    """A stand-in feature network: 3 x the 2x2 average pool (so feature and pixel distances differ)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return 3 * F.avg_pool2d(images, 2)


def _softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def check_srgan_generator_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `generator_loss`: the adversarial term and its sign, its weight, the content term in features
    (not pixels), and where the gradients go."""
    ex = "generator_loss"
    disc, feats = _MeanLogit(), _PooledTriple()
    # fake = real = 0.5: no content; logits 0.5; -log sigmoid(0.5) = softplus(-0.5) = 0.474077.
    real = torch.full((2, 3, 4, 4), 0.5)
    fake = real.clone().requires_grad_(True)
    got = expect_scalar(run_learner(ex, fn, fake, real, disc, feats, adversarial_weight=1.0), ex)
    if any(abs(got.item() - _softplus(-0.5) * w) < 1e-6 for w in (1e-1, 1e-2, 1e-3, 1e-4)):
        fail(ex, f"{_softplus(-0.5):.5f} with adversarial_weight=1 (fake = real: the adversarial term alone)",
             f"{got.item():.5f}", "multiply the adversarial term by the adversarial_weight argument, not a number")
    hints = {round(_softplus(0.5), 4): "the generator wants its fakes judged real: the target is 1, not 0",
             round(-_softplus(0.5), 4): "minimise -log D(G(x)) (BCE against 1), not log(1 - D(G(x)))",
             round(math.log(2), 4): "the discriminator gives logits: BCE with logits (or a sigmoid first)"}
    expect_number(got, _softplus(-0.5), ex, "with adversarial_weight=1 and fake = real, BCE(logits 0.5, target 1)",
                  hints.get(round(got.item(), 4), "the BCE of the discriminator's logits on the fakes against 1"))
    if not got.requires_grad:
        fail(ex, "a loss that gradients can flow through", "a tensor without a gradient", "no .item(), no .detach()")
    (grad,) = torch.autograd.grad(got, fake, allow_unused=True)
    if grad is None or grad.abs().sum() == 0:
        fail(ex, "a gradient from the adversarial term into the fake images", "none",
             "give the discriminator the fake itself, not a detached copy: this term trains the generator")
    default = expect_scalar(run_learner(ex, fn, fake, real, disc, feats), ex)
    expect_number(default * 1000, _softplus(-0.5), ex, "1000 x the loss with the default weight (fake = real)",
                  "the default adversarial_weight is 1e-3, and it multiplies the adversarial term only")
    # real 0, fake 0.5: features 0 and 1.5, so the content is 1.5^2 = 2.25 (in pixels: 0.25; L1: 1.5).
    real, fake = torch.zeros(2, 3, 4, 4, requires_grad=True), torch.full((2, 3, 4, 4), 0.5, requires_grad=True)
    got = expect_scalar(run_learner(ex, fn, fake, real, disc, feats, adversarial_weight=0.0), ex)
    hints = {0.25: "the content loss compares features(fake) with features(real), not the pixels",
             1.5: "a mean SQUARED error, not L1", 54.0: "the mean of the squared errors, not their sum"}
    expect_number(got, 2.25, ex, "with adversarial_weight=0 the content loss of fakes 0.5 against reals 0",
                  hints.get(round(got.item(), 4), "the mean squared error between features(fake) and features(real)"))
    grads = torch.autograd.grad(got, [fake, real], allow_unused=True)
    if grads[0] is None or grads[0].abs().sum() == 0:
        fail(ex, "a gradient from the content term into the fake images", "none", "do not detach the fake")
    if grads[1] is not None and grads[1].abs().sum() > 0:
        fail(ex, "no gradient into the real images", "a gradient in them",
             "the real features are a fixed target: detach them")
    _loss_signs(fn)
    print("generator_loss: all checks passed.")


def _loss_signs(fn: Callable[..., torch.Tensor]) -> None:
    """Better fakes lower the loss: closer in features to the real images, or judged more real by D."""
    ex = "generator_loss"
    gen = torch.Generator().manual_seed(4)
    real = torch.rand(2, 3, 8, 8, generator=gen) * 2 - 1
    noise = torch.randn(real.shape, generator=gen)
    disc, feats = _MeanLogit(), _PooledTriple()
    far, near = (loss_value(fn, real + s * noise, real, disc, feats) for s in (0.8, 0.2))
    if not near < far:
        fail(ex, "the loss to fall when the fakes come closer to the real images", f"{far:.4f} then {near:.4f}",
             "the content term measures a distance: it must shrink as the fakes improve")
    low, high = (loss_value(fn, real, real, _MeanLogit(w), feats, adversarial_weight=1.0) for w in (-2.0, 2.0))
    if not high < low:
        fail(ex, "the loss to fall when the discriminator finds the fakes more real", f"{low:.4f} then {high:.4f}",
             "the generator pushes D's logits on its fakes up, towards 'real'")


# ---------------------------------------------------------------------------------------------------------
# For the hidden tests


def loss_value(fn: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> float:
    """The learner's `generator_loss(*args, **kwargs)` as a number (a crash or a non-scalar becomes a message)."""
    return expect_scalar(run_learner("generator_loss", fn, *args, **kwargs), "generator_loss").detach().item()


def random_feature_net(seed: int) -> nn.Module:
    """A frozen random feature network (two convolutions, a stride of 2): images (B, 3, H, W) -> (B, 8, H/2, W/2)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1))
    return net.requires_grad_(False).eval()


class _Shifted(nn.Module):
    def __init__(self, inner: nn.Module, shift: float) -> None:
        super().__init__()
        self.inner, self.shift = inner, shift

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.inner(images) + self.shift


def shifted_logits(discriminator: nn.Module, shift: float) -> nn.Module:
    """The discriminator with `shift` added to its logits: a shift up means 'more real' for every fake."""
    return _Shifted(discriminator, shift)
