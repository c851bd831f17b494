"""Notebook 02 (U-Net): each visible check rejects the typical mistakes with the right hint; correct alternatives
pass the check and the graded cell, hidden tests included; one broken exercise costs only its own points.

Issue 9's gaps are closed here: an ExpandingBlock without the ReLU after conv2, or with one after conv1, is rejected
by the visible check, with a hint that names the place.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import (
    check_answer_format,
    check_contracting_block,
    check_crop,
    check_expanding_block,
    check_unet,
    reference,
)
from helpers import (
    assert_broken_exercise_costs_only_its_own_cells,
    exercises,
    fails_graded_cell,
    learner_namespace,
    nbgrader_meta,
    read_solution,
    rejects,
    run_graded_cell,
)

NB = read_solution("02_unet")
REF = reference("02_unet")


def define(source: str, name: str):
    """What the learner's cell `source` defines under `name`, with the notebook's imports and the reference's
    earlier parts at hand."""
    namespace = {"torch": torch, "nn": nn, "F": F, "crop": REF.crop, "ContractingBlock": REF.ContractingBlock,
                 "ExpandingBlock": REF.ExpandingBlock, "FeatureMapBlock": REF.FeatureMapBlock}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


def passes_check_and_graded_cell(check, name: str, grade_id: str, source: str, test_id: str) -> None:
    check(define(source, name))
    namespace = learner_namespace(NB, {grade_id: textwrap.dedent(source)})
    run_graded_cell(NB, test_id, namespace)


# ---------------------------------------------------------------------------------------------------------
# crop

def _corner(image, new_shape):
    return image[..., :new_shape[-2], :new_shape[-1]]


def _rounded_up(image, new_shape):
    h, w = new_shape[-2], new_shape[-1]
    top, left = (image.shape[-2] - h + 1) // 2, (image.shape[-1] - w + 1) // 2
    return image[..., top:top + h, left:left + w]


def _python_round(image, new_shape):
    h, w = new_shape[-2], new_shape[-1]
    top, left = round((image.shape[-2] - h) / 2), round((image.shape[-1] - w) / 2)  # 1.5 -> 2: banker's rounding
    return image[..., top:top + h, left:left + w]


def _first_two_entries(image, new_shape):
    h, w = new_shape[0], new_shape[1]
    top, left = (image.shape[-2] - h) // 2, (image.shape[-1] - w) // 2
    return image[..., top:top + h, left:left + w]


def _height_for_both(image, new_shape):
    h, w = new_shape[-2], new_shape[-1]
    top = (image.shape[-2] - h) // 2
    return image[..., top:top + h, top:top + w]


def _swapped_axes(image, new_shape):
    h, w = new_shape[-2], new_shape[-1]
    top, left = (image.shape[-1] - w) // 2, (image.shape[-2] - h) // 2
    return image[..., top:top + h, left:left + w]


@pytest.mark.parametrize("wrong, hint", [
    (_corner, "a centre crop"),
    (_rounded_up, "the extra row is cut at the bottom"),
    (_python_round, "the extra row is cut at the bottom"),
    (_first_two_entries, "use only the last two entries of new_shape"),
    (_height_for_both, "each axis has its own offset"),
    (_swapped_axes, "each axis has its own offset"),
], ids=lambda v: getattr(v, "__name__", "hint"))
def test_crop_check_rejects(wrong, hint):
    rejects(check_crop, wrong, hint)


CROP_ALTERNATIVES = [
    """
    def crop(image, new_shape):
        h, w = list(new_shape)[-2:]
        out = image.narrow(-2, (image.shape[-2] - h) // 2, h)
        return out.narrow(-1, (image.shape[-1] - w) // 2, w)
    """,
    """
    def crop(image, new_shape):
        *_, h, w = new_shape
        H, W = image.shape[2:]
        below, right = (H - h + 1) // 2, (W - w + 1) // 2  # the larger half goes below and to the right
        return image[:, :, H - h - below:H - below, W - w - right:W - right].clone()
    """,
]


@pytest.mark.parametrize("source", CROP_ALTERNATIVES, ids=["narrow", "from_the_far_side"])
def test_crop_alternatives_pass(source):
    passes_check_and_graded_cell(check_crop, "crop", "unet_crop_code", source, "unet_crop_test")


# ---------------------------------------------------------------------------------------------------------
# ContractingBlock

CONTRACTING = """
class ContractingBlock(nn.Module):
    def __init__(self, input_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(input_channels, {out1}, kernel_size=3{pad})
        self.conv2 = nn.Conv2d({out1}, {out1}, kernel_size=3{pad})
        self.activation = nn.ReLU()
        self.maxpool = nn.{pool}(kernel_size=2, stride=2)

    def forward(self, x):
        {body}
"""


def contracting(body: str, out1: str = "2 * input_channels", pad: str = "", pool: str = "MaxPool2d") -> str:
    return CONTRACTING.format(body=body, out1=out1, pad=pad, pool=pool)


RIGHT_CONTRACTING_BODY = ("f = self.activation(self.conv2(self.activation(self.conv1(x))))\n"
                          "        return f, self.maxpool(f)")


@pytest.mark.parametrize("source, hint", [
    (contracting("f = self.activation(self.conv2(self.conv1(x)))\n        return f, self.maxpool(f)"),
     "apply a ReLU after conv1"),
    (contracting("f = self.conv2(self.activation(self.conv1(x)))\n        return f, self.maxpool(f)"),
     "apply a ReLU after conv2 too"),
    (contracting(RIGHT_CONTRACTING_BODY, pad=", padding=1"), "the 3x3 convs are unpadded"),
    (contracting(RIGHT_CONTRACTING_BODY, out1="input_channels"), "doubled on the way down"),
    (contracting(RIGHT_CONTRACTING_BODY, pool="AvgPool2d"), "a 2x2 max pool of stride 2"),
    (contracting("f = self.activation(self.conv2(self.activation(self.conv1(x))))\n        return self.maxpool(f), f"),
     "two unpadded 3x3 convs take 2 pixels each"),
    (contracting("f = self.activation(self.conv2(self.activation(self.conv1(x))))\n        return self.maxpool(f)"),
     "return both"),
], ids=["no_relu_after_conv1", "no_relu_after_conv2", "padded", "not_doubled", "avg_pool", "swapped", "pooled_only"])
def test_contracting_block_check_rejects(source, hint):
    rejects(check_contracting_block, define(source, "ContractingBlock"), hint)


CONTRACTING_ALTERNATIVES = [
    """
    class ContractingBlock(nn.Module):
        def __init__(self, input_channels):
            super().__init__()
            self.maxpool = nn.MaxPool2d(2)
            self.activation = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(2 * input_channels, 2 * input_channels, 3)
            self.conv1 = nn.Conv2d(input_channels, 2 * input_channels, 3)

        def forward(self, x):
            x = self.activation(self.conv1(x))
            x = self.activation(self.conv2(x))
            return x, self.maxpool(x)
    """,
    """
    class ContractingBlock(nn.Module):
        def __init__(self, input_channels):
            super().__init__()
            c = input_channels * 2
            self.conv1, self.conv2 = nn.Conv2d(input_channels, c, (3, 3)), nn.Conv2d(c, c, (3, 3))
            self.activation, self.maxpool = nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2)

        def forward(self, x):
            features = F.relu(self.conv2(F.relu(self.conv1(x))))
            return features, F.max_pool2d(features, kernel_size=2, stride=2)
    """,
]


@pytest.mark.parametrize("source", CONTRACTING_ALTERNATIVES, ids=["inplace_other_order", "functional"])
def test_contracting_block_alternatives_pass(source):
    passes_check_and_graded_cell(check_contracting_block, "ContractingBlock", "unet_contracting_code", source,
                                 "unet_contracting_test")


# ---------------------------------------------------------------------------------------------------------
# ExpandingBlock

EXPANDING = """
class ExpandingBlock(nn.Module):
    def __init__(self, input_channels):
        super().__init__()
        self.upsample = nn.Upsample(scale_factor=2, mode="{mode}", {corners})
        self.conv1 = nn.Conv2d(input_channels, input_channels // 2, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(input_channels, input_channels // 2, kernel_size=3)
        self.conv3 = nn.Conv2d(input_channels // 2, input_channels // 2, kernel_size=3)
        self.activation = nn.ReLU()

    def forward(self, x, skip):
        x = {up}
        x = {cat}
        x = {mid}
        return {last}
"""


def expanding(up="self.conv1(self.upsample(x))", cat="torch.cat([x, crop(skip, x.shape)], dim=1)",
              mid="self.activation(self.conv2(x))", last="self.activation(self.conv3(x))",
              mode="bilinear", corners="align_corners=True") -> str:
    return EXPANDING.format(up=up, cat=cat, mid=mid, last=last, mode=mode, corners=corners)


@pytest.mark.parametrize("source, hint", [
    (expanding(mid="self.conv2(x)"), "apply the ReLU to conv2's output, before conv3"),
    (expanding(up="self.activation(self.conv1(self.upsample(x)))"), "the up-convolution has no activation"),
    (expanding(last="self.conv3(x)"), "apply the ReLU to conv3's output"),
    (expanding(cat="torch.cat([crop(skip, x.shape), x], dim=1)"), "the upsampled path first, then the skip"),
    (expanding(cat="torch.cat([x, skip[..., :x.shape[-2], :x.shape[-1]]], dim=1)"), "rows 0..19, columns 0..23"),
    (expanding(cat="torch.cat([x, skip[..., 4:4 + x.shape[-2], 4:4 + x.shape[-1]]], dim=1)"),
     "rows 4..23, columns 4..27"),
    (expanding(mode="nearest", corners=""), "self.upsample: bilinear"),
    (expanding(up="self.conv1(F.interpolate(x, scale_factor=2, mode='bilinear'))"), "conv1 to receive x upsampled"),
    (expanding(up="self.upsample(self.conv1(x))"), "conv1 to receive x upsampled"),
], ids=["no_relu_after_conv2", "relu_after_conv1", "no_relu_after_conv3", "skip_first", "corner_crop",
        "crop_off_by_one", "nearest", "align_corners_false", "conv_before_upsampling"])
def test_expanding_block_check_rejects(source, hint):
    rejects(check_expanding_block, define(source, "ExpandingBlock"), hint)


@pytest.mark.parametrize("source, match", [
    (expanding(mid="self.conv2(x)"), "a ReLU"),
    (expanding(up="self.activation(self.conv1(self.upsample(x)))"), "no activation"),
    (expanding(cat="torch.cat([crop(skip, x.shape), x], dim=1)"), "the skip"),
], ids=["no_relu_after_conv2", "relu_after_conv1", "skip_first"])
def test_the_graded_cell_rejects_the_same_mistakes(source, match):
    namespace = learner_namespace(NB, {"unet_expanding_code": source})
    fails_graded_cell(NB, "unet_expanding_test", namespace, match)


EXPANDING_ALTERNATIVES = [
    # F.interpolate instead of an upsample layer, torch.concat, the ReLU as a function.
    """
    class ExpandingBlock(nn.Module):
        def __init__(self, input_channels):
            super().__init__()
            half = input_channels // 2
            self.conv1 = nn.Conv2d(input_channels, half, 3, padding=1)
            self.conv2 = nn.Conv2d(input_channels, half, 3)
            self.conv3 = nn.Conv2d(half, half, 3)
            self.activation = nn.ReLU()

        def forward(self, x, skip):
            up = self.conv1(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))
            joined = torch.concat((up, crop(skip, up.shape[-2:])), 1)
            return F.relu(self.conv3(F.relu(self.conv2(joined))))
    """,
    # The crop by hand, sizes from the upsampled tensor, an nn.Sequential kept outside the state names.
    """
    class ExpandingBlock(nn.Module):
        def __init__(self, input_channels):
            super().__init__()
            self.activation = nn.ReLU(inplace=True)
            self.conv3 = nn.Conv2d(input_channels // 2, input_channels // 2, kernel_size=3)
            self.conv2 = nn.Conv2d(input_channels, input_channels // 2, kernel_size=3)
            self.conv1 = nn.Conv2d(input_channels, input_channels // 2, kernel_size=3, padding=1)
            self.upsample = nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True)

        def forward(self, x, skip):
            x = self.conv1(self.upsample(x))
            h, w = x.shape[-2:]
            top, left = (skip.shape[-2] - h) // 2, (skip.shape[-1] - w) // 2
            x = torch.cat([x, skip[:, :, top:top + h, left:left + w]], dim=1)
            for conv in (self.conv2, self.conv3):
                x = self.activation(conv(x))
            return x
    """,
]


@pytest.mark.parametrize("source", EXPANDING_ALTERNATIVES, ids=["functional", "crop_by_hand_inplace"])
def test_expanding_block_alternatives_pass(source):
    passes_check_and_graded_cell(check_expanding_block, "ExpandingBlock", "unet_expanding_code", source,
                                 "unet_expanding_test")


# ---------------------------------------------------------------------------------------------------------
# UNet.forward

UNET_INIT = """
class UNet(nn.Module):
    def __init__(self, input_channels, output_channels, hidden_channels=64, depth=4):
        super().__init__()
        self.upfeature = FeatureMapBlock(input_channels, hidden_channels)
        self.contract = nn.ModuleList([ContractingBlock(hidden_channels * 2 ** i) for i in range(depth)])
        self.bottleneck = ContractingBlock(hidden_channels * 2 ** depth)
        self.expand = nn.ModuleList([ExpandingBlock(hidden_channels * 2 ** (i + 1)) for i in range(depth, 0, -1)])
        self.downfeature = FeatureMapBlock(hidden_channels * 2, output_channels)

    def forward(self, x):
"""


def unet(body: str) -> str:
    return UNET_INIT + textwrap.indent(textwrap.dedent(body), " " * 8)


@pytest.mark.parametrize("body, hint", [
    ("""
     x, skips = self.upfeature(x), []
     for block in self.contract:
         f, x = block(x)
         skips.append(f)
     x, _ = self.bottleneck(x)
     for block, skip in zip(self.expand, skips):
         x = block(x, skip)
     return self.downfeature(x)
     """, "in reverse order"),
    ("""
     x, skips = self.upfeature(x), []
     for block in self.contract:
         f, x = block(x)
         skips.append(x)
     x, _ = self.bottleneck(x)
     for block, skip in zip(self.expand, reversed(skips)):
         x = block(x, skip)
     return self.downfeature(x)
     """, "in reverse order"),
    ("""
     x, skips = self.upfeature(x), []
     for block in self.contract:
         f, x = block(x)
         skips.append(f)
     _, x = self.bottleneck(x)
     for block, skip in zip(self.expand, reversed(skips)):
         x = block(x, skip)
     return self.downfeature(x)
     """, "the bottleneck's features up the expanding path"),
    ("""
     x, skips = self.upfeature(x), []
     for block in self.contract:
         f, x = block(x)
         skips.append(f)
     x, _ = self.bottleneck(x)
     for block, skip in zip(self.expand, reversed(skips)):
         x = block(x, skip)
     return x
     """, "run upfeature, every contracting block"),
    ("""
     skips = []
     for block in self.contract:
         f, x = block(x)
         skips.append(f)
     x, _ = self.bottleneck(x)
     for block, skip in zip(self.expand, reversed(skips)):
         x = block(x, skip)
     return self.downfeature(x)
     """, "the output of upfeature"),
], ids=["skips_not_reversed", "pooled_as_skip", "bottleneck_pooled", "no_downfeature", "no_upfeature"])
def test_unet_check_rejects(body, hint):
    rejects(check_unet, define(unet(body), "UNet"), hint)


UNET_ALTERNATIVES = [
    """
    x = self.upfeature(x)
    skips = []
    for i in range(len(self.contract)):
        features, x = self.contract[i](x)
        skips.insert(0, features)
    x = self.bottleneck(x)[0]
    for i, block in enumerate(self.expand):
        x = block(x, skips[i])
    return self.downfeature(x)
    """,
    """
    def down(level, x):
        if level == len(self.contract):
            return self.bottleneck(x)[0]
        features, pooled = self.contract[level](x)
        return self.expand[len(self.expand) - 1 - level](down(level + 1, pooled), features)
    return self.downfeature(down(0, self.upfeature(x)))
    """,
]


@pytest.mark.parametrize("body", UNET_ALTERNATIVES, ids=["insert_front", "recursive"])
def test_unet_alternatives_pass(body):
    source = unet(body)
    check_unet(define(source, "UNet"))
    namespace = learner_namespace(NB, {"unet_forward_code": source})
    run_graded_cell(NB, "unet_forward_test", namespace)


# ---------------------------------------------------------------------------------------------------------
# The think item: the visible check judges the form only, the graded cell the answer

@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("60", "a single letter"), (60, "a single letter"),
                                         ("d", "a single letter")])
def test_unet_size_answer_format_rejects(value, hint):
    rejects(lambda v: check_answer_format("answer_unet_size", v, "abc"), value, hint)


@pytest.mark.parametrize("answer, match", [('"a"', "80 counts 4 pixels per block"),
                                           ('"c"', "100 forgets that unpadded convolutions shrink")])
def test_a_wrong_unet_size_answer_fails_its_graded_cell(answer, match):
    namespace = learner_namespace(NB, {"unet_size_answer": f"answer_unet_size = {answer}"})
    fails_graded_cell(NB, "unet_size_test", namespace, match)


@pytest.mark.parametrize("answer", ['"b"', '"B "'])
def test_the_right_unet_size_answer_passes(answer):
    namespace = learner_namespace(NB, {"unet_size_answer": f"answer_unet_size = {answer}"})
    run_graded_cell(NB, "unet_size_test", namespace)


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)
