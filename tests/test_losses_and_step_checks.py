"""The visible checks of notebooks 05 (losses) and 06 (training step), and `run_demo`.

Each check must accept the solution (from the solution notebooks) and reject the typical mistakes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import pytest

from course_utils import checks
from course_utils.checks import CheckFailed, reference
from course_utils.notebooks import SOLUTIONS_DIR, run_demo


@pytest.fixture(autouse=True)
def solutions_env(monkeypatch):
    # notebook 06 loads notebook 05 with import_notebook, which falls back to $COURSE_SOLUTIONS
    monkeypatch.setenv("COURSE_SOLUTIONS", str(SOLUTIONS_DIR))


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
        logits = disc(fake, condition) if mistake == "swapped" else disc(condition, fake.detach() if mistake == "detached" else fake)
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


def test_run_demo_writes_its_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "data"))
    out = tmp_path / "demo"
    assert run_demo(out) == 0
    for name in ("06_train_pix2pix.ipynb", "index.html", "checkpoint.pt", "losses.png", "loss_curves.png"):
        assert (out / name).is_file(), name
    assert "synthetic" in (out / "index.html").read_text()
