"""Notebook 05 (pixel distance loss): the visible checks of the three losses.

The loss checks use ToyPatchDiscriminator, whose logits are known by hand (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .core import check_values, expect_number, expect_scalar, fail, run_learner
from .hidden import using
from .standins import ToyPatchDiscriminator, toy_pairs


def check_pixel_distance(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `pixel_distance`: the mean absolute difference, differentiable."""
    ex = "pixel_distance"
    hint = "take the absolute value of the difference, then the mean over every element (not the sum, not the square)"
    check_values(fn, [
        ((torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)), torch.tensor(1.0)),
        ((torch.tensor([1.0, -1.0]), torch.tensor([0.0, 0.0])), torch.tensor(1.0)),
        ((torch.tensor([2.0, 0.0, 0.0, 0.0]), torch.zeros(4)), torch.tensor(0.5)),
        ((torch.tensor([[0.5, -0.5]]), torch.tensor([[-0.5, 0.5]])), torch.tensor(1.0)),
    ], ex, hint)
    generated = torch.zeros(1, 3, 2, 2, requires_grad=True)
    out = expect_scalar(run_learner(ex, fn, generated, torch.ones(1, 3, 2, 2)), ex)
    if not out.requires_grad:
        fail(ex, "a result that gradients can flow through", "a tensor without a gradient",
             "use torch operations on the tensors; do not call .item(), .detach() or numpy")
    print("pixel_distance: all checks passed.")


def check_generator_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `generator_loss` on a toy discriminator with known logits."""
    ex = "generator_loss"
    condition, real, fake = toy_pairs()
    disc = ToyPatchDiscriminator()
    # Independent of your pixel_distance: while this check runs, the name pixel_distance in your notebook
    # is a stand-in that returns the true L1 of these constant images (2), so only generator_loss is tested.
    namespace = getattr(fn, "__globals__", {})
    with using(namespace, pixel_distance=lambda a, b: (a - a.detach()).sum() + 2.0):
        _check_generator_loss(fn, ex, disc, condition, real, fake)
    print("generator_loss: all checks passed.")


def _check_generator_loss(fn: Callable[..., torch.Tensor], ex: str, disc: nn.Module, condition: torch.Tensor,
                          real: torch.Tensor, fake: torch.Tensor) -> None:
    # The fake pair's logits are -1.5: BCE against ones = log(1 + e^1.5) = 1.70141; L1 = |-1 - 1| = 2.
    loss = expect_scalar(run_learner(ex, fn, disc, condition, real, fake, lambda_l1=0.0), ex)
    expect_number(loss, 1.7014133, ex, "with lambda_l1=0, the adversarial term alone",
                   "BCE with logits of disc(condition, fake) against a matrix of ones (the generator wants "
                   "'real'); call the discriminator as disc(condition, fake); arguments (disc, condition, real, fake)")
    grad = torch.autograd.grad(loss, fake, allow_unused=True)[0] if loss.requires_grad else None
    if grad is None or not grad.abs().sum() > 0:
        fail(ex, "the adversarial term to send a gradient into fake", "none",
             "do not detach fake: this loss trains the generator through the discriminator")
    loss = expect_scalar(run_learner(ex, fn, disc, condition, real, fake, lambda_l1=7.0), ex)
    expect_number(loss, 15.7014133, ex, "with lambda_l1=7, 1.70141 + 7 x 2",
                   "add lambda_l1 times your pixel_distance(fake, real)")
    loss = expect_scalar(run_learner(ex, fn, disc, condition, real, fake), ex)
    expect_number(loss, 201.7014133, ex, "with the default lambda_l1, 1.70141 + 100 x 2",
                  "the default lambda_l1 is 100")


def check_discriminator_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `discriminator_loss` on a toy discriminator with known logits."""
    ex = "discriminator_loss"
    condition, real, fake = toy_pairs()
    disc = ToyPatchDiscriminator()
    # Real logits 0.5 against ones: log(1 + e^-0.5) = 0.47408;
    # fake logits -1.5 against zeros: log(1 + e^-1.5) = 0.20141.
    loss = expect_scalar(run_learner(ex, fn, disc, condition, real, fake), ex)
    expect_number(loss, 0.3377451, ex, "(0.47408 + 0.20141) / 2",
                   "real pairs against ones, fake pairs against zeros (BCE with logits), then halve the sum "
                   "(0.67549 means the sum was not halved); call the discriminator as disc(condition, image); "
                   "the arguments are (disc, condition, real, fake)")
    loss.backward()
    if fake.grad is not None:
        fail(ex, "no gradient to reach the fake image", "a gradient in it",
             "pass fake.detach() to the discriminator: this loss trains D only")
    if disc.w.grad is None:
        fail(ex, "a gradient in the discriminator's parameters", "none",
             "compute the loss from the discriminator's logits")
    print("discriminator_loss: all checks passed.")
