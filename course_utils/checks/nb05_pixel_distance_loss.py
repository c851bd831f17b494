"""Notebook 05 (pixel distance loss): the visible checks of the L1 distance and the two Pix2Pix losses.

Every expected value is worked out by hand on inputs chosen so that each typical mistake gives a number of its
own (the sum instead of the mean, the square, labels swapped, a loss not halved, a double sigmoid), which the
check recognises and answers with its hint. The loss checks use a ToyPatchDiscriminator (see standins.py) that
also records how it is called, so that a swapped pair or the wrong image is named as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .core import check_answer_format, expect_scalar, fail, run_learner
from .hidden import using
from .standins import ToyPatchDiscriminator, toy_pairs

__all__ = ["check_answer_format", "check_discriminator_loss", "check_generator_loss", "check_pixel_distance"]


def _softplus(x: float) -> float:
    """log(1 + e^x): BCE-with-logits of logit z is softplus(-z) against 1 and softplus(z) against 0."""
    return math.log1p(math.exp(x))


def _match(value: float, known: dict[float, str], default: str) -> str:
    for number, hint in known.items():
        if abs(value - number) <= 1e-4 * max(1.0, abs(number)):
            return hint
    return default


# ---------------------------------------------------------------------------------------------------------
# pixel_distance

# generated [[3, -1], [0, 0]] against zeros: the mean absolute difference is 1; each mistake gives its own number.
PIXEL_MISTAKES = {4.0: "average over every element: the mean, not the sum",
                  2.5: "L1 takes the absolute value of each difference, not its square (that is L2)",
                  math.sqrt(2.5): "L1 takes the absolute value of each difference, not its square (that is L2)",
                  0.5: "take the absolute value of each difference before averaging: +2 and -2 must not cancel",
                  2.0: "average over every element, the batch and the channels included"}


def check_pixel_distance(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `pixel_distance(generated, real)`: the mean absolute difference, a differentiable scalar."""
    ex = "pixel_distance"
    cases = [(torch.tensor([[[[3.0, -1.0], [0.0, 0.0]]]]), torch.zeros(1, 1, 2, 2), 1.0),
             (torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4), 1.0),
             (torch.tensor([[0.5, -0.5]]), torch.tensor([[-0.5, 0.5]]), 1.0),
             (torch.tensor([[[[3.0, -1.0]], [[0.0, 0.0]]]]), torch.zeros(1, 2, 1, 2), 1.0)]
    for generated, real, expected in cases:
        before = (generated.clone(), real.clone())
        got = expect_scalar(run_learner(ex, fn, generated, real), ex)
        value = got.detach().item()
        if abs(value - expected) > 1e-5:
            fail(ex, f"{expected:g} for generated {generated.tolist()} and real {real.tolist()}", f"{value:.5g}",
                 _match(value, PIXEL_MISTAKES, "the mean over every element of the absolute difference"))
        if not (torch.equal(before[0], generated) and torch.equal(before[1], real)):
            fail(ex, "the inputs to be left unchanged", "they were modified in place", "build new tensors")
    generated = torch.zeros(1, 3, 2, 2, requires_grad=True)
    out = expect_scalar(run_learner(ex, fn, generated, torch.ones(1, 3, 2, 2)), ex)
    if not out.requires_grad:
        fail(ex, "a result that gradients can flow through", "a tensor without a gradient",
             "use torch operations on the tensors; do not call .item(), .detach() or numpy")
    print("pixel_distance: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# The two losses, on the toy discriminator: condition 0.5, real 1, fake -1 everywhere; logits 0.5 for the real
# pair and -1.5 for the fake pair.


class _RecordingToy(ToyPatchDiscriminator):
    """The toy discriminator, recording the values in each (condition, image) it is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[set, set]] = []

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        self.calls.append((set(condition.detach().unique().tolist()), set(image.detach().unique().tolist())))
        return super().forward(condition, image)


def _check_calls(ex: str, disc: _RecordingToy, images: dict[float, str]) -> None:
    """Every call was disc(condition, image) with images among `images` (value -> name), and each was judged."""
    seen: set = set()
    for condition, image in disc.calls:
        if condition != {0.5}:
            fail(ex, "the discriminator called as disc(condition, image)", "the condition in the second place",
                 "the order is part of the contract: the condition first, then the image it is paired with")
        if len(image) > 1:
            fail(ex, "one call of the discriminator per pair", "the real and the generated images in one batch",
                 "judge the real pairs and the generated pairs in two calls: in one batch, batch norm would "
                 "normalise them together, and D would learn from the mix")
        if not image <= set(images):
            fail(ex, f"the discriminator to judge {' and '.join(images.values())}", "another image",
                 "the pairs are (condition, real) and (condition, fake)")
        seen |= image
    for value, name in images.items():
        if value not in seen:
            fail(ex, f"the discriminator to judge {name}", f"only {', '.join(images[v] for v in seen) or 'nothing'}",
                 "the real pair is (condition, real), the generated pair (condition, fake)" if len(images) > 1 else
                 "the generator's loss asks what D says about the generated pair (condition, fake)")


ADV = _softplus(1.5)  # BCE of logit -1.5 against ones: 1.70141
GEN_MISTAKES = {_softplus(-1.5): "the generator wants D to call its pair real: its labels are ones",
                _softplus(-torch.sigmoid(torch.tensor(-1.5)).item()): "the discriminator returns logits; "
                "binary_cross_entropy_with_logits applies the sigmoid itself (no sigmoid of your own)",
                ADV + 2.0: "with lambda_l1=0 the L1 term must vanish: multiply it by lambda_l1",
                2.0: "lambda_l1 weights the L1 term, not the adversarial one",
                ADV + 7 * 1.5: "the pixel distance is between the generated image and the real target",
                8 * ADV: "average the BCE over every patch of every image (reduction 'mean'), not the sum"}


def _pixel_standin(seen: list) -> Callable:
    """Stands in for the learner's pixel_distance during the check: the true L1 of the toy images (2) whenever
    it compares fake and real, and a gradient of 1 for each element of its first argument."""
    def pixel_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        means = (a.detach().mean().item(), b.detach().mean().item())
        seen.append(set(means))
        return (a - a.detach()).sum() + (b - b.detach()).sum() + abs(means[0] - means[1])
    return pixel_distance


def check_generator_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `generator_loss(disc, condition, real, fake, lambda_l1=100.0)` on a toy discriminator.

    While it runs, the name pixel_distance in the learner's notebook is a stand-in that gives the true L1 of these
    images, so only generator_loss is tested (a wrong pixel_distance costs its own point only)."""
    ex = "generator_loss"
    seen: list = []
    with using(getattr(fn, "__globals__", {}), pixel_distance=_pixel_standin(seen)):
        for lambda_l1, what in [(0.0, "with lambda_l1=0, the adversarial term alone"),
                                (7.0, "with lambda_l1=7, 1.70141 + 7 x 2"),
                                (None, "with the default lambda_l1, 1.70141 + 100 x 2")]:
            condition, real, fake = toy_pairs()
            disc = _RecordingToy()
            kwargs = {} if lambda_l1 is None else {"lambda_l1": lambda_l1}
            loss = expect_scalar(run_learner(ex, fn, disc, condition, real, fake, **kwargs), ex)
            _check_calls(ex, disc, {-1.0: "the generated pair (condition, fake)"})
            expected = ADV + 2.0 * (100.0 if lambda_l1 is None else lambda_l1)
            value = loss.detach().item()
            if abs(value - expected) > 1e-4 * max(1.0, expected):
                default = ("the default lambda_l1 is 100" if lambda_l1 is None else
                           "BCE with logits of D's verdict on the generated pair against ones, plus lambda_l1 times "
                           "the L1 distance between fake and real")
                fail(ex, f"{what} = {expected:.5f}", f"{value:.5f}", _match(value, GEN_MISTAKES, default))
            if any(pair != {-1.0, 1.0} for pair in seen):
                fail(ex, "the L1 term to compare fake and real", "pixel_distance called on other images",
                     "the pixel distance is between the generated image and the real target")
            grad = torch.autograd.grad(loss, fake, allow_unused=True)[0] if loss.requires_grad else None
            if lambda_l1 == 0.0 and (grad is None or not grad.abs().sum() > 0):
                fail(ex, "the adversarial term to send a gradient into fake", "none",
                     "do not detach fake: this loss trains the generator through the discriminator")
    print("generator_loss: all checks passed.")


# Real logits 0.5 against ones: softplus(-0.5) = 0.47408; fake logits -1.5 against zeros: softplus(-1.5) = 0.20141.
REAL_TERM, FAKE_TERM = _softplus(-0.5), _softplus(-1.5)
DISC_MISTAKES = {REAL_TERM + FAKE_TERM: "halve the sum of the two terms, as the contract says",
                 (_softplus(0.5) + _softplus(1.5)) / 2: "real pairs go with ones and fake pairs with zeros: the labels "
                                                        "are swapped",
                 REAL_TERM / 2: "both terms: the real pair against ones and the generated pair against zeros",
                 FAKE_TERM / 2: "both terms: the real pair against ones and the generated pair against zeros",
                 REAL_TERM: "both terms: the real pair against ones and the generated pair against zeros",
                 (_softplus(-torch.sigmoid(torch.tensor(0.5)).item()) + _softplus(torch.sigmoid(torch.tensor(-1.5))
                                                                                   .item())) / 2:
                 "the discriminator returns logits; binary_cross_entropy_with_logits applies the sigmoid itself"}


def check_discriminator_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Visible check of `discriminator_loss(disc, condition, real, fake)` on a toy discriminator."""
    ex = "discriminator_loss"
    condition, real, fake = toy_pairs()
    disc = _RecordingToy()
    loss = expect_scalar(run_learner(ex, fn, disc, condition, real, fake), ex)
    _check_calls(ex, disc, {1.0: "the real pair (condition, real)", -1.0: "the generated pair (condition, fake)"})
    expected, value = (REAL_TERM + FAKE_TERM) / 2, loss.detach().item()
    if abs(value - expected) > 1e-4:
        fail(ex, f"(0.47408 + 0.20141) / 2 = {expected:.5f} (logits 0.5 for the real pair, -1.5 for the fake one)",
             f"{value:.5f}", _match(value, DISC_MISTAKES, "BCE with logits: real pairs against ones, generated pairs "
                                                          "against zeros, each averaged, then the sum halved"))
    if not loss.requires_grad:
        fail(ex, "a loss that gradients can flow back through to the discriminator", "a loss without grad",
             "do not detach the loss or call .item()")
    loss.backward()
    if fake.grad is not None:
        fail(ex, "no gradient to reach the fake image", "a gradient in it",
             "this loss trains D only: cut the generated image off from the generator's graph before D sees it")
    if disc.w.grad is None:
        fail(ex, "a gradient in the discriminator's parameters", "none",
             "compute the loss from the discriminator's logits")
    print("discriminator_loss: all checks passed.")
