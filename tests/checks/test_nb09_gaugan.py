"""Notebook 09 (GauGAN / SPADE): each visible check rejects the typical mistakes with the right hint; correct
alternatives pass the check and the graded cell, hidden tests included; one broken exercise costs only its own
points."""

from __future__ import annotations

import textwrap

import pytest

from course_utils.checks import (
    CheckFailed,
    check_answer_format,
    check_hinge_losses,
    check_spade,
    check_spade_res_block,
)
from helpers import (
    assert_broken_exercise_costs_only_its_own_cells,
    cell_by_id,
    exercises,
    graded_cells,
    learner_namespace,
    nbgrader_meta,
    read_solution,
    rejects_call,
    replace_solution,
    run_graded_cell,
)

NB = read_solution("09_gaugan")
SOLVED = learner_namespace(NB)


def define(source: str, name: str, **names):
    """`name` as defined by `source`, run among the solution notebook's definitions (torch, nn, F, SPADE, ...)."""
    namespace = {**SOLVED, **names}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


def passes_graded_cell(code_id: str, source: str, test_id: str) -> None:
    """`source` as the learner's answer cell passes its graded cell, hidden tests included."""
    namespace = learner_namespace(NB, {code_id: textwrap.dedent(source)})
    run_graded_cell(NB, test_id, namespace)


def fails_graded_cell(code_id: str, source: str, test_id: str, match: str) -> None:
    namespace = learner_namespace(NB, {code_id: textwrap.dedent(source)})
    with pytest.raises(CheckFailed, match=match):
        run_graded_cell(NB, test_id, namespace)


def solution_source(code_id: str) -> str:
    return cell_by_id(NB, code_id).source


# ---------------------------------------------------------------------------------------------------------
# SPADE

SPADE_ID, SPADE_TEST = "gaugan09_spade_code", "gaugan09_spade_test"
SPADE_SOURCE = replace_solution(replace_solution(solution_source(SPADE_ID), textwrap.dedent("""
    self.param_free_norm = nn.BatchNorm2d(norm_channels, affine=False)
    self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())
    self.mlp_gamma = nn.Conv2d(hidden, norm_channels, 3, padding=1)
    self.mlp_beta = nn.Conv2d(hidden, norm_channels, 3, padding=1)
""")), textwrap.dedent("""
    labels = F.interpolate(segmap, size=x.shape[-2:], mode="nearest")
    hidden = self.mlp_shared(labels)
    return self.param_free_norm(x) * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)
"""))


def spade(*replacements: tuple[str, str]) -> str:
    source = SPADE_SOURCE
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new)
    return source


@pytest.mark.parametrize("source, hint", [
    (spade(("affine=False", "affine=True")), "affine off"),
    (spade(("nn.BatchNorm2d(norm_channels, affine=False)", "nn.InstanceNorm2d(norm_channels)")), "not instance norm"),
    (spade(('mode="nearest"', 'mode="bilinear"')), "bilinear blends"),
    (spade(('mode="nearest"', 'mode="nearest-exact"')), "not 'nearest-exact'"),
    (spade(('mode="nearest"', 'mode="area"')), "not by averaging"),
    (spade(("(1 + self.mlp_gamma(hidden))", "self.mlp_gamma(hidden)")), "(1 + gamma), not gamma"),
    (spade(("self.param_free_norm(x) *", "x *")), "normalise x first"),
    (spade(("self.mlp_gamma(hidden)) + self.mlp_beta(hidden)", "self.mlp_beta(hidden)) + self.mlp_gamma(hidden)")),
     "mlp_gamma makes the scale"),
    (spade(("nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())",
            "nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1))")), "then a ReLU"),
    (spade(("self.mlp_gamma = nn.Conv2d(hidden,", "self.mlp_gamma = nn.Conv2d(label_channels,"),
           ("self.mlp_beta = nn.Conv2d(hidden,", "self.mlp_beta = nn.Conv2d(label_channels,"),
           ("hidden = self.mlp_shared(labels)", "hidden = labels")), "not from the label map"),
    (spade(("self.mlp_shared = nn.Sequential(nn.Conv2d(label_channels, hidden, 3, padding=1), nn.ReLU())",
            "self.shared = nn.Conv2d(label_channels, hidden, 3, padding=1)"),
           ("hidden = self.mlp_shared(labels)", "hidden = torch.relu(self.shared(labels))")), "one shared convolution"),
    (spade(("3, padding=1)\n", "5, padding=2)\n")), "kernel 3, padding 1"),
    (spade(("hidden: int = 128", "hidden: int = 64")), "hidden=128 by default"),
    (spade(('labels = F.interpolate(segmap, size=x.shape[-2:], mode="nearest")', "labels = segmap")),
     "expected "),
], ids=["affine_bn", "instance_norm", "bilinear", "nearest_exact", "area", "no_plus_one", "no_norm", "swapped",
        "no_relu", "separate_convs", "no_shared_attribute", "kernel_5", "hidden_64", "no_resize"])
def test_spade_check_rejects(source, hint):
    rejects_call(check_spade, hint, define(source, "SPADE"))


SPADE_ALTERNATIVES = [
    SPADE_SOURCE,
    spade(("nn.ReLU()", "nn.ReLU(inplace=True)"),
          ('F.interpolate(segmap, size=x.shape[-2:], mode="nearest")',
           "F.interpolate(segmap, size=(x.shape[2], x.shape[3]))"),
          ("return self.param_free_norm(x) * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)",
           "normed = self.param_free_norm(x)\n        return torch.addcmul(self.mlp_beta(hidden), normed, "
           "1 + self.mlp_gamma(hidden))")),
    spade(("nn.BatchNorm2d(norm_channels, affine=False)",
           "nn.BatchNorm2d(norm_channels, eps=1e-5, momentum=0.1, affine=False, track_running_stats=True)"),
          ("return self.param_free_norm(x) * (1 + self.mlp_gamma(hidden)) + self.mlp_beta(hidden)",
           "gamma, beta = self.mlp_gamma(hidden), self.mlp_beta(hidden)\n        normed = self.param_free_norm(x)\n"
           "        return normed + normed * gamma + beta")),
]


@pytest.mark.parametrize("source", SPADE_ALTERNATIVES, ids=["renamed", "addcmul_default_mode", "expanded"])
def test_spade_alternatives_pass(source):
    check_spade(define(source, "SPADE"))
    passes_graded_cell(SPADE_ID, source, SPADE_TEST)


def test_spade_without_running_statistics_is_rejected():
    # without running statistics train mode is right, but eval mode (which the hidden test compares) is not
    source = spade(("affine=False)", "affine=False, track_running_stats=False)"))
    rejects_call(check_spade, "running statistics", define(source, "SPADE"))


# ---------------------------------------------------------------------------------------------------------
# SPADEResBlock

BLOCK_ID, BLOCK_TEST = "gaugan09_block_code", "gaugan09_block_test"
BLOCK_INIT = """
middle = min(in_channels, out_channels)
self.learned_shortcut = in_channels != out_channels
self.norm_0 = SPADE(in_channels, label_channels, hidden)
self.conv_0 = nn.Conv2d(in_channels, middle, 3, padding=1)
self.norm_1 = SPADE(middle, label_channels, hidden)
self.conv_1 = nn.Conv2d(middle, out_channels, 3, padding=1)
if self.learned_shortcut:
    self.norm_s = SPADE(in_channels, label_channels, hidden)
    self.conv_s = nn.Conv2d(in_channels, out_channels, 1, bias=False)
"""
BLOCK_FORWARD = """
skip = self.conv_s(self.norm_s(x, segmap)) if self.learned_shortcut else x
h = self.conv_0(torch.relu(self.norm_0(x, segmap)))
h = self.conv_1(torch.relu(self.norm_1(h, segmap)))
return skip + h
"""


def block(init: str = BLOCK_INIT, forward: str = BLOCK_FORWARD, *replacements: tuple[str, str]) -> str:
    source = replace_solution(replace_solution(solution_source(BLOCK_ID), textwrap.dedent(init)),
                              textwrap.dedent(forward))
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new)
    return source


@pytest.mark.parametrize("source, hint", [
    (block(BLOCK_INIT, BLOCK_FORWARD, ("self.conv_0(torch.relu(self.norm_0(x, segmap)))",
                                       "torch.relu(self.conv_0(self.norm_0(x, segmap)))"),
           ("self.conv_1(torch.relu(self.norm_1(h, segmap)))", "torch.relu(self.conv_1(self.norm_1(h, segmap)))")),
     "the ReLU comes before the convolution"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("self.conv_s(self.norm_s(x, segmap))", "self.conv_s(x)")), "its own SPADE"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("return skip + h", "return h")), "add the shortcut"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("torch.relu(self.norm_0(x, segmap))", "self.norm_0(x, segmap)"),
           ("torch.relu(self.norm_1(h, segmap))", "self.norm_1(h, segmap)")), "a ReLU between"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("self.conv_s = nn.Conv2d(in_channels, out_channels, 1, bias=False)",
                                       "self.conv_s = nn.Conv2d(in_channels, out_channels, 1)")), "no bias"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("middle = min(in_channels, out_channels)", "middle = out_channels")),
     "the smaller of in_channels and out_channels"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("self.learned_shortcut = in_channels != out_channels",
                                       "self.learned_shortcut = True")), "only when the channels change"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("self.norm_1 = SPADE(middle,", "self.norm_1 = SPADE(in_channels,")),
     "norm_1 normalising"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("self.norm_0(x, segmap)", "self.norm_0(x, F.interpolate(segmap, x.shape[2:]))")),
     "segmap itself"),
    (block(BLOCK_INIT, BLOCK_FORWARD, ("return skip + h", "return skip + h + self.conv_1(self.norm_1(h, segmap))")),
     "used once"),
    (block(BLOCK_INIT, BLOCK_FORWARD,
           ("torch.relu(self.norm_0(x, segmap))", "F.leaky_relu(self.norm_0(x, segmap), 0.2)"),
           ("torch.relu(self.norm_1(h, segmap))", "F.leaky_relu(self.norm_1(h, segmap), 0.2)")), "a plain ReLU"),
], ids=["relu_after_conv", "shortcut_without_spade", "no_shortcut", "no_relu", "shortcut_bias", "middle_out",
        "always_learned", "norm_1_channels", "resized_segmap", "norm_twice", "leaky_relu"])
def test_block_check_rejects(source, hint):
    rejects_call(check_spade_res_block, hint, define(source, "SPADEResBlock"))


BLOCK_ALTERNATIVES = [
    block(),
    block(BLOCK_INIT.replace("self.conv_0 = nn.Conv2d(in_channels, middle, 3, padding=1)",
                             "self.conv_0 = nn.Conv2d(in_channels, middle, kernel_size=(3, 3), padding=(1, 1))"),
          """
          dx = F.relu(self.norm_0(x, segmap))
          dx = self.conv_0(dx)
          dx = self.conv_1(F.relu(self.norm_1(dx, segmap)))
          if self.learned_shortcut:
              return dx + self.conv_s(self.norm_s(x, segmap))
          return dx + x
          """),
    """
    class SPADEResBlock(nn.Module):
        def __init__(self, in_channels, out_channels, label_channels, hidden=128):
            super().__init__()
            self.learned_shortcut = bool(in_channels - out_channels)
            mid = in_channels if in_channels < out_channels else out_channels
            if self.learned_shortcut:
                self.conv_s = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
                self.norm_s = SPADE(in_channels, label_channels, hidden=hidden)
            self.conv_0, self.conv_1 = nn.Conv2d(in_channels, mid, 3, 1, 1), nn.Conv2d(mid, out_channels, 3, 1, 1)
            self.norm_0, self.norm_1 = SPADE(in_channels, label_channels, hidden), SPADE(mid, label_channels, hidden)
            self.act = nn.ReLU()

        def forward(self, x, segmap):
            out = self.conv_1(self.act(self.norm_1(self.conv_0(self.act(self.norm_0(x, segmap))), segmap)))
            return out + (self.conv_s(self.norm_s(x, segmap)) if self.learned_shortcut else x)
    """,
]


@pytest.mark.parametrize("source", BLOCK_ALTERNATIVES, ids=["renamed", "step_by_step", "own_class"])
def test_block_alternatives_pass(source):
    check_spade_res_block(define(source, "SPADEResBlock"))
    passes_graded_cell(BLOCK_ID, source, BLOCK_TEST)


def test_a_wrong_spade_does_not_cost_the_block():
    wrong_spade = spade(("(1 + self.mlp_gamma(hidden))", "self.mlp_gamma(hidden)"))
    run_graded_cell(NB, BLOCK_TEST, learner_namespace(NB, {SPADE_ID: textwrap.dedent(wrong_spade)}))
    fails_graded_cell(SPADE_ID, wrong_spade, SPADE_TEST, r"\(1 \+ gamma\), not gamma")


# ---------------------------------------------------------------------------------------------------------
# The hinge losses

HINGE_ID, HINGE_TEST = "gaugan09_hinge_code", "gaugan09_hinge_test"
D_HINGE = """
terms = [F.relu(1 - real).mean() + F.relu(1 + fake).mean() for real, fake in zip(real_logits, fake_logits)]
return sum(terms) / len(terms)
"""
G_HINGE = "return -sum(fake.mean() for fake in fake_logits) / len(fake_logits)"


def hinge(d_body: str = D_HINGE, g_body: str = G_HINGE) -> str:
    source = replace_solution(solution_source(HINGE_ID), textwrap.dedent(d_body))
    return replace_solution(source, textwrap.dedent(g_body))


def hinge_pair(source: str):
    namespace = {**SOLVED}
    exec(textwrap.dedent(source), namespace)
    return namespace["discriminator_hinge_loss"], namespace["generator_hinge_loss"]


@pytest.mark.parametrize("source, hint", [
    (hinge(D_HINGE.replace("F.relu(1 - real).mean() + F.relu(1 + fake).mean()",
                           "F.relu(1 + real).mean() + F.relu(1 - fake).mean()")), "real logits are pushed up"),
    (hinge(D_HINGE.replace("return sum(terms) / len(terms)", "return sum(terms)")), "do not sum them"),
    (hinge(D_HINGE.replace("F.relu(1 - real).mean() + F.relu(1 + fake).mean()",
                           "(1 - real).mean() + (1 + fake).mean()")),
     "clip at zero"),
    (hinge(D_HINGE.replace("F.relu(1 - real)", "F.relu(-real)").replace("F.relu(1 + fake)", "F.relu(fake)")),
     "the margin is 1"),
    (hinge(D_HINGE.replace("return sum(terms) / len(terms)", "return sum(terms) / len(terms) / 2")),
     "do not halve them"),
    (hinge(D_HINGE, "return sum(F.relu(1 - fake).mean() for fake in fake_logits) / len(fake_logits)"),
     "has no hinge"),
    (hinge(D_HINGE, "return sum(fake.mean() for fake in fake_logits) / len(fake_logits)"), "minus the mean"),
    (hinge(D_HINGE, "return -sum(fake.mean() for fake in fake_logits)"), "average over the scales"),
    (hinge(D_HINGE, "return -sum(fake.mean().item() for fake in fake_logits) / len(fake_logits)"), "torch.Tensor"),
    (hinge(D_HINGE, "return -sum(fake.detach().mean() for fake in fake_logits) / len(fake_logits)"),
     "gradients can flow"),
    (hinge(D_HINGE, "return sum(F.softplus(-fake).mean() for fake in fake_logits) / len(fake_logits)"),
     "not binary cross-entropy"),
], ids=["d_sign_flipped", "d_summed", "d_no_relu", "d_no_margin", "d_halved", "g_uses_d_form", "g_sign_flipped",
        "g_summed", "g_item", "g_detached", "g_bce"])
def test_hinge_check_rejects(source, hint):
    rejects_call(check_hinge_losses, hint, *hinge_pair(source))


HINGE_ALTERNATIVES = [
    hinge(),
    hinge("""
          real_terms = torch.stack([torch.clamp(1.0 - r, min=0).mean() for r in real_logits])
          fake_terms = torch.stack([torch.clamp(1.0 + f, min=0).mean() for f in fake_logits])
          return (real_terms + fake_terms).mean()
          """, "return torch.stack([-f.mean() for f in fake_logits]).mean()"),
    hinge("""
          loss = 0.0
          for real, fake in zip(real_logits, fake_logits):
              loss = loss + torch.mean(torch.minimum(real - 1, torch.zeros_like(real))) * -1
              loss = loss - torch.mean(torch.minimum(-fake - 1, torch.zeros_like(fake)))
          return loss / len(real_logits)
          """, """
          loss = 0.0
          for fake in fake_logits:
              loss -= fake.mean()
          return loss / len(fake_logits)
          """),
]


@pytest.mark.parametrize("source", HINGE_ALTERNATIVES, ids=["renamed", "clamp_stack", "minimum_loop"])
def test_hinge_alternatives_pass(source):
    check_hinge_losses(*hinge_pair(source))
    passes_graded_cell(HINGE_ID, source, HINGE_TEST)


# ---------------------------------------------------------------------------------------------------------
# The think items: the visible check judges the form only, the graded cell the answer

THINK = [("gaugan09_adain_answer", "gaugan09_adain_test", "answer_adain", "b", ["a", "c"]),
         ("gaugan09_nearest_answer", "gaugan09_nearest_test", "answer_nearest", "b", ["a", "c"]),
         ("gaugan09_ttur_answer", "gaugan09_ttur_test", "answer_ttur", "b", ["a", "c"])]


@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("b)", "a single letter"), (2, "a single letter")])
def test_answer_format_rejects(value, hint):
    rejects_call(lambda v: check_answer_format("answer_adain", v, "abc"), hint, value)


@pytest.mark.parametrize("code_id, test_id, name, right, wrongs", THINK, ids=[t[2] for t in THINK])
def test_think_items_grade_the_letter(code_id, test_id, name, right, wrongs):
    for wrong in [*wrongs, "d"]:
        fails_graded_cell(code_id, f'{name} = "{wrong}"', test_id, "expected ")
    for accepted in (f'"{right}"', f'" {right.upper()} "'):
        passes_graded_cell(code_id, f"{name} = {accepted}", test_id)


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


def test_the_points_add_up_to_ten():
    assert sum(nbgrader_meta(c)["points"] for c in graded_cells(NB)) == 10


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)
