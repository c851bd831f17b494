"""Notebook 00 (welcome): the visible checks of the pixel-range exercises.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .core import check_values


def check_to_signed(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `to_signed`: [0, 1] -> [-1, 1]."""
    hint = "a pixel of 0 should become -1, 0.5 should become 0 and 1 should stay 1: stretch by 2, then shift"
    check_values(fn, [
        ((torch.tensor([0.0, 0.25, 0.5, 1.0]),), torch.tensor([-1.0, -0.5, 0.0, 1.0])),
        ((torch.full((2, 3, 4, 4), 0.75),), torch.full((2, 3, 4, 4), 0.5)),
    ], "to_signed", hint)
    print("to_signed: all checks passed.")


def check_to_unit(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `to_unit`: [-1, 1] -> [0, 1], clamped."""
    hint = "undo to_signed (shift, then halve) and clamp to [0, 1] for values a little outside the range"
    check_values(fn, [
        ((torch.tensor([-1.0, -0.5, 0.0, 1.0]),), torch.tensor([0.0, 0.25, 0.5, 1.0])),
        ((torch.tensor([-1.2, 1.5]),), torch.tensor([0.0, 1.0])),
    ], "to_unit", hint)
    print("to_unit: all checks passed.")
