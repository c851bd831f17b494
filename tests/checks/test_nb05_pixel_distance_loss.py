"""Notebook 05 (losses): each visible check rejects the typical mistakes with the right hint; correct alternatives
pass the check and the graded cell, hidden tests included; one broken exercise costs only its own points."""

from __future__ import annotations

import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.checks import (
    check_answer_format,
    check_discriminator_loss,
    check_generator_loss,
    check_pixel_distance,
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

NB = read_solution("05_pixel_distance_loss")


def passes_check_and_graded_cell(check, name: str, grade_id: str, source: str, test_id: str) -> None:
    source = textwrap.dedent(source)
    namespace = {"torch": torch, "F": F, "nn": nn, "pixel_distance": reference("05_pixel_distance_loss").pixel_distance}
    exec(source, namespace)
    check(namespace[name])
    namespace = learner_namespace(NB, {grade_id: source})
    run_graded_cell(NB, test_id, namespace)


def bce(logits, value):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, value))


def l1(a, b):
    return (a - b).abs().mean()


# ---------------------------------------------------------------------------------------------------------
# pixel_distance


def pd_in_place(generated, real):
    return generated.sub_(real).abs_().mean()


@pytest.mark.parametrize("wrong, hint", [
    (lambda a, b: (a - b).abs().sum(), "the mean, not the sum"),
    (lambda a, b: ((a - b) ** 2).mean(), "not its square"),
    (lambda a, b: ((a - b) ** 2).mean().sqrt(), "not its square"),
    (lambda a, b: (a - b).mean(), "before averaging"),
    (lambda a, b: (a - b).abs().mean(dim=-1).sum(), "the batch and the channels included"),
    (lambda a, b: (a - b).abs().mean(dim=(2, 3)), "a scalar tensor"),
    (lambda a, b: (a - b).abs().mean().item(), "return the loss tensor"),
    (lambda a, b: (a - b).abs().mean().detach(), "do not call .item(), .detach()"),
    (pd_in_place, "left unchanged"),
], ids=["sum", "squared", "rmse", "signed", "mean_of_rows_summed", "per_image", "item", "detached", "in_place"])
def test_pixel_distance_check_rejects(wrong, hint):
    rejects(check_pixel_distance, wrong, hint)


PIXEL_ALTERNATIVES = [
    """
    def pixel_distance(generated, real):
        return F.l1_loss(generated, real)
    """,
    """
    def pixel_distance(generated, real):
        return torch.linalg.vector_norm(real - generated, ord=1) / generated.numel()
    """,
]


@pytest.mark.parametrize("source", PIXEL_ALTERNATIVES, ids=["l1_loss", "norm_over_numel"])
def test_pixel_distance_alternatives_pass(source):
    passes_check_and_graded_cell(check_pixel_distance, "pixel_distance", "pixloss_l1_code", source,
                                 "pixloss_l1_test")


# ---------------------------------------------------------------------------------------------------------
# generator_loss


def gen(labels=1.0, sigmoid=False, weight="l1", detach=False, swap=False, judge="fake", reduction="mean",
        l1_with="real", default=100.0):
    def generator_loss(disc, condition, real, fake, lambda_l1=default):
        image = {"fake": fake.detach() if detach else fake, "real": real}[judge]
        logits = disc(image, condition) if swap else disc(condition, image)
        logits = torch.sigmoid(logits) if sigmoid else logits
        adversarial = F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, labels), reduction=reduction)
        distance = l1(fake, {"real": real, "condition": condition}[l1_with])
        if weight == "none":
            return adversarial + distance
        if weight == "bce":
            return lambda_l1 * adversarial + distance
        return adversarial + lambda_l1 * distance
    return generator_loss


@pytest.mark.parametrize("mistake, hint", [
    (dict(labels=0.0), "its labels are ones"),
    (dict(sigmoid=True), "applies the sigmoid itself"),
    (dict(weight="none"), "multiply it by lambda_l1"),
    (dict(weight="bce"), "weights the L1 term, not the adversarial one"),
    (dict(detach=True), "do not detach fake"),
    (dict(swap=True), "the condition first"),
    (dict(judge="real"), "the pairs are (condition, real) and (condition, fake)"),
    (dict(reduction="sum"), "not the sum"),
    (dict(l1_with="condition"), "between the generated image and the real target"),
    (dict(default=10.0), "the default lambda_l1 is 100"),
], ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "")
def test_generator_loss_check_rejects(mistake, hint):
    rejects(check_generator_loss, gen(**mistake), hint)


def test_the_generator_loss_factory_without_mistakes_passes():
    check_generator_loss(gen())


def test_a_broken_pixel_distance_does_not_fail_the_generator_loss_check():
    ref = reference("05_pixel_distance_loss")
    saved = ref.pixel_distance
    ref.pixel_distance = None
    try:
        check_generator_loss(ref.generator_loss)
    finally:
        ref.pixel_distance = saved


GEN_ALTERNATIVES = [
    # The L1 inline with F.l1_loss, the labels made with torch.ones of the logits' shape.
    """
    def generator_loss(disc, condition, real, fake, lambda_l1=100.0):
        verdict = disc(condition, fake)
        target = torch.ones(verdict.shape, device=verdict.device, dtype=verdict.dtype)
        return F.binary_cross_entropy_with_logits(verdict, target) + lambda_l1 * F.l1_loss(fake, real)
    """,
    # nn.BCEWithLogitsLoss, pixel_distance with its arguments the other way round (L1 is symmetric).
    """
    def generator_loss(disc, condition, real, fake, lambda_l1=100.0):
        criterion = nn.BCEWithLogitsLoss()
        logits = disc(condition, fake)
        l1_term = pixel_distance(real, fake) * lambda_l1
        return l1_term + criterion(logits, torch.ones_like(logits))
    """,
]


@pytest.mark.parametrize("source", GEN_ALTERNATIVES, ids=["inline_l1", "bce_module"])
def test_generator_loss_alternatives_pass(source):
    passes_check_and_graded_cell(check_generator_loss, "generator_loss", "pixloss_gen_code", source,
                                 "pixloss_gen_test")


# ---------------------------------------------------------------------------------------------------------
# discriminator_loss


def disc_loss(halve=True, detach=True, real_label=1.0, fake_label=0.0, terms="both", swap=False, sigmoid=False):
    def discriminator_loss(disc, condition, real, fake):
        seen = fake.detach() if detach else fake

        def judge(image):
            logits = disc(image, condition) if swap else disc(condition, image)
            return torch.sigmoid(logits) if sigmoid else logits

        real_term = bce(judge(real), real_label)
        fake_term = bce(judge(seen), fake_label)
        total = {"both": real_term + fake_term, "real": real_term}[terms]
        return total / 2 if halve else total
    return discriminator_loss


@pytest.mark.parametrize("mistake, hint", [
    (dict(halve=False), "halve the sum"),
    (dict(detach=False), "cut the generated image off"),
    (dict(real_label=0.0, fake_label=1.0), "the labels are swapped"),
    (dict(fake_label=1.0), "BCE with logits: real pairs against ones, generated pairs against zeros"),
    (dict(terms="real"), "both terms"),
    (dict(terms="real", halve=False), "both terms"),
    (dict(swap=True), "the condition first"),
    (dict(sigmoid=True), "applies the sigmoid itself"),
], ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "")
def test_discriminator_loss_check_rejects(mistake, hint):
    rejects(check_discriminator_loss, disc_loss(**mistake), hint)


def test_the_discriminator_loss_factory_without_mistakes_passes():
    check_discriminator_loss(disc_loss())


def one_batch(disc, condition, real, fake):
    logits = disc(torch.cat([condition, condition]), torch.cat([real, fake.detach()]))
    labels = torch.cat([torch.ones_like(logits[:len(real)]), torch.zeros_like(logits[len(real):])])
    return F.binary_cross_entropy_with_logits(logits, labels)


def test_discriminator_loss_check_rejects_one_batch_for_both_pairs():
    rejects(check_discriminator_loss, one_batch, "batch norm would normalise them together")


DISC_ALTERNATIVES = [
    # A loop over the two pairs, labels filled to the logits' shape.
    """
    def discriminator_loss(disc, condition, real, fake):
        total = 0.0
        for image, label in ((real, 1.0), (fake.detach(), 0.0)):
            logits = disc(condition, image)
            total = total + F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label))
        return total / 2
    """,
    # The generated image copied without a graph under no_grad, nn.BCEWithLogitsLoss, times 0.5.
    """
    def discriminator_loss(disc, condition, real, fake):
        with torch.no_grad():
            frozen = fake.clone()
        criterion = nn.BCEWithLogitsLoss()
        on_real, on_fake = disc(condition, real), disc(condition, frozen)
        return 0.5 * (criterion(on_real, torch.ones_like(on_real)) + criterion(on_fake, torch.zeros_like(on_fake)))
    """,
]


@pytest.mark.parametrize("source", DISC_ALTERNATIVES, ids=["loop_over_pairs", "no_grad_copy"])
def test_discriminator_loss_alternatives_pass(source):
    passes_check_and_graded_cell(check_discriminator_loss, "discriminator_loss", "pixloss_disc_code", source,
                                 "pixloss_disc_test")


# ---------------------------------------------------------------------------------------------------------
# The think items: the visible check judges the form only, the graded cell the answer


@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("c)", "a single letter"), (3, "a single letter"),
                                         ("e", "a single letter"), ("bc", "a single letter")])
@pytest.mark.parametrize("name", ["answer_detach", "answer_halving"])
def test_answer_format_rejects(name, value, hint):
    rejects(lambda v: check_answer_format(name, v, "abcd"), value, hint)


@pytest.mark.parametrize("grade_id, test_id, variable, answer, match", [
    ("pixloss_detach_answer", "pixloss_detach_test", "answer_detach", '"a"', "the loss is unchanged"),
    ("pixloss_detach_answer", "pixloss_detach_test", "answer_detach", '"b"', "nothing changes for it"),
    ("pixloss_detach_answer", "pixloss_detach_test", "answer_detach", '"d"', "backward\\(\\) still runs"),
    ("pixloss_halving_answer", "pixloss_halving_test", "answer_halving", '"a"', "With plain SGD"),
    ("pixloss_halving_answer", "pixloss_halving_test", "answer_halving", '"c"', "halves m and sqrt\\(v\\) alike"),
    ("pixloss_halving_answer", "pixloss_halving_test", "answer_halving", '"d"', "a perfect D still reaches 0"),
])
def test_a_wrong_answer_fails_its_graded_cell(grade_id, test_id, variable, answer, match):
    namespace = learner_namespace(NB, {grade_id: f"{variable} = {answer}"})
    fails_graded_cell(NB, test_id, namespace, match)


@pytest.mark.parametrize("grade_id, test_id, source", [
    ("pixloss_detach_answer", "pixloss_detach_test", 'answer_detach = "c"'),
    ("pixloss_detach_answer", "pixloss_detach_test", 'answer_detach = "C "'),
    ("pixloss_halving_answer", "pixloss_halving_test", 'answer_halving = "b"'),
    ("pixloss_halving_answer", "pixloss_halving_test", 'answer_halving = "B"'),
])
def test_the_right_answer_passes(grade_id, test_id, source):
    run_graded_cell(NB, test_id, learner_namespace(NB, {grade_id: source}))


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)
