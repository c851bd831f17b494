"""The visible checks of notebook 05 (losses): each accepts the solution and rejects the typical mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils import checks
from course_utils.checks import CheckFailed, reference
from course_utils.environment import solutions_dir


@pytest.fixture(autouse=True)
def solutions_env(monkeypatch):
    # notebook 06 loads notebook 05 with import_notebook, which falls back to $COURSE_SOLUTIONS
    monkeypatch.setenv("COURSE_SOLUTIONS", str(solutions_dir()))


def bce(logits, value):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, value))


def test_pixel_distance_check():
    checks.check_pixel_distance(reference("05_pixel_distance_loss").pixel_distance)
    for wrong in (lambda a, b: (a - b).abs().sum(), lambda a, b: ((a - b) ** 2).mean(), lambda a, b: (a - b).mean(),
                  lambda a, b: (a - b).abs().mean().detach()):
        with pytest.raises(CheckFailed):
            checks.check_pixel_distance(wrong)


def test_generator_loss_check_accepts_solution_and_ignores_pixel_distance():
    ref = reference("05_pixel_distance_loss")
    checks.check_generator_loss(ref.generator_loss)
    saved = ref.pixel_distance
    ref.pixel_distance = None  # a broken pixel_distance must not fail the generator_loss check
    try:
        checks.check_generator_loss(ref.generator_loss)
    finally:
        ref.pixel_distance = saved
    assert ref.pixel_distance is saved


@pytest.mark.parametrize("mistake", ["zeros", "no_lambda", "swapped", "detached"])
def test_generator_loss_check_rejects(mistake):
    def wrong(disc, condition, real, fake, lambda_l1=100.0):
        seen = fake.detach() if mistake == "detached" else fake
        logits = disc(fake, condition) if mistake == "swapped" else disc(condition, seen)
        adv = bce(logits, 0.0 if mistake == "zeros" else 1.0)
        l1 = (fake - real).abs().mean()
        return adv + (l1 if mistake == "no_lambda" else lambda_l1 * l1)

    with pytest.raises(CheckFailed):
        checks.check_generator_loss(wrong)


def test_discriminator_loss_check():
    checks.check_discriminator_loss(reference("05_pixel_distance_loss").discriminator_loss)

    def not_halved(disc, condition, real, fake):
        return bce(disc(condition, real), 1.0) + bce(disc(condition, fake.detach()), 0.0)

    def not_detached(disc, condition, real, fake):
        return (bce(disc(condition, real), 1.0) + bce(disc(condition, fake), 0.0)) / 2

    def swapped_labels(disc, condition, real, fake):
        return (bce(disc(condition, real), 0.0) + bce(disc(condition, fake.detach()), 1.0)) / 2

    for wrong in (not_halved, not_detached, swapped_labels):
        with pytest.raises(CheckFailed):
            checks.check_discriminator_loss(wrong)
