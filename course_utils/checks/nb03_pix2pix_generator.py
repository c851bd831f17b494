"""Notebook 03 (Pix2Pix generator): the visible checks of the two blocks, of the generator's constructor and of the
think item.

The generator check builds the learner's generator at four sizes, the paper's 256 px one included, on PyTorch's
meta device (shapes, no memory). It reads the layout with stand-in blocks that keep their arguments, so it tests the
constructor's design (widths, channels after concatenation, norm and dropout flags), not the learner's blocks, and
names the first block that is wrong; then it counts each block's parameters with the learner's own blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .core import check_answer_format, describe, fail, run_learner
from .hidden import using

__all__ = ["check_answer_format", "check_decoder_block", "check_encoder_block", "check_unet_generator",
           "generator_layout"]


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
        fail(ex, "`norm` to be an nn.BatchNorm2d over the out_channels when use_norm=True",
             repr(getattr(block, "norm", None)), "batch norm normalises the conv's out_channels")
    n_params = sum(p.numel() for p in block.parameters())
    if n_params != 8 * 16 * 16 + 2 * 16:
        fail(ex, f"EncoderBlock(8, 16) to have {8 * 16 * 16 + 2 * 16} parameters", str(n_params),
             "a 4x4 conv without bias (2048) and a batch norm (32)")
    generator = torch.Generator().manual_seed(0)
    for mod, shape, expected in [(first, (2, 3, 16, 16), (2, 8, 8, 8)), (block, (1, 8, 10, 12), (1, 16, 5, 6))]:
        out = run_learner(ex, mod.train(), torch.randn(shape, generator=generator))
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
            fail(ex, f"an output of shape {expected} for an input of shape {shape}", describe(out),
                 "the block halves the height and width and changes the channels")
    # LeakyReLU(0.2) straight after the conv when there is no norm.
    x = torch.randn(2, 3, 16, 16, generator=generator)
    with torch.no_grad():
        pre, out = first.conv(x), run_learner(ex, first, x)
    neg = pre < 0
    if not torch.allclose(out[~neg], pre[~neg], atol=1e-5) or not torch.allclose(out[neg], 0.2 * pre[neg], atol=1e-5):
        relu = (out[neg] == 0).all()
        got = "negative values set to zero (a ReLU)" if relu else "another function of the conv's output"
        fail(ex, "LeakyReLU with slope 0.2 applied to the conv's output (use_norm=False)", got,
             "nn.LeakyReLU(0.2): positive values stay, negative values are multiplied by 0.2")
    # With batch norm (train mode, fresh affine parameters) the values before the LeakyReLU are standardised.
    x = torch.randn(4, 8, 12, 12, generator=generator) * 3 + 1
    with torch.no_grad():
        out = run_learner(ex, block.train(), x)
    pre = torch.where(out >= 0, out, out / 0.2)
    mean, var = pre.mean(dim=(0, 2, 3)), pre.var(dim=(0, 2, 3), unbiased=False)
    if not (torch.allclose(mean, torch.zeros_like(mean), atol=1e-3) and torch.allclose(var, torch.ones_like(var),
                                                                                       atol=1e-2)):
        fail(ex, "conv, then batch norm, then LeakyReLU(0.2) (per channel, the values before the LeakyReLU "
             "have mean 0 and variance 1 in training mode)",
             f"means up to {mean.abs().max():.3g} and variances from {var.min():.3g} to {var.max():.3g}",
             "apply self.norm to the conv's output and the LeakyReLU last")
    print("EncoderBlock: all checks passed.")


def check_decoder_block(block_cls: Callable[..., nn.Module]) -> None:
    """Visible check of `DecoderBlock`: layout, shapes, ReLU after batch norm, dropout 0.5 only when asked."""
    ex = "DecoderBlock"
    block = run_learner(ex, block_cls, 16, 8)
    _p2p_conv_layout(ex, getattr(block, "conv", None), nn.ConvTranspose2d, "conv")
    if block.conv.bias is not None:
        fail(ex, "`conv` without a bias (bias=False)", "a conv with a bias",
             "batch norm follows it, so a bias would do nothing")
    if (block.conv.in_channels, block.conv.out_channels) != (16, 8):
        fail(ex, "DecoderBlock(16, 8) to have a transposed conv from 16 to 8 channels",
             f"{block.conv.in_channels} to {block.conv.out_channels}", "use in_channels and out_channels")
    if not isinstance(getattr(block, "norm", None), nn.BatchNorm2d) or block.norm.num_features != 8:
        fail(ex, "`norm` to be an nn.BatchNorm2d over the out_channels", repr(getattr(block, "norm", None)),
             "every decoder block has batch norm")
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
            fail(ex, "an output of shape (4, 8, 12, 10) for an input of shape (4, 16, 6, 5)", describe(plain),
                 "the block doubles the height and width and changes the channels")
        if not torch.equal(plain, run_learner(ex, block, x)):
            fail(ex, "the same output twice in a row when use_dropout=False", "two different outputs",
                 "only blocks built with use_dropout=True may drop values: use nn.Identity() otherwise")
        if (plain < 0).any():
            fail(ex, "no negative values (a ReLU comes last)", f"a minimum of {plain.min():.3g}",
                 "the decoder uses a plain ReLU (not a leaky one), after the norm")
        pre = block.norm(block.conv(x))
        if not torch.allclose(plain, pre.clamp(min=0), atol=1e-5):
            fail(ex, "ReLU(batch norm(transposed conv(x))) when use_dropout=False", "other values",
                 "the order is conv, norm, ReLU (then dropout)")
        dropped = run_learner(ex, dropping.train(), x)
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
        if not torch.allclose(run_learner(ex, dropping.eval(), x), run_learner(ex, block.eval(), x), atol=1e-6):
            fail(ex, "no dropout in eval mode", "random zeros in eval mode",
                 "use nn.Dropout (or F.dropout with training=self.training), which is off after model.eval()")
    print("DecoderBlock: all checks passed.")


class _EncoderSpec(nn.Module):
    """A stand-in EncoderBlock that keeps the arguments it was built with, so the layout check reads the
    generator's design, not the learner's block."""

    def __init__(self, in_channels: int, out_channels: int, use_norm: bool = True):
        super().__init__()
        self.spec = (in_channels, out_channels, use_norm)


class _DecoderSpec(nn.Module):
    """A stand-in DecoderBlock that keeps the arguments it was built with."""

    def __init__(self, in_channels: int, out_channels: int, use_dropout: bool = False):
        super().__init__()
        self.spec = (in_channels, out_channels, use_dropout)


# The paper's generator at the four sizes the check builds, written out by hand: (in_channels, out_channels,
# base_channels, levels) -> encoders "in-out" ("+": with batch norm), decoders "in-out" ("d": with dropout), and the
# out layer's (in, out) channels. Widths double from base_channels and stop at 8 x base_channels; the decoders'
# in-channels count the skip joined to the previous decoder's output.
GENERATOR_LAYOUTS = {
    (3, 3, 64, 8): ("3-64 64-128+ 128-256+ 256-512+ 512-512+ 512-512+ 512-512+ 512-512",
                    "512-512d 1024-512d 1024-512d 1024-512 1024-256 512-128 256-64", (128, 3)),
    (3, 3, 8, 7): ("3-8 8-16+ 16-32+ 32-64+ 64-64+ 64-64+ 64-64", "64-64d 128-64d 128-64d 128-32 64-16 32-8", (16, 3)),
    (1, 2, 4, 5): ("1-4 4-8+ 8-16+ 16-32+ 32-32", "32-32d 64-16d 32-8d 16-4", (8, 2)),
    (2, 3, 6, 3): ("2-6 6-12+ 12-24", "24-12d 24-6d", (12, 3)),
}


def generator_layout(in_channels: int, out_channels: int, base: int, levels: int) -> tuple[list, list, tuple]:
    """The paper's generator at one of the sizes of GENERATOR_LAYOUTS: the (in, out, use_norm) of each encoder, the
    (in, out, use_dropout) of each decoder, and the (in, out) channels of the out layer."""
    encoders, decoders, out = GENERATOR_LAYOUTS[(in_channels, out_channels, base, levels)]

    def parse(text: str, flag: str) -> list[tuple[int, int, bool]]:
        return [(int(a), int(b.rstrip(flag)), b.endswith(flag)) for a, b in (t.split("-") for t in text.split())]

    return parse(encoders, "+"), parse(decoders, "d"), out


ENCODER_HINTS = ("each encoder takes the previous encoder's output (the first one the image)",
                 "the widths double from base_channels at each level and stop growing at 8 x base_channels",
                 "no batch norm in the first block (it sees the raw image) nor in the innermost one (the 1x1 "
                 "bottleneck); every other encoder block has it")
DECODER_HINTS = ("decoders[0] gets the bottleneck alone; every later decoder gets the previous decoder's output "
                 "joined with a skip of the same size: count the channels of both parts",
                 "each decoder outputs as many channels as the skip it is joined with, the encoder output of the "
                 "same size",
                 "dropout in the first three decoder blocks, the ones nearest the bottleneck, and in no other")


def _build(exercise: str, generator_cls: type, args: tuple, stand_ins: bool) -> nn.Module:
    """The learner's generator, on the meta device (no memory, no time), with stand-in blocks if asked."""
    init_globals = getattr(generator_cls.__init__, "__globals__", {})
    blocks = {"EncoderBlock": _EncoderSpec, "DecoderBlock": _DecoderSpec} if stand_ins else {}
    with using(init_globals, **blocks), torch.device("meta"):
        return run_learner(exercise, generator_cls, *args)


def _check_blocks(exercise: str, kind: str, blocks: Any, expected: list, hints: tuple, flag: str, size: str) -> None:
    spec_cls = _EncoderSpec if kind == "encoders" else _DecoderSpec
    if not isinstance(blocks, nn.ModuleList) or not all(isinstance(b, spec_cls) for b in blocks):
        fail(exercise, f"self.{kind} to be an nn.ModuleList of {spec_cls.__name__[1:8]}Blocks", describe(blocks),
             f"build self.{kind} from the notebook's {spec_cls.__name__[1:8]}Block class, in an nn.ModuleList")
    if len(blocks) != len(expected):
        fail(exercise, f"{len(expected)} {kind} ({size})", str(len(blocks)),
             "levels encoder blocks, and one decoder block fewer: the out layer is the last step up")
    name = "EncoderBlock" if kind == "encoders" else "DecoderBlock"
    for i, (block, want) in enumerate(zip(blocks, expected)):
        got = tuple(block.spec)
        if got != want:
            wrong = next(k for k in range(3) if got[k] != want[k])
            fail(exercise, f"{kind}[{i}] = {name}({want[0]}, {want[1]}, {flag}={want[2]}) ({size})",
                 f"{name}({got[0]}, {got[1]}, {flag}={got[2]})", hints[wrong])


def _check_out_layer(exercise: str, out: Any, expected: tuple, size: str) -> None:
    layers = list(out.modules()) if isinstance(out, nn.Module) else []
    convs = [m for m in layers if isinstance(m, nn.ConvTranspose2d)]
    if len(convs) != 1 or not isinstance(layers[-1], nn.Tanh):
        fail(exercise, "self.out: one transposed conv, then tanh (an nn.Sequential)",
             describe(out) if not layers else ", ".join(type(m).__name__ for m in layers[1:] or layers),
             "the outermost layer maps to the output image: a transposed conv (with a bias, no norm), then tanh")
    conv = convs[0]
    got = (conv.in_channels, conv.out_channels)
    if got != expected:
        fail(exercise, f"self.out's transposed conv from {expected[0]} to {expected[1]} channels ({size})",
             f"from {got[0]} to {got[1]}", "the last decoder's output is joined with the first encoder's output "
             "before the out layer: count both parts' channels")
    _p2p_conv_layout(exercise, conv, nn.ConvTranspose2d, "out's transposed conv")
    if conv.bias is None:
        fail(exercise, "self.out's transposed conv with a bias", "no bias",
             "no batch norm follows the outermost layer, so it keeps its bias")


def _block_parameters(layout: tuple) -> list[tuple[str, int]]:
    """Each block's name and its parameter count in the paper's design (4x4 convs without bias, batch norm 2 per
    channel; the out layer's transposed conv has a bias)."""
    encoders, decoders, (out_in, out_ch) = layout
    counts = [(f"encoders[{i}]", 16 * a * b + (2 * b if norm else 0)) for i, (a, b, norm) in enumerate(encoders)]
    counts += [(f"decoders[{i}]", 16 * a * b + 2 * b) for i, (a, b, _) in enumerate(decoders)]
    return counts + [("out", 16 * out_in * out_ch + out_ch)]


def _check_parameters(exercise: str, model: nn.Module, layout: tuple, size: str) -> int:
    blocks = [*(f"encoders[{i}]" for i in range(len(layout[0]))), *(f"decoders[{i}]" for i in range(len(layout[1])))]
    modules = [*model.encoders, *model.decoders, model.out]
    for (name, want), module in zip(_block_parameters(layout), modules):
        got = sum(p.numel() for p in module.parameters())
        if got != want:
            fail(exercise, f"{name} with {want:,} parameters ({size})", f"{got:,}",
                 "check that block's in and out channels, and whether it has batch norm" if name in blocks else
                 "one transposed conv with a bias, nothing else")
    total = sum(p.numel() for p in model.parameters())
    want_total = sum(n for _, n in _block_parameters(layout))
    if total != want_total:
        fail(exercise, f"{want_total:,} parameters in all ({size})", f"{total:,}",
             "only encoders, decoders and out hold parameters")
    return total


GENERATOR_SIZES = tuple(GENERATOR_LAYOUTS)


def check_unet_generator(generator_cls: type) -> None:
    """Visible check of `UNetGenerator.__init__` at four sizes, the paper's 256 px generator included: the layout of
    every block (read with stand-in blocks, so it tests the constructor, not your blocks), each block's parameter
    count, and a forward pass at a small size."""
    exercise = "UNetGenerator"
    totals = []
    for args in GENERATOR_SIZES:
        size = f"in_channels={args[0]}, out_channels={args[1]}, base_channels={args[2]}, levels={args[3]}"
        layout = generator_layout(*args)
        model = _build(exercise, generator_cls, args, stand_ins=True)
        _check_blocks(exercise, "encoders", getattr(model, "encoders", None), layout[0], ENCODER_HINTS, "use_norm",
                      size)
        _check_blocks(exercise, "decoders", getattr(model, "decoders", None), layout[1], DECODER_HINTS,
                      "use_dropout", size)
        _check_out_layer(exercise, getattr(model, "out", None), layout[2], size)
        totals.append(_check_parameters(exercise, _build(exercise, generator_cls, args, stand_ins=False), layout, size))
    model = run_learner(exercise, generator_cls, 2, 3, 4, 4).train()
    x = torch.rand(2, 2, 32, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        y = run_learner(exercise, model, x)
    if not isinstance(y, torch.Tensor) or y.shape != (2, 3, 32, 16) or not bool((y.abs() < 1).all()):
        fail(exercise, "an output of shape (2, 3, 32, 16) in (-1, 1) for an input (2, 2, 32, 16) (levels=4)",
             describe(y), "the forward pass is given: check that your blocks pass their own checks")
    print(f"UNetGenerator: all checks passed; the paper's generator has {totals[0]:,} parameters "
          f"({totals[0] / 1e6:.3f} M).")
