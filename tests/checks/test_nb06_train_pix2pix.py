"""The visible checks of notebook 06 (training step): each accepts the solution and rejects the typical mistakes."""

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


def test_pix2pix_step_check():
    ref05, ref06 = reference("05_pixel_distance_loss"), reference("06_train_pix2pix")
    checks.check_pix2pix_step(ref06.pix2pix_step)

    def g_before_d(batch, models, optimizers, lambda_l1=100.0):
        condition, real = batch
        fake = models["gen"](condition)
        optimizers["gen"].zero_grad()
        g_loss = ref05.generator_loss(models["disc"], condition, real, fake, lambda_l1)
        g_loss.backward()
        optimizers["gen"].step()
        optimizers["disc"].zero_grad()
        d_loss = ref05.discriminator_loss(models["disc"], condition, real, fake)
        d_loss.backward()
        optimizers["disc"].step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    def no_zero_grad(batch, models, optimizers, lambda_l1=100.0):
        condition, real = batch
        fake = models["gen"](condition)
        d_loss = ref05.discriminator_loss(models["disc"], condition, real, fake)
        d_loss.backward()
        optimizers["disc"].step()
        g_loss = ref05.generator_loss(models["disc"], condition, real, fake, lambda_l1)
        g_loss.backward()
        optimizers["gen"].step()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}

    def ignores_lambda(batch, models, optimizers, lambda_l1=100.0):
        return ref06.pix2pix_step(batch, models, optimizers)

    for wrong in (g_before_d, no_zero_grad, ignores_lambda):
        with pytest.raises(CheckFailed):
            checks.check_pix2pix_step(wrong)
