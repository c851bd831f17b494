"""Notebook 04 (PatchGAN): each visible check rejects the typical mistakes with the right hint; correct alternatives
pass the check and the graded cell, hidden tests included; one broken exercise costs only its own points.

The PatchGAN's layout is the learner's to choose, so the wrong answers are built by one factory with a switch per
mistake, and the alternatives hold their layers in other ways (a ModuleList with functional activations, named
blocks) than the solution's nn.Sequential. The known gaps of issue 9 (no LeakyReLU, ReLU instead, the activation
before the norm) are among the mistakes.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.checks import (
    check_answer_format,
    check_patch_box,
    check_patchgan,
    check_receptive_field,
    measured_box,
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

NB = read_solution("04_patchgan")


def define(source: str, name: str):
    namespace = {"torch": torch, "nn": nn, "F": F}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


def passes_check_and_graded_cell(check, name: str, grade_id: str, source: str, test_id: str) -> None:
    check(define(source, name))
    namespace = learner_namespace(NB, {grade_id: textwrap.dedent(source)})
    run_graded_cell(NB, test_id, namespace)


# ---------------------------------------------------------------------------------------------------------
# PatchGAN: one factory, one switch per mistake


def patchgan(act="leaky", slope=0.2, act_first=False, first_norm=False, last_norm=False, sigmoid=False,
             image_first=False, all_stride_2=False, no_cap=False, padding=1, kernel=4, mid_bias=False,
             last_act=False, norm=nn.BatchNorm2d, fixed_in=None, no_norm=False):
    def activation(x):
        if act == "none":
            return x
        return F.relu(x) if act == "relu" else F.leaky_relu(x, slope)

    class PatchGAN(nn.Module):
        def __init__(self, in_channels=6, base_channels=64, n_layers=3):
            super().__init__()
            in_channels = fixed_in or in_channels
            widths = [base_channels * (2 ** k if no_cap else min(2 ** k, 8)) for k in range(n_layers + 1)]
            strides = [2] * (n_layers + (1 if all_stride_2 else 0)) + [1] * (1 if all_stride_2 else 2)
            chans = [in_channels] + widths + [1]
            self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
            for k in range(n_layers + 2):
                edge = k == 0 or k == n_layers + 1
                has_norm = not no_norm and ((0 < k <= n_layers) or (k == 0 and first_norm)
                                            or (k == n_layers + 1 and last_norm))
                bias = edge or mid_bias
                self.convs.append(nn.Conv2d(chans[k], chans[k + 1], kernel, strides[k], padding, bias=bias))
                self.norms.append(norm(chans[k + 1]) if has_norm else nn.Identity())

        def forward(self, condition, image):
            x = torch.cat([image, condition] if image_first else [condition, image], dim=1)
            for k, (conv, norm_layer) in enumerate(zip(self.convs, self.norms)):
                last = k == len(self.convs) - 1
                x = conv(x)
                if act_first and not last:
                    x = norm_layer(activation(x))
                else:
                    x = norm_layer(x)
                    if not last or last_act:
                        x = activation(x)
            return torch.sigmoid(x) if sigmoid else x

    return PatchGAN


@pytest.mark.parametrize("mistake, hint", [
    (dict(act="none"), "no activation found here"),
    (dict(act="relu"), "not ReLU"),
    (dict(act_first=True), "norm before activation"),
    (dict(slope=0.01), "default slope is 0.01"),
    (dict(first_norm=True), "a norm after every conv but the first and the last"),
    (dict(last_norm=True), "a norm after every conv but the first and the last"),
    (dict(no_norm=True), "a norm after every conv but the first and the last"),
    (dict(norm=nn.InstanceNorm2d), "uses batch norm"),
    (dict(sigmoid=True), "BCEWithLogits applies the sigmoid itself"),
    (dict(last_act=True), "the last conv's output is the logits"),
    (dict(image_first=True), "notebook 05 calls disc(condition, image)"),
    (dict(all_stride_2=True), "the next one stride 1"),
    (dict(no_cap=True), "up to at most 8 x base_channels"),
    (dict(padding=0), "4x4 with padding 1"),
    (dict(kernel=3), "4x4 with padding 1"),
    (dict(mid_bias=True), "a conv followed by batch norm needs no bias"),
    (dict(fixed_in=6), "in_channels counts both images"),
], ids=lambda v: "-".join(f"{k}={getattr(x, '__name__', x)}" for k, x in v.items()) if isinstance(v, dict) else "")
def test_patchgan_check_rejects(mistake, hint):
    rejects(check_patchgan, patchgan(**mistake), hint)


def test_the_factory_without_mistakes_passes():
    check_patchgan(patchgan())


PATCHGAN_ALTERNATIVES = [
    # A ModuleList of convs and one of norms, functional LeakyReLU, the loop over zip.
    """
    from torch.nn import functional as F

    class PatchGAN(nn.Module):
        def __init__(self, in_channels=6, base_channels=64, n_layers=3):
            super().__init__()
            outs = [base_channels * min(2 ** k, 8) for k in range(n_layers + 1)] + [1]
            ins = [in_channels] + outs[:-1]
            self.convs = nn.ModuleList(
                nn.Conv2d(i, o, 4, stride=2 if k < n_layers else 1, padding=1, bias=k in (0, n_layers + 1))
                for k, (i, o) in enumerate(zip(ins, outs)))
            self.norms = nn.ModuleList(nn.BatchNorm2d(o) for o in outs[1:-1])

        def forward(self, condition, image):
            x = F.leaky_relu(self.convs[0](torch.cat((condition, image), 1)), 0.2)
            for conv, norm in zip(self.convs[1:-1], self.norms):
                x = F.leaky_relu(norm(conv(x)), negative_slope=0.2)
            return self.convs[-1](x)
    """,
    # Named blocks built by a helper, in-place activations, the pair stacked with torch.concat.
    """
    def block(c_in, c_out, stride, norm):
        layers = [nn.Conv2d(c_in, c_out, kernel_size=4, stride=stride, padding=1, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(c_out))
        return nn.Sequential(*layers, nn.LeakyReLU(0.2, inplace=True))

    class PatchGAN(nn.Module):
        def __init__(self, in_channels=6, base_channels=64, n_layers=3):
            super().__init__()
            self.first = block(in_channels, base_channels, 2, norm=False)
            self.middle = nn.Sequential()
            channels = base_channels
            for n in range(1, n_layers):
                self.middle.add_module(f"down{n}", block(channels, min(2 * channels, 8 * base_channels), 2, True))
                channels = min(2 * channels, 8 * base_channels)
            self.last_c = block(channels, min(2 * channels, 8 * base_channels), 1, norm=True)
            self.out = nn.Conv2d(min(2 * channels, 8 * base_channels), 1, kernel_size=4, padding=1)

        def forward(self, condition, image):
            return self.out(self.last_c(self.middle(self.first(torch.concat([condition, image], dim=1)))))
    """,
]


@pytest.mark.parametrize("source", PATCHGAN_ALTERNATIVES, ids=["modulelists_functional", "named_blocks_inplace"])
def test_patchgan_alternatives_pass(source):
    passes_check_and_graded_cell(check_patchgan, "PatchGAN", "patchgan_disc_code", source, "patchgan_disc_test")


# ---------------------------------------------------------------------------------------------------------
# receptive_field


def rf_reversed(layers):
    size, jump = 1, 1
    for kernel, stride in reversed(layers):
        size += (kernel - 1) * jump
        jump *= stride
    return size


def rf_jump_too_early(layers):
    size, jump = 1, 1
    for kernel, stride in layers:
        jump *= stride
        size += (kernel - 1) * jump
    return size


def rf_sum_of_kernels(layers):
    return sum(kernel for kernel, _ in layers) or 1


def rf_no_minus_one(layers):
    size, jump = 1, 1
    for kernel, stride in layers:
        size += kernel * jump
        jump *= stride
    return size


def rf_from_zero(layers):
    size, jump = 0, 1
    for kernel, stride in layers:
        size += (kernel - 1) * jump
        jump *= stride
    return size


@pytest.mark.parametrize("wrong, hint", [
    (rf_reversed, "the stack upside down"),
    (rf_jump_too_early, "what does each layer add, in input pixels?"),
    (rf_sum_of_kernels, "what does each layer add, in input pixels?"),
    (rf_no_minus_one, "what does each layer add, in input pixels?"),
    (rf_from_zero, "what does each layer add, in input pixels?"),
], ids=lambda v: getattr(v, "__name__", "hint"))
def test_receptive_field_check_rejects(wrong, hint):
    rejects(check_receptive_field, wrong, hint)


RF_ALTERNATIVES = [
    # Backwards from the output: the field of the layers above, seen through one more layer.
    """
    def receptive_field(layers):
        size = 1
        for kernel, stride in reversed(layers):
            size = (size - 1) * stride + kernel
        return size
    """,
    # The product of the earlier strides, recomputed for every layer, with math.prod.
    """
    import math

    def receptive_field(layers):
        return 1 + sum((k - 1) * math.prod(s for _, s in layers[:n]) for n, (k, _) in enumerate(layers))
    """,
]


@pytest.mark.parametrize("source", RF_ALTERNATIVES, ids=["backwards", "prod_of_earlier_strides"])
def test_receptive_field_alternatives_pass(source):
    passes_check_and_graded_cell(check_receptive_field, "receptive_field", "patchgan_rf_code", source,
                                 "patchgan_rf_test")


# ---------------------------------------------------------------------------------------------------------
# patch_box


def _geometry(layers):
    size, jump, shift, flat = 1, 1, 0, 0
    for kernel, stride, padding in layers:
        size += (kernel - 1) * jump
        shift += padding * jump
        flat += padding
        jump *= stride
    return size, jump, shift, flat


def right_box(layers, i, j):
    size, jump, shift, _ = _geometry(layers)
    return i * jump - shift, j * jump - shift, i * jump - shift + size, j * jump - shift + size


def box_inclusive(layers, i, j):
    top, left, bottom, right = right_box(layers, i, j)
    return top, left, bottom - 1, right - 1


def box_swapped(layers, i, j):
    top, left, bottom, right = right_box(layers, j, i)
    return top, left, bottom, right


def box_wrong_order(layers, i, j):
    top, left, bottom, right = right_box(layers, i, j)
    return top, bottom, left, right


def box_no_padding(layers, i, j):
    return right_box([(k, s, 0) for k, s, _ in layers], i, j)


def box_padding_unscaled(layers, i, j):
    size, jump, _, flat = _geometry(layers)
    return i * jump - flat, j * jump - flat, i * jump - flat + size, j * jump - flat + size


def box_clipped(layers, i, j):
    top, left, bottom, right = right_box(layers, i, j)
    return max(top, 0), max(left, 0), bottom, right


def box_centred(layers, i, j):
    size, jump, _, _ = _geometry(layers)
    return i * jump - size // 2, j * jump - size // 2, i * jump - size // 2 + size, j * jump - size // 2 + size


def box_tensor(layers, i, j):
    return torch.tensor(right_box(layers, i, j))


@pytest.mark.parametrize("wrong, hint", [
    (box_inclusive, "one PAST the last row and column"),
    (box_swapped, "i is the row"),
    (box_wrong_order, "the order is (top, left, bottom, right)"),
    (box_no_padding, "padding adds rows and columns"),
    (box_padding_unscaled, "a padded value of a deeper layer stands for a step of several input pixels"),
    (box_clipped, "do not clip the box"),
    (box_centred, "find where cell (0, 0) starts"),
    (box_tensor, "a tuple of four ints"),
], ids=lambda v: getattr(v, "__name__", "hint"))
def test_patch_box_check_rejects(wrong, hint):
    rejects(check_patch_box, wrong, hint)


def test_measured_box_agrees_with_the_arithmetic():
    for layers in ([], [(3, 1, 1)], [(4, 2, 1)] * 3 + [(4, 1, 1)] * 2, [(2, 3, 0), (5, 1, 2), (1, 2, 3)]):
        for i, j in ((0, 0), (3, 7), (29, 1)):
            assert measured_box(layers, i, j) == right_box(layers, i, j), (layers, i, j)


BOX_ALTERNATIVES = [
    # The start of the box carried from the output down to the input, one layer at a time; numpy ints.
    """
    import numpy as np

    def patch_box(layers, i, j):
        size = receptive_field([(k, s) for k, s, _ in layers])
        start_i, start_j = i, j
        for kernel, stride, padding in reversed(layers):
            start_i, start_j = start_i * stride - padding, start_j * stride - padding
        return np.int64(start_i), np.int64(start_j), np.int64(start_i + size), np.int64(start_j + size)
    """,
    # No receptive_field: both ends of the box carried down, as a list.
    """
    def patch_box(layers, i, j):
        box = [i, j, i, j]  # first and last row and column, inclusive
        for kernel, stride, padding in reversed(layers):
            box = [box[0] * stride - padding, box[1] * stride - padding,
                   box[2] * stride - padding + kernel - 1, box[3] * stride - padding + kernel - 1]
        return [box[0], box[1], box[2] + 1, box[3] + 1]
    """,
]


@pytest.mark.parametrize("source", BOX_ALTERNATIVES, ids=["start_carried_down", "both_ends_carried_down"])
def test_patch_box_alternatives_pass(source):
    namespace = {"receptive_field": lambda layers: right_box([(k, s, 0) for k, s in layers], 0, 0)[2]}
    exec(textwrap.dedent(source), namespace)
    check_patch_box(namespace["patch_box"])
    namespace = learner_namespace(NB, {"patchgan_box_code": textwrap.dedent(source)})
    run_graded_cell(NB, "patchgan_box_test", namespace)


def test_a_wrong_receptive_field_does_not_cost_patch_box_its_point():
    namespace = learner_namespace(NB, {"patchgan_rf_code": "def receptive_field(layers):\n    return 3\n"})
    fails_graded_cell(NB, "patchgan_rf_test", namespace, "receptive_field: expected")
    run_graded_cell(NB, "patchgan_box_test", namespace)


# ---------------------------------------------------------------------------------------------------------
# The think items: the visible check judges the form only, the graded cell the answer


@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("b)", "a single letter"), (2, "a single letter"),
                                         ("e", "a single letter"), ("bd", "a single letter")])
@pytest.mark.parametrize("name", ["answer_condition", "answer_rf"])
def test_answer_format_rejects(name, value, hint):
    rejects(lambda v: check_answer_format(name, v, "abcd"), value, hint)


@pytest.mark.parametrize("grade_id, test_id, variable, answer, match", [
    ("patchgan_condition_answer", "patchgan_condition_test", "answer_condition", '"a"', "number of channels"),
    ("patchgan_condition_answer", "patchgan_condition_test", "answer_condition", '"c"', "targets of the BCE"),
    ("patchgan_condition_answer", "patchgan_condition_test", "answer_condition", '"d"', "the L1"),
    ("patchgan_rf_answer", "patchgan_rf_answer_test", "answer_rf", '"a"', "73 counts the new layer's kernel"),
    ("patchgan_rf_answer", "patchgan_rf_answer_test", "answer_rf", '"b"', "94 stops there"),
    ("patchgan_rf_answer", "patchgan_rf_answer_test", "answer_rf", '"c"', "140 doubles the whole field"),
])
def test_a_wrong_answer_fails_its_graded_cell(grade_id, test_id, variable, answer, match):
    namespace = learner_namespace(NB, {grade_id: f"{variable} = {answer}"})
    fails_graded_cell(NB, test_id, namespace, match)


@pytest.mark.parametrize("grade_id, test_id, source", [
    ("patchgan_condition_answer", "patchgan_condition_test", 'answer_condition = "B"'),
    ("patchgan_condition_answer", "patchgan_condition_test", 'answer_condition = " b "'),
    ("patchgan_rf_answer", "patchgan_rf_answer_test", 'answer_rf = "d"'),
    ("patchgan_rf_answer", "patchgan_rf_answer_test", 'answer_rf = "D"'),
])
def test_the_right_answer_passes(grade_id, test_id, source):
    run_graded_cell(NB, test_id, learner_namespace(NB, {grade_id: source}))


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)
