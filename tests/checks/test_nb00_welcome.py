"""Notebook 00 (welcome): each visible check rejects the typical mistakes with the right hint; correct alternatives
pass the check and the graded cell, hidden tests included; one broken exercise costs only its own points."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from course_utils.checks import check_answer_format, check_to_signed, check_to_uint8
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

NB = read_solution("00_welcome")


def passes_graded_cell(grade_id: str, source: str, test_id: str) -> None:
    """`source` as the learner's answer cell passes its visible check and its graded cell, hidden tests included."""
    namespace = learner_namespace(NB, {grade_id: textwrap.dedent(source)})
    run_graded_cell(NB, test_id, namespace)


# ---------------------------------------------------------------------------------------------------------
# to_signed

@pytest.mark.parametrize("wrong, hint", [
    (lambda x: x, "a straight line through those points"),  # forgot to scale
    (lambda x: x * 2, "a straight line through those points"),  # forgot the shift
    (lambda x: x - 0.5, "a straight line through those points"),  # forgot the stretch
    (lambda x: (x * 2 - 1).float(), "keep the input's dtype"),  # float64 comes back as float32
    (lambda x: x.mul_(2).sub_(1), "modified in place"),
], ids=["identity", "no_shift", "no_stretch", "float32", "in_place"])
def test_to_signed_check_rejects(wrong, hint):
    rejects(check_to_signed, wrong, hint)


@pytest.mark.parametrize("source", [
    "def to_signed(x):\n    return 2 * x - 1\n",
    "def to_signed(x):\n    return (x - 0.5) / 0.5\n",
    "def to_signed(x):\n    return torch.lerp(-torch.ones_like(x), torch.ones_like(x), x)\n",
], ids=["two_x_minus_one", "centre_and_scale", "lerp"])
def test_to_signed_alternatives_pass(source):
    namespace = {"torch": torch}
    exec(source, namespace)
    check_to_signed(namespace["to_signed"])
    passes_graded_cell("welcome_to_signed_code", source, "welcome_to_signed_test")


# ---------------------------------------------------------------------------------------------------------
# to_uint8

def _levels(x):
    return (x.detach().cpu().clamp(-1, 1) + 1) * 127.5


@pytest.mark.parametrize("wrong, hint", [
    (lambda x: _levels(x).to(torch.uint8).permute(1, 2, 0).numpy(), "truncating turns 100.6 into 100"),
    (lambda x: ((x.detach() + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy(), "uint8 wraps around"),
    (lambda x: _levels(x).round().to(torch.uint8).reshape(x.shape[1], x.shape[2], x.shape[0]).numpy(),
     "scrambles the pixels"),
    (lambda x: _levels(x).round().to(torch.uint8).T.numpy(), "move the channel axis to the end"),
    (lambda x: _levels(x).round().to(torch.uint8).numpy(), "move the channel axis to the end"),
    (lambda x: ((x.detach().clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy(), "cast to uint8"),
    (lambda x: _levels(x).round().to(torch.uint8).permute(1, 2, 0), "want numpy arrays"),
    (lambda x: ((x.detach().clamp(-1, 1) + 1) * 128).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy(),
     "on a straight line"),
    (lambda x: TF.to_dtype(((x.detach() + 1) / 2).clamp(0, 1), torch.uint8, scale=True).permute(1, 2, 0).numpy(),
     "round to the nearest level"),
    (lambda x: ((x.detach().clamp_(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy(),
     "modified in place"),
    (lambda x: ((x.clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).numpy(), "GPU and attached to the autograd graph"),
], ids=["truncates", "no_clamp", "reshape", "transpose", "channels_first", "float_0_1", "tensor", "times_128",
        "torchvision_to_dtype", "in_place", "not_detached"])
def test_to_uint8_check_rejects(wrong, hint):
    rejects(check_to_uint8, wrong, hint)


TO_UINT8_ALTERNATIVES = [
    """
    def to_uint8(x):
        image = x.detach().cpu().numpy().transpose(1, 2, 0)
        return np.clip(np.rint((image + 1) * 127.5), 0, 255).astype(np.uint8)
    """,
    """
    def to_uint8(x):
        levels = (x.detach().to("cpu", torch.float64) + 1) / 2 * 255
        return torch.floor(levels + 0.5).clamp(0, 255).byte().permute(1, 2, 0).contiguous().numpy()
    """,
    """
    def to_uint8(x):
        unit = ((x.detach() + 1) / 2).clamp(0, 1)
        return (unit * 255).round().to(torch.uint8).cpu().movedim(0, -1).numpy()
    """,
]


@pytest.mark.parametrize("source", TO_UINT8_ALTERNATIVES, ids=["numpy_rint", "floor_half_up", "unit_first"])
def test_to_uint8_alternatives_pass(source):
    namespace = {"torch": torch, "np": np}
    exec(textwrap.dedent(source), namespace)
    check_to_uint8(namespace["to_uint8"])
    passes_graded_cell("welcome_to_uint8_code", source, "welcome_to_uint8_test")


# ---------------------------------------------------------------------------------------------------------
# The think item: the visible check judges the form only, the graded cell the answer

@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("b)", "a single letter"), (2, "a single letter")])
def test_clamp_answer_format_rejects(value, hint):
    rejects(lambda v: check_answer_format("answer_clamp", v, "abc"), value, hint)


@pytest.mark.parametrize("answer, match", [
    ('"a"', "rounding it to any floating-point precision"),  # the half-precision myth
    ('"c"', "bicubic interpolation has negative weights"),
    ('"d"', 'expected one of "a", "b", "c"'),
])
def test_a_wrong_clamp_answer_fails_its_graded_cell(answer, match):
    namespace = learner_namespace(NB, {"welcome_clamp_answer": f"answer_clamp = {answer}"})
    fails_graded_cell(NB, "welcome_clamp_test", namespace, match)


@pytest.mark.parametrize("answer", ['"b"', '" B "'])
def test_the_right_clamp_answer_passes(answer):
    passes_graded_cell("welcome_clamp_answer", f"answer_clamp = {answer}", "welcome_clamp_test")


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)

