"""Notebook 01 (paired data): the visible checks of splitting, scaling, jitter and edge pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torchvision.transforms.functional as TF

from .core import assert_close, describe, expect_error, fail, run_learner


def _columns_image(height: int, width: int) -> np.ndarray:
    """A uint8 (height, width, 3) image whose pixel value is its column index (channel c adds 100 * c)."""
    columns = np.arange(width, dtype=np.uint8)[None, :, None]
    return np.broadcast_to(columns + np.array([0, 100, 200], dtype=np.uint8), (height, width, 3)).copy()


def _describe_columns(part: Any) -> str:
    """Which columns of a _columns_image a returned half holds (for failure messages)."""
    if not isinstance(part, np.ndarray) or part.ndim != 3 or part.shape[1] == 0:
        return f"a {type(part).__name__} of shape {getattr(part, 'shape', '?')}"
    cols = part[0, :, 0].astype(int)
    return f"columns {cols[0]}..{cols[-1]} (width {part.shape[1]})"


def check_split_pair(fn: Callable) -> None:
    """Visible check of `split_pair(image, direction)`: an A|B image -> (input, target)."""
    exercise = "split_pair"
    for height, width in [(4, 6), (3, 10)]:
        image = _columns_image(height, width)
        original = image.copy()
        half = width // 2
        for direction, (first, second) in [("AtoB", (0, half)), ("BtoA", (half, 0))]:
            result = run_learner(exercise, fn, image, direction)
            if not isinstance(result, tuple) or len(result) != 2:
                fail(exercise, "a tuple (input, target)", f"a {type(result).__name__}",
                     "return two arrays: return input_image, target_image")
            for name, part, start in [("input", result[0], first), ("target", result[1], second)]:
                expected = f"columns {start}..{start + half - 1} (width {half})"
                if not isinstance(part, np.ndarray):
                    fail(exercise, f"the {name} to be a numpy array", f"a {type(part).__name__}",
                         "slice the array: image[:, a:b]")
                if part.shape != (height, half, 3):
                    fail(exercise, f"the {name} of a {image.shape} image ({direction}) to have shape "
                                   f"{(height, half, 3)}, "
                         f"{expected}", f"shape {part.shape}, {_describe_columns(part)}",
                         "each half is exactly width // 2 wide: image[:, :w // 2] and image[:, w // 2:]")
                if not np.array_equal(part, image[:, start:start + half]):
                    swapped = "A is the left half and B the right half; AtoB returns (A, B), BtoA returns (B, A)"
                    fail(exercise, f"the {name} for {direction} to be {expected}", _describe_columns(part), swapped)
        if not np.array_equal(image, original):
            fail(exercise, "the image to be left unchanged", "it was modified", "slice it; do not write into it")
    expect_error(exercise, fn, (_columns_image(2, 7), "AtoB"), "an image of odd width 7", "7")
    expect_error(exercise, fn, (_columns_image(2, 6), "AB"), "the direction 'AB'", "AB")
    print("split_pair: all checks passed.")


def check_normalize_pair(fn: Callable) -> None:
    """Visible check of `normalize_pair(input_image, target_image)`: uint8 (H, W, 3) arrays -> (3, H, W) in [-1, 1]."""
    exercise = "normalize_pair"
    first = np.array([[[0, 51, 255], [102, 153, 204]]], dtype=np.uint8)  # (1, 2, 3): height 1, width 2
    second = 255 - first
    originals = first.copy(), second.copy()
    result = run_learner(exercise, fn, first, second)
    if not isinstance(result, tuple) or len(result) != 2:
        fail(exercise, "a tuple of two tensors (input, target)", f"a {type(result).__name__}",
             "return both: return input_tensor, target_tensor")
    for name, got, image in [("input", result[0], first), ("target", result[1], second)]:
        if not isinstance(got, torch.Tensor):
            fail(exercise, f"the {name} to be a torch.Tensor", f"a {type(got).__name__}", "torch.from_numpy(array)")
        if got.dtype != torch.float32:
            fail(exercise, f"the {name} of dtype torch.float32", f"dtype {got.dtype}",
                 "convert to float before any arithmetic: in uint8, 200 * 2 wraps around to 144"
                 if got.dtype == torch.uint8 else "convert with .astype(np.float32) or .float(), not to float64")
        if tuple(got.shape) != (3, 1, 2):
            fail(exercise, f"the {name} of a (1, 2, 3) (height, width, channels) image to have shape (3, 1, 2)",
                 f"shape {tuple(got.shape)}", "channels first: .permute(2, 0, 1), not .T or .reshape")
        expected = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
        if got.min() >= -1e-6 and got.max() <= 1 + 1e-6 and torch.allclose(got, (expected + 1) / 2, atol=1e-5):
            fail(exercise, f"the {name} in [-1, 1]", "values in [0, 1]",
                 "0 must become -1 and 255 must become 1: divide by 127.5, then subtract 1")
        if torch.allclose(got, -expected, atol=1e-5) and not torch.allclose(got, expected, atol=1e-5):
            fail(exercise, f"the {name} to come from the {name} image", "the other image's values",
                 "return (input, target) in the order they were given")
        assert_close(got, expected, exercise, what=f"the {name}",
                     hint="pixel 0 -> -1, 255 -> 1, 51 -> -0.6; keep channel c of pixel (i, j) at [c, i, j]")
    if not (np.array_equal(first, originals[0]) and np.array_equal(second, originals[1])):
        fail(exercise, "the arrays to be left unchanged", "they were modified", "build new tensors")
    print("normalize_pair: all checks passed.")


def check_denormalize(fn: Callable) -> None:
    """Visible check of `denormalize(tensor)`: (3, H, W) in [-1, 1] -> numpy (H, W, 3) in [0, 1], clamped."""
    exercise = "denormalize"
    tensor = torch.tensor([[[-1.0, 0.0, 1.0]], [[0.5, -0.5, 2.0]], [[-3.0, 0.2, -0.2]]])  # (3, 1, 3)
    tensor.requires_grad_(True)
    got = run_learner(exercise, fn, tensor)
    if not isinstance(got, np.ndarray):
        fail(exercise, "a numpy array", f"a {type(got).__name__}",
             "matplotlib wants numpy: .detach().cpu().numpy() at the end")
    if got.shape != (1, 3, 3):
        fail(exercise, "shape (1, 3, 3) (height, width, channels) for a (3, 1, 3) tensor", f"shape {got.shape}",
             "channels last for matplotlib: .permute(1, 2, 0)")
    expected = np.array([[[0.0, 0.75, 0.0], [0.5, 0.25, 0.6], [1.0, 1.0, 0.4]]], dtype=np.float32)
    if not np.allclose(got, expected, atol=1e-6):
        fail(exercise, f"{expected.tolist()}", f"{np.round(got, 4).tolist()}",
             "(x + 1) / 2, then clamp to [0, 1] (2.0 -> 1.0, -3.0 -> 0.0)")
    print("denormalize: all checks passed.")


def check_random_jitter(fn: Callable) -> None:
    """Visible check of `random_jitter(input, target, size, generator)`: properties of a jittered pair.

    Alignment: the target is -input, and every step of the jitter (resize, crop, flip) keeps that, so the
    jittered target must be -(jittered input). Reproducible: the same generator seed gives the same pair.
    Random: different seeds give different crops, and both mirrored and unmirrored pairs.
    """
    exercise = "random_jitter"
    size = 16
    load = round(size * 286 / 256)  # 18
    base = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(0)) * 2 - 1
    resized = TF.resize(base, [load, load], antialias=True)
    candidates = {}
    for top in range(load - size + 1):
        for left in range(load - size + 1):
            crop = resized[:, top:top + size, left:left + size]
            candidates[(top, left, False)] = crop
            candidates[(top, left, True)] = crop.flip(-1)
    seen = set()
    for seed in range(12):
        x, y = base.clone(), -base
        result = run_learner(exercise, fn, x, y, size, torch.Generator().manual_seed(seed))
        if not isinstance(result, tuple) or len(result) != 2:
            fail(exercise, "a tuple (input, target)", f"a {type(result).__name__}", "return both jittered images")
        jx, jy = result
        for name, t in [("input", jx), ("target", jy)]:
            if not isinstance(t, torch.Tensor) or tuple(t.shape) != (3, size, size):
                fail(exercise, f"the jittered {name} to be a tensor of shape (3, {size}, {size})",
                     f"{describe(t)}", "resize both to round(size * 286 / 256), then crop size x size")
        if not torch.equal(x, base) or not torch.equal(y, -base):
            fail(exercise, "the inputs to be left unchanged", "they were modified", "build new tensors")
        if not torch.allclose(jy, -jx, atol=1e-5):
            fail(exercise, "the pair to stay aligned (this target is -input, so the jittered target must be "
                 "-(jittered input))", f"a largest mismatch of {(jy + jx).abs().max().item():.3g} "
                 f"(seed {seed})", "draw ONE crop position and ONE flip decision and apply them to both images")
        match = [key for key, crop in candidates.items() if torch.allclose(jx, crop, atol=1e-4)]
        if not match:
            fail(exercise, f"the input to be a {size}x{size} crop (maybe mirrored) of the input resized to "
                 f"{load}x{load} with TF.resize(x, [{load}, {load}], antialias=True)", "no such crop matched",
                 "resize first (to round(size * 286 / 256)), then crop, then flip")
        seen.add(match[0])
        again = run_learner(exercise, fn, base.clone(), -base, size, torch.Generator().manual_seed(seed))
        if not torch.equal(again[0], jx):
            fail(exercise, "the same result for the same generator seed", "a different result",
                 "draw every random number from `generator` (torch.randint(..., generator=generator))")
    if len({(top, left) for top, left, _ in seen}) < 2:
        fail(exercise, "different crops for different seeds", f"always the crop at {sorted(seen)[0][:2]}",
             "draw top and left with torch.randint(0, load_size - size + 1, (1,), generator=generator)")
    if len({flip for _, _, flip in seen}) < 2:
        fail(exercise, "some pairs mirrored and some not over 12 seeds", f"mirrored = {sorted(seen)[0][2]} every time",
             "flip when torch.rand(1, generator=generator) < 0.5")
    print("random_jitter: all checks passed.")


def check_edge_pair(fn: Callable) -> None:
    """Visible check of `edge_pair(photo, low, high)`: a photo -> (edge drawing, photo)."""
    exercise = "edge_pair"
    photo = np.zeros((24, 32, 3), dtype=np.uint8)
    photo[:, 16:] = (200, 120, 40)  # a vertical step in the middle
    original = photo.copy()
    result = run_learner(exercise, fn, photo, 100, 200)
    if not isinstance(result, tuple) or len(result) != 2:
        fail(exercise, "a tuple (edges, photo)", f"a {type(result).__name__}", "return edges_rgb, photo")
    edges, target = result
    if not isinstance(edges, np.ndarray) or edges.shape != photo.shape or edges.dtype != np.uint8:
        fail(exercise, f"the edges as a uint8 array of shape {photo.shape}",
             f"{type(edges).__name__} {getattr(edges, 'dtype', '')} of shape {getattr(edges, 'shape', '?')}",
             "cv2.Canny gives (H, W); stack it three times along a last axis: np.stack([e, e, e], axis=-1)")
    if not (np.array_equal(edges[..., 0], edges[..., 1]) and np.array_equal(edges[..., 0], edges[..., 2])):
        fail(exercise, "three equal channels (a grey drawing)", "channels that differ",
             "stack one edge map three times")
    values = set(np.unique(edges).tolist())
    if not values <= {0, 255}:
        fail(exercise, "only the values 0 (edge) and 255 (paper)", f"values {sorted(values)[:6]}", "")
    if np.array_equal(edges[:, :8], np.zeros_like(edges[:, :8])):
        fail(exercise, "a white background (255) away from the edges", "black (0)",
             "draw dark lines on white paper: 255 - cv2.Canny(...)")
    dark_columns = sorted(set(np.nonzero(edges[..., 0] == 0)[1].tolist()))
    if not dark_columns or not set(dark_columns) <= {14, 15, 16, 17}:
        fail(exercise, "dark edge pixels only along the step at column 16",
             f"dark pixels in columns {dark_columns[:8]}",
             "run cv2.Canny on the greyscale photo (cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))")
    if not isinstance(target, np.ndarray) or not np.array_equal(target, photo):
        fail(exercise, "the target to be the photo itself", f"a {type(target).__name__}", "return edges_rgb, photo")
    if not np.array_equal(photo, original):
        fail(exercise, "the photo to be left unchanged", "it was modified", "")
    flat = np.full((10, 12, 3), 90, dtype=np.uint8)
    if not np.array_equal(run_learner(exercise, fn, flat, 100, 200)[0], np.full_like(flat, 255)):
        fail(exercise, "a blank (all 255) drawing for a flat photo", "some dark pixels", "")
    expect_error(exercise, fn, (photo.astype(np.float32) / 255, 100, 200), "a float photo", "float32")
    expect_error(exercise, fn, (photo[..., 0], 100, 200), "a (24, 32) greyscale array", "(24, 32)")
    print("edge_pair: all checks passed.")
