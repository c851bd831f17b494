"""Notebook 02 (U-Net): the visible checks of the crop, the blocks and the wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .core import assert_close, check_values, describe, fail, run_learner


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
    hint = ("keep rows top .. top + h - 1 with top = (H - h) // 2, and columns left .. left + w - 1 with "
            "left = (W - w) // 2")
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
    if describe(out) != "(2, 4, 16, 20)":
        fail(exercise, "an output of shape (2, 4, 16, 20) for x (2, 8, 10, 12) and skip (2, 4, 27, 31)", describe(out),
             "upsample to 20 x 24, conv1 keeps that size (padding 1), crop the skip to 20 x 24, then two unpadded 3x3 "
             "convs")
    if out.min() < 0:
        fail(exercise, "an output >= 0", f"a minimum of {out.min().item():.3g}",
             "apply a ReLU after conv2 and after conv3")
    # Which channels of the concatenation come from where: silence the skip's half, then x's half.
    with torch.no_grad():
        block.conv2.weight[:, 4:] = 0
        base = block(x, skip)
        other = skip.clone()
        other[:, :, 3:23, 3:27] = torch.randn(2, 4, 20, 24)
        if not torch.allclose(block(x, other), base):
            fail(exercise, "the output not to change with the skip when conv2 ignores the last half of its input "
                           "channels",
                 "a change", "concatenate in the order (x, cropped skip) along the channel axis: torch.cat([x, skip], "
                             "dim=1)")
        torch.manual_seed(1)
        block.conv2.weight.normal_(0, 0.3)
        block.conv2.weight[:, :4] = 0
        base = block(x, skip)
        if not torch.allclose(block(x + torch.randn_like(x), skip), base):
            fail(exercise, "the output not to change with x when conv2 ignores the first half of its input channels",
                 "a change", "concatenate in the order (x, cropped skip) along the channel axis: torch.cat([x, skip], "
                             "dim=1)")
        outside = skip.clone()  # the 27 x 31 skip is cropped to rows 3..22 and columns 3..26
        outside[:, :, :3] = 9.0
        outside[:, :, 23:] = 9.0
        outside[:, :, :, :3] = 9.0
        outside[:, :, :, 27:] = 9.0
        if not torch.allclose(block(x, outside), base):
            fail(exercise, "the output not to change with the skip's border outside the centre crop (rows 3..22, "
                           "columns 3..26 of 27 x 31)",
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


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)


def _record_blocks(exercise: str, model: nn.Module, x: torch.Tensor) -> tuple[Any, dict[str, tuple]]:
    """Run the model with forward hooks; return its output and, per block, (its inputs, its output)."""
    seen: dict[str, tuple] = {}

    def record(name: str) -> Callable:
        def hook(module: nn.Module, inputs: tuple, keywords: dict, output: Any) -> None:
            seen[name] = (tuple(inputs) + tuple(keywords.values()), output)
        return hook

    blocks = {"upfeature": model.upfeature, "bottleneck": model.bottleneck, "downfeature": model.downfeature}
    blocks.update({f"contract[{i}]": b for i, b in enumerate(model.contract)})
    blocks.update({f"expand[{i}]": b for i, b in enumerate(model.expand)})
    handles = [b.register_forward_hook(record(n), with_kwargs=True) for n, b in blocks.items()]
    try:
        with torch.no_grad():
            out = run_learner(exercise, model, x)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in blocks if n not in seen]
    if missing:
        fail(exercise, "every block to be used", f"{', '.join(missing)} never called",
             "run upfeature, every contracting block, the bottleneck, every expanding block, then downfeature")
    return out, seen


def _check_unet_wiring(exercise: str, depth: int, seen: dict[str, tuple]) -> None:
    wiring = []
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
        if len(args) < 2 or not _same(args[1], seen[f"contract[{level}]"][1][0]):
            fail(exercise, f"expand[{i}] to get as skip the features (first output) of contract[{level}] "
                 f"(depth {depth})", f"a skip of shape {describe(args[1]) if len(args) > 1 else 'none'}",
                 "keep each contracting block's features in a list and give them to the expanding blocks in "
                 "reverse order")
        previous = seen[f"expand[{i}]"][1]
    wiring.append(("downfeature", "its input", seen["downfeature"][0][0], previous))
    for name, what, got, want in wiring:
        if not _same(got, want):
            fail(exercise, f"{name} to get as {what} the output of the block before it (depth {depth})",
                 f"a tensor of shape {describe(got)}",
                 "pass the pooled output down the contracting path, the bottleneck's features up the expanding path")


def check_unet(UNet: type) -> None:
    """Visible check of `UNet.forward`: output shapes, and that every block gets the right tensors (forward hooks)."""
    exercise = "UNet"
    for depth, shape, expected in [(2, (1, 3, 92, 92), (1, 12, 52, 52)), (1, (2, 3, 45, 38), (2, 12, 28, 22)),
                                   (3, (1, 3, 124, 132), (1, 12, 36, 44))]:
        torch.manual_seed(0)
        model = run_learner(exercise, UNet, 3, 12, 4, depth).eval()
        out, seen = _record_blocks(exercise, model, torch.randn(shape))
        _check_unet_wiring(exercise, depth, seen)
        if not _same(out, seen["downfeature"][1]) or tuple(out.shape) != expected:
            fail(exercise, f"the output of downfeature, of shape {expected}, for an input {shape} (depth {depth})",
                 describe(out), "return self.downfeature(...) of the last expanding block's output")
    print("UNet: all checks passed.")
