"""Notebook 00 (welcome): the visible checks of the pixel-range exercises and of the think item.

`to_signed` takes [0, 1] images to the generator's range [-1, 1]; `to_uint8` takes the generator's range to the
whole-number pixels a PNG file stores. Every known answer below is written out by hand, never computed with a
solution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .core import check_answer_format, check_values, describe, fail, grading_device, run_learner

__all__ = ["check_answer_format", "check_to_signed", "check_to_uint8"]


def check_to_signed(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Visible check of `to_signed`: [0, 1] -> [-1, 1], a new tensor of the input's dtype."""
    hint = "0 must become -1, 0.5 must become 0 and 1 must stay 1, on a straight line through those points"
    check_values(fn, [
        ((torch.tensor([0.0, 0.25, 0.5, 1.0]),), torch.tensor([-1.0, -0.5, 0.0, 1.0])),
        ((torch.full((2, 3, 4, 4), 0.75),), torch.full((2, 3, 4, 4), 0.5)),
    ], "to_signed", hint)
    check_values(fn, [((torch.tensor([0.0, 0.2, 1.0], dtype=torch.float64),),
                       torch.tensor([-1.0, -0.6, 1.0], dtype=torch.float64))], "to_signed",
                 "keep the input's dtype: float64 in, float64 out (do not convert with .float())")
    print("to_signed: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# to_uint8: (C, H, W) floats in [-1, 1] -> (H, W, C) uint8 pixels, rounded, clamped


def _pixels(levels: list[float]) -> tuple[torch.Tensor, np.ndarray]:
    """A (1, 1, N) tensor in the generator's range whose exact pixel levels are `levels` (maybe between two whole
    levels, maybe outside 0..255), and the expected (1, N, 1) answer: the nearest level, clamped to 0..255."""
    level = torch.tensor(levels, dtype=torch.float64)
    expected = np.clip(np.floor(np.array(levels) + 0.5), 0, 255).astype(np.uint8)
    return (level / 127.5 - 1).float().reshape(1, 1, -1), expected.reshape(1, -1, 1)


def _to_uint8_result(fn: Callable, x: torch.Tensor, expected: np.ndarray, what: str) -> np.ndarray:
    """Run the learner's to_uint8 on x (on the grading device, attached to a graph) and check the form of the
    answer: a numpy uint8 array of the expected shape, x left unchanged."""
    exercise = "to_uint8"
    x = x.to(grading_device()).requires_grad_(True)
    before = x.detach().clone()
    got = run_learner(exercise, fn, x, hint="the image may be on the GPU and attached to the autograd graph, "
                                            "like a generator's output: numpy needs a plain tensor on the CPU")
    if not torch.equal(x.detach(), before):
        fail(exercise, "the input tensor to be left unchanged", "it was modified in place",
             "build a new tensor instead of changing x (no clamp_, mul_, ...)")
    if not isinstance(got, np.ndarray):
        fail(exercise, f"a numpy array for {what}", f"a {type(got).__name__}",
             "image libraries (PIL, imageio) want numpy arrays: convert the tensor at the end")
    if got.dtype != np.uint8:
        fail(exercise, f"an array of dtype uint8 for {what}", f"dtype {got.dtype}",
             "a saved pixel is one byte, a whole number from 0 to 255: cast to uint8 at the end")
    if got.shape != expected.shape:
        fail(exercise, f"shape {expected.shape} (height, width, channels) for a tensor of shape {describe(x)}",
             f"shape {got.shape}", "a tensor is (channels, height, width); an image file is (height, width, "
                                   "channels): move the channel axis to the end")
    return got


ROUNDING_HINT = "round to the nearest level: truncating turns 100.6 into 100, so every save darkens the image"


def _expect_levels(got: np.ndarray, expected: np.ndarray, what: str, hint: str) -> None:
    """Compare with the expected levels; answers one level too low (truncation) get the rounding hint."""
    if np.array_equal(got, expected):
        return
    difference = got.astype(int) - expected.astype(int)
    truncated = difference.min() >= -1 and difference.max() <= 0
    fail("to_uint8", f"the levels {expected.reshape(-1).tolist()[:12]} for {what}", f"{got.reshape(-1).tolist()[:12]}",
         ROUNDING_HINT if truncated else hint)


def check_to_uint8(fn: Callable[[torch.Tensor], Any]) -> None:
    """Visible check of `to_uint8`: -1 -> 0 and 1 -> 255, nearest level, clamping, layout, round trip."""
    exercise = "to_uint8"
    cases = [
        ([0.0, 51.0, 127.0, 204.0, 255.0], "whole levels", "-1 is level 0 and 1 is level 255, on a straight line"),
        ([0.3, 0.7, 100.4, 100.6, 254.4, 254.7], "values between two levels", ROUNDING_HINT),
        ([-100.0, -1.0, 256.0, 400.0], "values outside [-1, 1]",
         "values below -1 must become 0 and above 1 must become 255: uint8 wraps around (256 becomes 0), so "
         "clamp before the cast, or a bright highlight turns black"),
    ]
    for values, what, hint in cases:
        x, expected = _pixels(values)
        shown = f"{what}, the inputs {[round(v, 4) for v in x.reshape(-1).tolist()]}"
        _expect_levels(_to_uint8_result(fn, x, expected, what), expected, shown, hint)
    # Layout: 24 distinct levels in a (3, 2, 4) tensor; pixel (i, j) channel c must land at [i, j, c].
    levels = torch.arange(24, dtype=torch.float64).reshape(3, 2, 4) * 11
    expected = levels.permute(1, 2, 0).numpy().astype(np.uint8)
    got = _to_uint8_result(fn, (levels / 127.5 - 1).float(), expected, "a (3, 2, 4) tensor")
    if np.array_equal(np.sort(got, axis=None), np.sort(expected, axis=None)) and not np.array_equal(got, expected):
        fail(exercise, "channel c of pixel (i, j) at [i, j, c]", "the right values in the wrong places",
             "reorder the axes (channels last); a reshape keeps the memory order and scrambles the pixels")
    _expect_levels(got, expected, "a (3, 2, 4) tensor of levels 0, 11, ..., 253", "keep every channel")
    # Every level survives the round trip, in float32 and in float64.
    for dtype in (torch.float32, torch.float64):
        all_levels = torch.arange(256, dtype=torch.float64)
        expected = all_levels.reshape(16, 16, 1).numpy().astype(np.uint8)
        got = _to_uint8_result(fn, (all_levels / 255 * 2 - 1).to(dtype).reshape(1, 16, 16), expected,
                               f"the 256 levels in {dtype}")
        _expect_levels(got, expected, f"the 256 levels 0..255 in {dtype} (a round trip)",
                       "every whole level from 0 to 255 must come back from [-1, 1] unchanged")
    print("to_uint8: all checks passed.")
