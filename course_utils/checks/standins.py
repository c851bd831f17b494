"""Stand-in models with known outputs, so a visible check can test one exercise without the others.

A loss check needs a discriminator whose logits are known by hand. None of them is a solution of an exercise.
"""

from __future__ import annotations

import torch
from torch import nn


class FirstChannelDiscriminator(nn.Module):
    """disc(condition, image) -> scale * image[:, :1]: logits known by hand (the condition is ignored)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.scale * image[:, :1]


class ToyPatchDiscriminator(nn.Module):
    """disc(condition, image) -> (B, 1, H/4, W/4) logits: w * mean over channels and 4x4 patches of (image - condition).

    With condition 0.5, real 1 and fake -1 everywhere (`toy_pairs`), the real pair's logits are 0.5 and the
    fake pair's -1.5 (w = 1); BCE(z, 1) = log(1 + e^-z) and BCE(z, 0) = log(1 + e^z) give the losses by hand.
    """

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.w * torch.nn.functional.avg_pool2d((image - condition).mean(1, keepdim=True), 4)


def toy_pairs(batch: int = 2, size: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(condition, real, fake) for ToyPatchDiscriminator: constants 0.5, 1 and -1; fake requires grad."""
    shape = (batch, 3, size, size)
    return torch.full(shape, 0.5), torch.ones(shape), torch.full(shape, -1.0, requires_grad=True)


class ConstantGenerator(nn.Module):
    """gen(x) -> tanh(b) everywhere, in the shape of x (b = 0: the fake is 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0 + torch.tanh(self.b)
