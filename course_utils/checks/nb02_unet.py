"""Notebook 02 (U-Net): the visible checks of the crop, the blocks, the wiring and the think item.

The crop is checked on known answers written out by hand. The blocks are checked by their layers, their shapes and,
with forward hooks, by what each conv receives: so a missing or an extra ReLU, a swapped concatenation or a skip cut
at the wrong place is named where it happens. The U-Net's wiring is checked with hooks on every block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .core import CheckFailed, assert_close, check_answer_format, check_values, describe, fail, run_learner

__all__ = ["check_answer_format", "check_contracting_block", "check_crop", "check_expanding_block", "check_unet"]


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
    hint = ("a centre crop: cut (almost) as many rows above as below the kept window, and as many columns left "
            "as right; the kept window is exactly h rows by w columns")
    x = torch.arange(25.0).view(1, 1, 5, 5)
    check_values(lambda t: run_learner(exercise, crop, t, (3, 3), hint=hint),
                 [((x,), torch.tensor([[[[6.0, 7, 8], [11, 12, 13], [16, 17, 18]]]]))], exercise, hint)
    x = torch.arange(42.0).view(1, 1, 6, 7)  # 6 - 3 = 3 rows to cut: 1 on top, 2 below; 7 - 4 = 3 columns likewise
    check_values(lambda t: run_learner(exercise, crop, t, (3, 4), hint=hint),
                 [((x,), torch.tensor([[[[8.0, 9, 10, 11], [15, 16, 17, 18], [22, 23, 24, 25]]]]))], exercise,
                 "when H - h is odd, the extra row is cut at the bottom (and the extra column on the right): " + hint)
    x = torch.arange(88.0).view(1, 1, 8, 11)  # top = 2 from the heights, left = 3 from the widths
    check_values(lambda t: run_learner(exercise, crop, t, (4, 5), hint=hint),
                 [((x,), torch.tensor([[[[25.0, 26, 27, 28, 29], [36, 37, 38, 39, 40], [47, 48, 49, 50, 51],
                                         [58, 59, 60, 61, 62]]]]))], exercise,
                 "each axis has its own offset: rows to cut from the heights, columns to cut from the widths")
    x = torch.arange(2 * 3 * 8 * 10.0).view(2, 3, 8, 10)
    got = run_learner(exercise, crop, x, torch.Size([2, 5, 4, 4]), hint=hint)
    if not isinstance(got, torch.Tensor) or got.shape != (2, 3, 4, 4):
        fail(exercise, "shape (2, 3, 4, 4) for a (2, 3, 8, 10) batch and new_shape torch.Size([2, 5, 4, 4])",
             describe(got), "use only the last two entries of new_shape; keep the batch and channel sizes of the image")
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
    if describe(features) != "(2, 6, 17, 20)" or describe(pooled) != "(2, 6, 8, 10)":
        fail(exercise, "features of shape (2, 6, 17, 20) and pooled of shape (2, 6, 8, 10) for an input (2, 3, 21, 24)",
             f"{describe(features)} and {describe(pooled)}",
             "two unpadded 3x3 convs take 2 pixels each off the height and the width; the 2x2 max pool halves "
             "(rounding down)")
    if features.min() < 0:
        fail(exercise, "features >= 0", f"a minimum of {features.min().item():.3g}", "apply a ReLU after conv2 too")
    assert_close(pooled, torch.nn.functional.max_pool2d(features, 2), exercise,
                 "pooled (the 2x2 max pool of the features)",
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


def _record_convs(exercise: str, block: nn.Module, names: tuple[str, ...], *args: torch.Tensor) -> tuple[Any, dict]:
    """Run block(*args) with forward hooks on its convs: the output and, per conv, (its input, its output)."""
    seen: dict[str, list] = {name: [] for name in names}

    def record(name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            seen[name].append((inputs[0].detach().clone(), output.detach().clone()))
        return hook

    handles = [getattr(block, name).register_forward_hook(record(name)) for name in names]
    try:
        with torch.no_grad():
            out = run_learner(exercise, block, *args)
    finally:
        for handle in handles:
            handle.remove()
    for name in names:
        if len(seen[name]) != 1:
            fail(exercise, f"{name} to be called once per forward pass", f"{len(seen[name])} calls",
                 f"use each conv once, through its attribute self.{name}")
    return out, {name: calls[0] for name, calls in seen.items()}


def _window(image: torch.Tensor, part: torch.Tensor) -> str:
    """Where `part` sits in `image` (the last two axes), for messages: 'rows a..b, columns c..d' or 'no window'."""
    h, w = part.shape[-2:]
    for top in range(image.shape[-2] - h + 1):
        for left in range(image.shape[-1] - w + 1):
            if torch.allclose(image[..., top:top + h, left:left + w], part, atol=1e-6):
                return f"rows {top}..{top + h - 1}, columns {left}..{left + w - 1}"
    return "no window of the skip"


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5)


def _check_concatenation(exercise: str, cat_in: torch.Tensor, conv1_out: torch.Tensor, skip: torch.Tensor) -> None:
    """conv2's input: conv1's output as it is, then the centre crop of the skip (rows 3..22, columns 3..26)."""
    centre = skip[:, :, 3:23, 3:27]
    if cat_in.shape != (2, 8, 20, 24):
        fail(exercise, "conv2 to receive a tensor of shape (2, 8, 20, 24): 4 channels from conv1 and 4 from the skip, "
             "at the upsampled size 20 x 24", f"shape {describe(cat_in)}",
             "crop the skip to the height and width of conv1's output, then join the two along the channel axis")
    first, second = cat_in[:, :4], cat_in[:, 4:]
    if _close(first, centre) or _close(second, conv1_out):
        fail(exercise, "conv2's input to hold conv1's output in its first channels and the cropped skip in the last",
             "the cropped skip first", "the order is fixed by the docstring: the upsampled path first, then the skip")
    if not _close(first, conv1_out):
        relu = _close(first, conv1_out.clamp(min=0))
        fail(exercise, "the first half of conv2's input to be conv1's output as it is",
             "conv1's output after a ReLU" if relu else "other values",
             "the up-convolution has no activation of its own; the ReLUs follow conv2 and conv3" if relu else
             "apply conv1 to the upsampled x and pass its output on unchanged")
    if not _close(second, centre):
        fail(exercise, "the second half of conv2's input to be the centre crop of the 27 x 31 skip to 20 x 24 (rows "
             "3..22, columns 3..26)", _window(skip, second),
             "crop the skip with your crop function, to the height and width of conv1's output")


def check_expanding_block(ExpandingBlock: type) -> None:
    """Visible check of `ExpandingBlock`: layers, shapes, and with hooks what conv1, conv2 and conv3 receive."""
    exercise = "ExpandingBlock"
    torch.manual_seed(0)
    block = run_learner(exercise, ExpandingBlock, 8)
    _unet_conv(exercise, block, "conv1", 8, 4, 3, 1)
    _unet_conv(exercise, block, "conv2", 8, 4, 3, 0)
    _unet_conv(exercise, block, "conv3", 4, 4, 3, 0)
    up = getattr(block, "upsample", None)  # optional: F.interpolate in forward is fine too
    if isinstance(up, nn.Upsample) and (float(up.scale_factor), up.mode, up.align_corners) != (2.0, "bilinear", True):
        fail(exercise, "self.upsample: bilinear, scale factor 2, align_corners=True", repr(up),
             "create it in __init__ with the settings the docstring gives")
    generator = torch.Generator().manual_seed(0)
    x, skip = torch.randn(2, 8, 10, 12, generator=generator), torch.randn(2, 4, 27, 31, generator=generator)
    x_in, skip_in = x.clone(), skip.clone()
    out, seen = _record_convs(exercise, block.eval(), ("conv1", "conv2", "conv3"), x_in, skip_in)
    if not (torch.equal(x_in, x) and torch.equal(skip_in, skip)):
        fail(exercise, "x and skip to be left unchanged", "they were modified", "build new tensors")
    if describe(out) != "(2, 4, 16, 20)":
        fail(exercise, "an output of shape (2, 4, 16, 20) for x (2, 8, 10, 12) and skip (2, 4, 27, 31)", describe(out),
             "upsample to 20 x 24, conv1 keeps that size (padding 1), crop the skip to 20 x 24, then two unpadded 3x3 "
             "convs")
    upsampled = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    if not _close(seen["conv1"][0], upsampled):
        fail(exercise, "conv1 to receive x upsampled by 2 (bilinear, align_corners=True), shape (2, 8, 20, 24)",
             f"a tensor of shape {describe(seen['conv1'][0])}" + (" with other values" if seen["conv1"][0].shape ==
                                                                  upsampled.shape else ""),
             "upsample x first, with the mode and align_corners the docstring gives, then apply conv1")
    _check_concatenation(exercise, seen["conv2"][0], seen["conv1"][1], skip)
    for before, after, name in ((seen["conv2"][1], seen["conv3"][0], "conv3's input"), (seen["conv3"][1], out,
                                                                                         "the output")):
        if not _close(after, before.clamp(min=0)):
            plain = _close(after, before)
            conv = "conv2" if name.startswith("conv3") else "conv3"
            fail(exercise, f"{name} to be {conv}'s output after a ReLU",
                 f"{conv}'s output without a ReLU" if plain else "other values",
                 f"apply the ReLU to {conv}'s output" + (", before conv3" if conv == "conv2" else ", and return that"))
    print("ExpandingBlock: all checks passed.")


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)


def _unet_blocks(model: nn.Module) -> dict[str, nn.Module]:
    blocks = {"upfeature": model.upfeature}
    blocks.update({f"contract[{i}]": b for i, b in enumerate(model.contract)})
    blocks["bottleneck"] = model.bottleneck
    blocks.update({f"expand[{i}]": b for i, b in enumerate(model.expand)})
    blocks["downfeature"] = model.downfeature
    return blocks


def _record_blocks(exercise: str, model: nn.Module, x: torch.Tensor) -> tuple[Any, dict, dict, CheckFailed | None]:
    """Run the model with hooks: its output, what each block received and returned, and the failure if it crashed
    (what the blocks received before the crash is kept, so a wiring mistake can be named even then)."""
    inputs: dict[str, tuple] = {}
    outputs: dict[str, Any] = {}

    def before(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, keywords: dict) -> None:
            inputs[name] = tuple(args) + tuple(keywords.values())
        return hook

    def after(name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            outputs[name] = output
        return hook

    blocks = _unet_blocks(model)
    handles = [b.register_forward_pre_hook(before(n), with_kwargs=True) for n, b in blocks.items()]
    handles += [b.register_forward_hook(after(n)) for n, b in blocks.items()]
    out, crash = None, None
    try:
        with torch.no_grad():
            out = run_learner(exercise, model, x)
    except CheckFailed as failure:
        crash = failure
    finally:
        for h in handles:
            h.remove()
    return out, inputs, outputs, crash


def _expected_inputs(depth: int, outputs: dict) -> list[tuple[str, int, str, Any]]:
    """(block, argument index, what it should be, the tensor it should be) for every input of every block."""
    expected = [("contract[0]", 0, "the output of upfeature", outputs.get("upfeature"))]
    for i in range(1, depth):
        expected.append((f"contract[{i}]", 0, f"the pooled output of contract[{i - 1}]",
                         (outputs.get(f"contract[{i - 1}]") or (None, None))[1]))
    expected.append(("bottleneck", 0, f"the pooled output of contract[{depth - 1}]",
                     (outputs.get(f"contract[{depth - 1}]") or (None, None))[1]))
    for i in range(depth):
        previous = (outputs.get("bottleneck") or (None,))[0] if i == 0 else outputs.get(f"expand[{i - 1}]")
        expected.append((f"expand[{i}]", 0, "the features of the bottleneck" if i == 0 else
                         f"the output of expand[{i - 1}]", previous))
        expected.append((f"expand[{i}]", 1, f"the features (first output) of contract[{depth - 1 - i}]",
                         (outputs.get(f"contract[{depth - 1 - i}]") or (None,))[0]))
    expected.append(("downfeature", 0, f"the output of expand[{depth - 1}]", outputs.get(f"expand[{depth - 1}]")))
    return expected


def _check_unet_wiring(exercise: str, depth: int, inputs: dict, outputs: dict) -> None:
    """Every block that ran got what it should; stops at the first block that did not run."""
    for name, index, what, want in _expected_inputs(depth, outputs):
        if name not in inputs:
            return
        args = inputs[name]
        got = args[index] if len(args) > index else None
        if not _same(got, want):
            skip = index == 1
            fail(exercise, f"{name} to get as {'its skip' if skip else 'its input'} {what} (depth {depth})",
                 f"a tensor of shape {describe(got)}" if got is not None else "nothing",
                 "keep each contracting block's features in a list and give them to the expanding blocks in reverse "
                 "order, the deepest first" if skip else
                 "pass the pooled output down the contracting path, the bottleneck's features up the expanding path")


def check_unet(UNet: type) -> None:
    """Visible check of `UNet.forward`: output shapes, and that every block gets the right tensors (forward hooks)."""
    exercise = "UNet"
    for depth, shape, expected in [(2, (1, 3, 92, 92), (1, 12, 52, 52)), (1, (2, 3, 45, 38), (2, 12, 28, 22)),
                                   (3, (1, 3, 124, 132), (1, 12, 36, 44))]:
        torch.manual_seed(0)
        model = run_learner(exercise, UNet, 3, 12, 4, depth).eval()
        out, inputs, outputs, crash = _record_blocks(exercise, model, torch.randn(shape))
        _check_unet_wiring(exercise, depth, inputs, outputs)
        if crash is not None:
            raise crash
        missing = [name for name in _unet_blocks(model) if name not in inputs]
        if missing:
            fail(exercise, "every block to be used", f"{', '.join(missing)} never called",
                 "run upfeature, every contracting block, the bottleneck, every expanding block, then downfeature")
        if not _same(out, outputs["downfeature"]) or tuple(out.shape) != expected:
            fail(exercise, f"the output of downfeature, of shape {expected}, for an input {shape} (depth {depth})",
                 describe(out), "return the output of downfeature, applied to the last expanding block's output")
    print("UNet: all checks passed.")
