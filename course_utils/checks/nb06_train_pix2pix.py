"""Notebook 06 (training): the visible check of the training step.

The step check trains a toy pair with plain SGD (lr 1) from known weights: the generator outputs tanh(b)
everywhere (b = 0, so the fake is 0), the discriminator is ToyPatchDiscriminator (w = 1); condition 0.5, real 1.
D loss = log(1 + e^-0.5) = 0.474077 (both logits +-0.5); its gradient in w is -sigmoid(-0.5) / 2, so one
SGD step gives w = 1.188770. G loss against the updated D: log(1 + e^(0.5 w)) + 100 x |0 - 1| = 101.033866.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .core import fail, run_learner
from .standins import ConstantGenerator, ToyPatchDiscriminator


def check_pix2pix_step(step_fn: Callable[..., Any]) -> None:
    """Visible check of `pix2pix_step(batch, models, optimizers, lambda_l1=100.0)` on a toy pair of models."""
    ex = "pix2pix_step"
    for lambda_l1, g_expected in [(None, 101.0338663), (0.0, 1.0338663)]:
        gen, disc = ConstantGenerator(), ToyPatchDiscriminator()
        gen.b.grad, disc.w.grad = torch.tensor(5.0), torch.tensor(5.0)  # stale gradients from a previous step
        models = {"gen": gen, "disc": disc}
        optimizers = {"gen": torch.optim.SGD(gen.parameters(), lr=1.0), "disc": torch.optim.SGD(disc.parameters(),
                                                                                                lr=1.0)}
        batch = (torch.full((1, 3, 8, 8), 0.5), torch.ones(1, 3, 8, 8))
        kwargs = {} if lambda_l1 is None else {"lambda_l1": lambda_l1}
        out = run_learner(ex, step_fn, batch, models, optimizers, **kwargs)
        if not isinstance(out, dict) or set(out) != {"d_loss", "g_loss"}:
            fail(ex, "a dict with the keys 'd_loss' and 'g_loss'", repr(out)[:80],
                 "return {'d_loss': ..., 'g_loss': ...}")
        try:
            d_loss, g_loss = float(out["d_loss"]), float(out["g_loss"])
        except (TypeError, ValueError):
            fail(ex, "numbers as the losses", repr(out)[:80], "return d_loss.item() and g_loss.item()")
        if not abs(d_loss - 0.4740770) < 1e-4:
            fail(ex, "d_loss of 0.47408 (the discriminator loss before D's update)", f"{d_loss:.5f}",
                 "call discriminator_loss(disc, condition, real, fake) once, on fake = gen(condition); "
                 "check discriminator_loss in notebook 05")
        if not abs(disc.w.item() - 1.1887703) < 1e-4:
            fail(ex, "the discriminator's weight to be 1.18877 after one step from fresh gradients",
                 f"{disc.w.item():.5f}",
                 "zero D's gradients (optimizers['disc'].zero_grad()) before d_loss.backward(), then one "
                 "optimizer step")
        if abs(g_loss - (g_expected - 0.0597893)) < 1e-4:
            fail(ex, f"g_loss of {g_expected:.5f} (computed with the updated discriminator)", f"{g_loss:.5f}",
                 "update D first, then compute the generator loss (the discriminator has changed)")
        if not abs(g_loss - g_expected) < 1e-4 * max(1.0, g_expected):
            setting = " with the default lambda_l1 of 100" if lambda_l1 is None else " with lambda_l1=0"
            fail(ex, f"g_loss of {g_expected:.5f}{setting}",
                 f"{g_loss:.5f}", "generator_loss(disc, condition, real, fake, lambda_l1) after D's update; pass "
                 "lambda_l1 on; check generator_loss in notebook 05")
        b_expected = 0.7660087 + (100.0 if lambda_l1 is None else 0.0)
        if not abs(gen.b.item() - b_expected) < 1e-3:
            fail(ex, f"the generator's weight to be {b_expected:.4f} after one step from fresh gradients",
                 f"{gen.b.item():.4f}", "zero G's gradients (optimizers['gen'].zero_grad()) before g_loss.backward(), "
                 "then one optimizer step")
    print("pix2pix_step: all checks passed.")
