"""Notebook 06 (training): the visible checks of the optimizers and of the training step.

`check_make_optimizers` builds toy models and reads the optimizers' settings: one Adam per model, on that
model's parameters only, with the paper's learning rate 2e-4 and betas (0.5, 0.999), no weight decay.

`check_pix2pix_step` trains a toy pair with plain SGD (lr 1) from known weights: the generator outputs tanh(b)
everywhere (b = 0, so the fake is 0), the discriminator is ToyPatchDiscriminator (w = 1); condition 0.5, real 1.
D loss = log(1 + e^-0.5) = 0.474077 (both logits +-0.5); its gradient in w is -sigmoid(-0.5) / 2, so one
SGD step gives w = 1.188770. G loss against the updated D: log(1 + e^(0.5 w)) + 100 x |0 - 1| = 101.033866
(1.033866 with lambda_l1 = 0); against the old D it would be 0.059789 less. One SGD step then gives
b = 0.766009 (+ 100 from the L1 term at lambda_l1 = 100).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .core import check_answer_format, describe, fail, run_learner
from .standins import ConstantGenerator, ToyPatchDiscriminator

__all__ = ["check_answer_format", "check_make_optimizers", "check_pix2pix_step", "compare_optimizer_steps"]

PAPER_LR, PAPER_BETAS = 2e-4, (0.5, 0.999)


# ---------------------------------------------------------------------------------------------------------
# make_optimizers


def _toy_models() -> dict[str, nn.Module]:
    return {"gen": nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ConvTranspose2d(4, 3, 3)),
            "disc": nn.Sequential(nn.Conv2d(6, 4, 4, 2), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 4))}


def _check_one_optimizer(ex: str, name: str, opt: Any, models: dict[str, nn.Module]) -> None:
    if not isinstance(opt, torch.optim.Adam):
        fail(ex, f"an Adam optimizer under {name!r}", type(opt).__name__,
             "the paper trains both networks with Adam (torch.optim)")
    got = {id(p) for group in opt.param_groups for p in group["params"]}
    own = {id(p) for p in models[name].parameters()}
    others = {id(p) for key, m in models.items() if key != name for p in m.parameters()}
    if got & others:
        fail(ex, f"the optimizer under {name!r} to hold only the parameters of models[{name!r}]",
             "parameters of another model in it",
             "each network gets its own optimizer: D's step must not move G, and G's step must not move D")
    if got != own:
        fail(ex, f"all {len(own)} parameter tensors of models[{name!r}] in its optimizer", f"{len(got & own)} of them",
             "give the optimizer every parameter of its model")
    for group in opt.param_groups:
        if abs(group["lr"] - PAPER_LR) > 1e-12:
            fail(ex, f"learning rate {PAPER_LR} for {name!r} (the paper's)", f"{group['lr']}",
                 "Adam's default learning rate is five times the paper's; GAN training needs the smaller step")
        if any(abs(b - e) > 1e-12 for b, e in zip(group["betas"], PAPER_BETAS)):
            fail(ex, f"betas {PAPER_BETAS} for {name!r} (the paper's)", f"{tuple(group['betas'])}",
                 "the paper lowers beta1 from Adam's default 0.9: less momentum keeps the two players from "
                 "overshooting each other")
        if group.get("weight_decay", 0) != 0 or group.get("amsgrad") or group.get("maximize"):
            fail(ex, f"plain Adam for {name!r}: no weight decay, no AMSGrad, minimising",
                 f"weight_decay={group.get('weight_decay')}, amsgrad={group.get('amsgrad')}, "
                 f"maximize={group.get('maximize')}", "the paper's recipe uses Adam with only lr and betas set")


def check_make_optimizers(fn: Callable[..., Any]) -> None:
    """Visible check of `make_optimizers(models)`: one Adam per model, its own parameters, the paper's settings."""
    ex = "make_optimizers"
    models = _toy_models()
    out = run_learner(ex, fn, models)
    if not isinstance(out, dict):
        fail(ex, "a dict with one optimizer per model, under the model's key", describe(out),
             "return a dict whose keys are the keys of models")
    if set(out) != set(models):
        fail(ex, f"the keys {sorted(models)} (those of models)", f"{sorted(map(str, out))}",
             "put each model's optimizer under the model's own key")
    if out["gen"] is out["disc"]:
        fail(ex, "two different optimizers", "the same object under both keys",
             "each network gets its own optimizer: D's step must not move G, and G's step must not move D")
    for name in models:
        _check_one_optimizer(ex, name, out[name], models)
    alone = {"gen": nn.Linear(4, 2)}
    out = run_learner(ex, fn, alone, hint="models may hold a generator only (the L1-only run): build one "
                                          "optimizer for each entry of models, whatever the keys")
    if not isinstance(out, dict) or set(out) != {"gen"}:
        fail(ex, "{'gen': optimizer} for models = {'gen': generator} (no discriminator)", describe(out),
             "one optimizer for each entry of models, whatever the keys")
    _check_one_optimizer(ex, "gen", out["gen"], alone)
    print("make_optimizers: all checks passed.")


def compare_optimizer_steps(student: Callable[..., Any], ref: Callable[..., Any],
                            make_models: Callable[[], dict[str, nn.Module]], exercise: str, steps: int = 3) -> None:
    """Hidden test: the learner's optimizers and the reference's move identical models identically.

    Two copies of `make_models()` get the same gradients (from a fixed seed) for `steps` steps; every
    parameter must end the same. Any way of building the same optimizers passes.
    """
    mine = make_models()
    theirs = copy.deepcopy(mine)
    got, expected = run_learner(exercise, student, mine), ref(theirs)
    if not isinstance(got, dict) or set(got) != set(expected):
        fail(exercise, f"a dict with the keys {sorted(expected)}", describe(got), "one optimizer per model")
    gen = torch.Generator().manual_seed(11)
    for step in range(steps):
        for name in expected:
            for p, q in zip(mine[name].parameters(), theirs[name].parameters()):
                p.grad = torch.randn(p.shape, generator=gen)
                q.grad = p.grad.clone()
            run_learner(exercise, got[name].step)
            expected[name].step()
            for (pname, p), q in zip(mine[name].named_parameters(), theirs[name].parameters()):
                if not torch.allclose(p, q, atol=1e-7, rtol=1e-5):
                    fail(exercise, f"models[{name!r}].{pname} to move as with the paper's Adam at step {step + 1}",
                         f"a difference of {(p - q).abs().max().item():.2e}",
                         "Adam with the paper's learning rate and betas, on that model's parameters only")


# ---------------------------------------------------------------------------------------------------------
# pix2pix_step


class _CountingGenerator(ConstantGenerator):
    """ConstantGenerator that counts its forward calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().forward(x)


def _run_toy_step(ex: str, step_fn: Callable[..., Any], lambda_l1: float | None) -> tuple[dict, nn.Module, nn.Module]:
    gen, disc = _CountingGenerator(), ToyPatchDiscriminator()
    gen.b.grad, disc.w.grad = torch.tensor(5.0), torch.tensor(5.0)  # stale gradients from a previous step
    models = {"gen": gen, "disc": disc}
    optimizers = {name: torch.optim.SGD(m.parameters(), lr=1.0) for name, m in models.items()}
    batch = (torch.full((1, 3, 8, 8), 0.5), torch.ones(1, 3, 8, 8))
    kwargs = {} if lambda_l1 is None else {"lambda_l1": lambda_l1}
    out = run_learner(ex, step_fn, batch, models, optimizers, **kwargs)
    if not isinstance(out, dict) or set(out) != {"d_loss", "g_loss"}:
        fail(ex, "a dict with the keys 'd_loss' and 'g_loss'", describe(out), "return the two losses in a dict")
    if not all(isinstance(v, float) for v in out.values()):
        fail(ex, "Python floats as the losses", describe(out),
             "a tensor keeps its whole graph alive in the training history: return plain numbers")
    return out, gen, disc


def check_pix2pix_step(step_fn: Callable[..., Any]) -> None:
    """Visible check of `pix2pix_step(batch, models, optimizers, lambda_l1=100.0)` on a toy pair of models."""
    ex = "pix2pix_step"
    for lambda_l1, g_expected in [(None, 101.0338663), (0.0, 1.0338663)]:
        out, gen, disc = _run_toy_step(ex, step_fn, lambda_l1)
        if gen.calls != 1:
            fail(ex, "one call of the generator per step", f"{gen.calls} calls",
                 "generate the fake once and use it for both updates (each call draws new dropout masks)")
        d_loss, g_loss = out["d_loss"], out["g_loss"]
        if not abs(d_loss - 0.4740770) < 1e-4:
            fail(ex, "d_loss of 0.47408 (the discriminator's loss on this batch, before its update)",
                 f"{d_loss:.5f}", "use your discriminator_loss from notebook 05 (check it first), with the real "
                 "pair and the fake pair of this batch")
        if not abs(disc.w.item() - 1.1887703) < 1e-4:
            fail(ex, "the discriminator's weight to be 1.18877 after one step from its own fresh gradients",
                 f"{disc.w.item():.5f}", "D takes exactly one optimizer step, from the gradients of its own loss "
                 "on this batch: gradients left from earlier must not reach it")
        if abs(g_loss - (g_expected - 0.0597893)) < 1e-4:
            fail(ex, f"g_loss of {g_expected:.5f} (computed with the updated discriminator)", f"{g_loss:.5f}",
                 "the generator is judged by the discriminator as it is after its update")
        if not abs(g_loss - g_expected) < 1e-4 * max(1.0, g_expected):
            setting = " with the default lambda_l1 of 100" if lambda_l1 is None else " with lambda_l1=0"
            fail(ex, f"g_loss of {g_expected:.5f}{setting}", f"{g_loss:.5f}",
                 "use your generator_loss from notebook 05 (check it first), with the lambda_l1 you were given")
        b_expected = 0.7660087 + (100.0 if lambda_l1 is None else 0.0)
        if not abs(gen.b.item() - b_expected) < 1e-3:
            fail(ex, f"the generator's weight to be {b_expected:.4f} after one step from its own fresh gradients",
                 f"{gen.b.item():.4f}", "G takes exactly one optimizer step, from the gradients of its own loss: "
                 "gradients left from earlier, or from the discriminator's loss, must not reach it")
    print("pix2pix_step: all checks passed.")
