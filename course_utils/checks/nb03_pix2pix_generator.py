"""Notebook 03 (Pix2Pix generator): the visible checks of the blocks, the wiring and the size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .core import describe, fail, run_learner
from .standins import RecordingBlock


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
        fail(ex, "`norm` to be nn.BatchNorm2d(out_channels)", repr(getattr(block, "norm", None)),
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
            fail(ex, "no negative values (a ReLU comes last)", f"a minimum of {plain.min():.3g}", "end with nn.ReLU()")
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


def _stand_in_generator(generator_cls: type, levels: int) -> nn.Module:
    """The learner's generator class with stand-in blocks that record what they receive (no __init__ run)."""
    model = generator_cls.__new__(generator_cls)
    nn.Module.__init__(model)
    channels = [2 + i for i in range(levels)]  # distinct channel counts, so every tensor is recognisable
    model.levels = levels
    model.encoders = nn.ModuleList(RecordingBlock(c, 0.5, 10 + i) for i, c in enumerate(channels))
    model.decoders = nn.ModuleList(RecordingBlock(channels[levels - 2 - i], 2.0, 50 + i) for i in range(levels - 1))
    model.out = RecordingBlock(3, 2.0, 99, squash=True)
    return model


def _check_skip(ex: str, name: str, seen: torch.Tensor, previous: torch.Tensor, outs: list, level: int) -> None:
    """`seen` must be torch.cat([previous, outs[level]], dim=1); name the mistake if it is not."""
    skip = outs[level]
    if seen.shape[2:] == previous.shape[2:] and seen.shape[1] == previous.shape[1] + skip.shape[1]:
        if torch.equal(seen, torch.cat([previous, skip], dim=1)):
            return
        if torch.equal(seen, torch.cat([skip, previous], dim=1)):
            fail(ex, f"{name} to receive torch.cat([decoder_output, skip], dim=1)",
                 "torch.cat([skip, decoder_output])",
                 "the order is fixed by the docstring: the previous decoder's output first, then the skip")
    if torch.equal(seen, previous):
        fail(ex, f"{name} to receive the previous output concatenated with the skip of encoders[{level}]",
             "the previous output alone", "concatenate the skip with torch.cat([decoder_output, skip], dim=1)")
    for other, candidate in enumerate(outs):
        if candidate.shape[2:] == previous.shape[2:] and seen.shape[1] == previous.shape[1] + candidate.shape[1] \
                and torch.equal(seen, torch.cat([previous, candidate], dim=1)):
            fail(ex, f"{name} to get the skip from encoders[{level}]", f"the skip from encoders[{other}]",
                 "pair each decoder with the encoder output of the same height and width")
    fail(ex, f"{name} to receive torch.cat([previous decoder output, output of encoders[{level}]], dim=1)",
         f"a tensor of shape {describe(seen)}",
         "keep every encoder output (but the last) as a skip, and use them from the deepest to the shallowest")


def check_unet_generator(generator_cls: type) -> None:
    """Visible check of `UNetGenerator.forward`: the wiring, tested with stand-in blocks that record their inputs.

    Independent of your EncoderBlock and DecoderBlock: the generator is assembled from stand-ins, so this
    check tests only the forward pass (the order of the blocks, the skips, the concatenation order).
    """
    ex = "UNetGenerator.forward"
    for levels in (3, 5):
        model = _stand_in_generator(generator_cls, levels)
        x = torch.randn(2, 3, 2 ** levels, 2 ** levels, generator=torch.Generator().manual_seed(levels))
        result = run_learner(ex, model.forward, x, hint="loop over self.encoders, then self.decoders, then self.out")
        encs, decs = model.encoders, model.decoders
        named = [(f"encoders[{i}]", e) for i, e in enumerate(encs)]
        named += [(f"decoders[{i}]", d) for i, d in enumerate(decs)] + [("out", model.out)]
        for name, block in named:
            if len(block.seen) != 1:
                fail(ex, f"self.{name} to be called once", f"{len(block.seen)} calls",
                     "each encoder, each decoder and the out layer run once per forward pass")
        outs = [e.made[0] for e in encs]
        for i in range(levels):
            if not torch.equal(encs[i].seen[0], x if i == 0 else outs[i - 1]):
                source = "the input image" if i == 0 else f"the output of encoders[{i - 1}]"
                fail(ex, f"encoders[{i}] to receive {source}", "another tensor",
                     "the encoders run in order, the first on x, each on the previous one's output")
        if not (decs[0].seen[0].shape == outs[-1].shape and torch.equal(decs[0].seen[0], outs[-1])):
            fail(ex, f"decoders[0] to receive the bottleneck (the output of encoders[{levels - 1}]) alone, "
                 f"shape {describe(outs[-1])}", f"shape {describe(decs[0].seen[0])}",
                 "the bottleneck has no partner to concatenate with: the skips are the other encoders' outputs")
        for i in range(1, levels - 1):
            _check_skip(ex, f"decoders[{i}]", decs[i].seen[0], decs[i - 1].made[0], outs, levels - 1 - i)
        _check_skip(ex, "out", model.out.seen[0], decs[-1].made[0], outs, 0)
        if not (isinstance(result, torch.Tensor) and torch.equal(result, model.out.made[0])):
            fail(ex, "forward to return the output of self.out", describe(result),
                 "return self.out(...) (it ends with tanh)")
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
        fail(ex, "dropout in the first three decoder blocks only", str(drops),
             "use_dropout=True for decoders 0, 1 and 2")
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != expected:
        fail(ex, f"{expected:,} parameters", f"{n_params:,}", "convs followed by batch norm have no bias")
    print(f"UNetGenerator: {n_params:,} parameters ({n_params / 1e6:.3f} M), as in the reference implementation.")
