"""Notebook 01 (paired data): the visible checks of splitting a stored pair, the joint random jitter and edge pairs.

The jitter check tests properties, not one order of random draws: every output must be a crop (maybe mirrored)
of the image resized to 286/256 of the crop size, the target cut and mirrored exactly like the input, every
position reachable, mirroring about half the time, the same result for the same generator and nothing taken
from PyTorch's global generator when a generator is given. So any correct order of draws passes, and the
hidden test runs the same check at other sizes and on the grading device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from .core import check_answer_format, describe, expect_error, fail, grading_device, run_learner, tolerances

__all__ = ["check_answer_format", "check_edge_pair", "check_random_jitter", "check_split_pair", "compare_drawings",
           "jitter_load_size"]


# ---------------------------------------------------------------------------------------------------------
# split_pair


def _columns_image(height: int, width: int, channels: int = 3) -> np.ndarray:
    """A uint8 (height, width, channels) image whose pixel value is its column index (channel c adds 100 * c)."""
    columns = np.arange(width, dtype=np.uint8)[None, :, None]
    offsets = np.array([0, 100, 200][:channels], dtype=np.uint8)
    return np.broadcast_to(columns + offsets, (height, width, channels)).copy()


def _describe_columns(part: Any) -> str:
    """Which columns of a _columns_image a returned half holds (for failure messages)."""
    if not isinstance(part, np.ndarray) or part.ndim != 3 or 0 in part.shape:
        return f"a {type(part).__name__} of shape {getattr(part, 'shape', '?')}"
    cols = part[0, :, 0].astype(int)
    return f"columns {cols[0]}..{cols[-1]} (width {part.shape[1]})"


SWAPPED_HINT = 'A is the left half and B the right half; "AtoB" gives (A, B) and "BtoA" gives (B, A)'


def _check_half(image: np.ndarray, direction: str, name: str, part: Any, start: int) -> None:
    height, width, channels = image.shape
    half = width // 2
    expected = f"columns {start}..{start + half - 1} (width {half})"
    if not isinstance(part, np.ndarray):
        fail("split_pair", f"the {name} to be a numpy array", f"a {type(part).__name__}",
             "cut the numpy array itself; no conversion is needed")
    if part.shape != (height, half, channels):
        fail("split_pair", f"the {name} of a {image.shape} image ({direction}) to have shape {(height, half, channels)}"
             f", {expected}", f"shape {part.shape}, {_describe_columns(part)}",
             "each half is exactly half as wide as the image; the height and the channels stay as they are")
    if not np.array_equal(part, image[:, start:start + half]):
        fail("split_pair", f"the {name} for {direction} to be {expected}", _describe_columns(part), SWAPPED_HINT)


def check_split_pair(fn: Callable) -> None:
    """Visible check of `split_pair(image, direction)`: an A|B image -> (input, target)."""
    exercise = "split_pair"
    for height, width, channels in [(4, 6, 3), (3, 10, 3), (2, 2, 1)]:
        image = _columns_image(height, width, channels)
        original = image.copy()
        half = width // 2
        for direction, (first, second) in [("AtoB", (0, half)), ("BtoA", (half, 0))]:
            result = run_learner(exercise, fn, image, direction)
            if not isinstance(result, tuple) or len(result) != 2:
                fail(exercise, "a tuple (input, target)", f"a {type(result).__name__}",
                     "return the two halves as a tuple, the input first")
            _check_half(image, direction, "input", result[0], first)
            _check_half(image, direction, "target", result[1], second)
        if not np.array_equal(image, original):
            fail(exercise, "the image to be left unchanged", "it was modified", "read from the image; never write")
    expect_error(exercise, fn, (_columns_image(2, 7), "AtoB"), "an image of odd width 7", "7")
    expect_error(exercise, fn, (_columns_image(2, 6), "AB"), "the direction 'AB'", "AB")
    print("split_pair: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# random_jitter: properties that every correct order of random draws has


def jitter_load_size(size: int) -> int:
    """The side the pair is resized to before the crop: 286 for a 256 crop, in proportion for other sizes."""
    return round(size * 286 / 256)


def _locate(out: torch.Tensor, resized: torch.Tensor, size: int, atol: float) -> tuple[int, int, bool] | None:
    """(top, left, mirrored) of the size x size crop of `resized` that `out` is, or None if it is no such crop."""
    if out.shape != (resized.shape[0], size, size):
        return None
    windows = resized.unfold(1, size, 1).unfold(2, size, 1)  # (C, n, n, size, size)
    for mirrored in (False, True):
        view = out.detach().to(resized.device, resized.dtype)
        view = view.flip(-1) if mirrored else view
        distance = (windows - view[:, None, None]).abs().amax(dim=(0, 3, 4))
        if distance.min() <= atol:
            top, left = divmod(int(distance.argmin()), distance.shape[1])
            return top, left, mirrored
    return None


def _where(found: tuple[int, int, bool] | None) -> str:
    if found is None:
        return "no crop of the resized image"
    top, left, mirrored = found
    return f"the crop at row {top}, column {left}" + (", mirrored" if mirrored else "")


def _jitter_once(fn: Callable, pair: tuple[torch.Tensor, ...], size: int, seed: int | None) -> tuple[int, int, bool]:
    """Run the learner's jitter once (seed None: no generator) and return where it cut; fail with a message if the
    result is not one crop and one mirroring shared by both images."""
    exercise, (x, y, rx, ry) = "random_jitter", pair
    load = rx.shape[-1]
    inputs = (x.clone(), y.clone())
    args = (*inputs, size) if seed is None else (*inputs, size, torch.Generator().manual_seed(seed))
    hint = ("" if seed is not None else "without a generator (generator=None) the random numbers come from PyTorch's "
            "global generator, and torch's random functions accept generator=None as it is")
    result = run_learner(exercise, fn, *args, hint=hint)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(exercise, "a tuple (input, target)", describe(result), "return both jittered images, the input first")
    for name, image in zip(("input", "target"), result):
        if not isinstance(image, torch.Tensor) or image.shape != (x.shape[0], size, size):
            fail(exercise, f"the jittered {name} to be a tensor of shape {(x.shape[0], size, size)}",
                 describe(image), f"resize to {load} x {load} (286/256 of the crop size), then cut {size} x {size}")
    if not (torch.equal(inputs[0], x) and torch.equal(inputs[1], y)):
        fail(exercise, "the arguments to be left unchanged", "they were modified", "build new tensors")
    atol = 10 * tolerances(x.device)[0]
    found = _locate(result[0], rx, size, atol)
    if found is None:
        swapped = _locate(result[0], ry, size, atol) is not None
        fail(exercise, f"the input to be a {size} x {size} crop (maybe mirrored) of the input resized to "
             f"{load} x {load} (torchvision's resize, antialias on; size {size}, input {describe(x)})",
             "the target's crop" if swapped else "no such crop",
             "return (input, target) in that order" if swapped else
             f"resize both images to {load} x {load} first, then cut, then maybe mirror left-right")
    top, left, mirrored = found
    expected = ry[:, top:top + size, left:left + size]
    expected = expected.flip(-1) if mirrored else expected
    if not torch.allclose(result[1].detach().to(ry.device, ry.dtype), expected, atol=atol):
        fail(exercise, f"the target cut and mirrored like the input ({_where(found)}; size {size})",
             f"the target is {_where(_locate(result[1], ry, size, atol))}",
             "draw the crop position and the mirroring once per call and apply them to both images")
    return found


def _check_positions(draws: list[tuple[int, int, bool]], positions: int, size: int) -> None:
    """Crop positions over many generator seeds: every one reachable where they are few (an off-by-one in the
    range never reaches the last), rows and columns drawn independently."""
    exercise, load = "random_jitter", size + positions - 1
    for axis, name in ((0, "row"), (1, "column")):
        seen = sorted({d[axis] for d in draws})
        if (positions <= 3 and seen != list(range(positions))) or len(seen) < 2:
            fail(exercise, f"every {name} from 0 to {positions - 1} as the crop's first {name} over {len(draws)} "
                 f"generator seeds (a {size} crop of a {load} x {load} image fits at {positions} places)",
                 f"only {seen}", "each position where the crop fits inside the resized image, the last one "
                                 "included, must be possible")
    if all(top == left for top, left, _ in draws):
        fail(exercise, "the crop's row and column to vary independently", f"row = column in all {len(draws)} draws",
             "draw the row and the column separately")


def _check_mirroring(draws: list[tuple[int, int, bool]]) -> None:
    share = sum(mirrored for _, _, mirrored in draws) / len(draws)
    if not 0.2 <= share <= 0.8:
        fail("random_jitter", f"about half of the pairs mirrored over {len(draws)} generator seeds",
             f"{100 * share:.0f}% mirrored", "mirror with probability one half")


def _jitter_pair(size: int, shape: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, ...]:
    """A random input and an unrelated random target in [-1, 1], and both resized as the jitter must resize them."""
    generator = torch.Generator().manual_seed(1000 + size)
    x, y = (torch.rand(3, *shape, generator=generator).mul(2).sub(1).to(device) for _ in range(2))
    load = jitter_load_size(size)
    return x, y, TF.resize(x, [load, load], antialias=True), TF.resize(y, [load, load], antialias=True)


def _seed_global(seed: int) -> None:
    """Seed PyTorch's global CPU generator (torch.manual_seed also seeds every GPU, which is slow)."""
    torch.default_generator.manual_seed(seed)


def _check_global_generator(fn: Callable, pair: tuple[torch.Tensor, ...], size: int) -> None:
    """generator=None: the global generator decides, so the same torch.manual_seed gives the same jitter."""
    exercise, results = "random_jitter", []
    for seed in range(8):
        _seed_global(seed)
        results.append(_jitter_once(fn, pair, size, None))
        _seed_global(seed)
        if seed < 3 and _jitter_once(fn, pair, size, None) != results[-1]:
            fail(exercise, "the same result after the same torch.manual_seed when no generator is given",
                 "two different results", "generator=None means PyTorch's global generator")
    if len(set(results)) < 2:
        fail(exercise, "different crops for different torch.manual_seed values when no generator is given",
             f"always {_where(results[0])}", "generator=None means PyTorch's global generator")


def check_random_jitter(fn: Callable, sizes: tuple[int, ...] = (16, 8), shape: tuple[int, int] = (20, 26),
                        seeds: int = 40, device: torch.device | str | None = None) -> None:
    """Visible check of `random_jitter(input, target, size, generator)`; hidden tests call it with other sizes.

    `seeds` generator seeds per size. A correct jitter fails by chance with a probability below 1e-6: a crop size
    with 3 or fewer positions per axis (16 and 8 here) must reach them all, and the mirrored share over all draws
    (80 here) must lie between 20% and 80%.
    """
    exercise = "random_jitter"
    device = torch.device(device) if device is not None else grading_device()
    all_draws = []
    with torch.random.fork_rng(devices=[]):  # the learner's global random state is left as it was
        for size in sizes:
            pair, draws = _jitter_pair(size, shape, device), []
            for seed in range(seeds):
                _seed_global(seed)
                draws.append(_jitter_once(fn, pair, size, seed))
                if seed < 4:
                    _seed_global(seed + 777)  # another global state: the generator alone must decide
                    if _jitter_once(fn, pair, size, seed) != draws[-1]:
                        fail(exercise, f"the same result for two generators with the same seed ({seed}; size {size})",
                             "two different results", "draw every random number from `generator`: with a "
                                                      "generator given, PyTorch's global random state must not matter")
            _check_positions(draws, jitter_load_size(size) - size + 1, size)
            all_draws += draws
        _check_mirroring(all_draws)
        _check_global_generator(fn, _jitter_pair(sizes[0], shape, device), sizes[0])
    print("random_jitter: all checks passed.")


# ---------------------------------------------------------------------------------------------------------
# edge_pair: a photo of colour bands whose steps show (or hide) an edge depending on the grey conversion

# Five bands of 8 columns. Their grey levels in OpenCV's conversion of an RGB image are 11, 76, 76, 127, 167;
# read as BGR they are 29, 29, 123, 141, 167. The step at column 8 is an edge in RGB only, the step at 16 in BGR
# only; the step at 24 (51 levels) is just an edge at thresholds (100, 200), and one level less (truncated grey
# levels, or smoothing first) is none; the step at 32 (40 levels) is an edge at (50, 150) but not at (100, 200).
BANDS = [(0, 0, 97), (255, 0, 0), (0, 80, 255), (0, 200, 80), (167, 167, 167)]
STEPS = (8, 16, 24, 32)
EXPECTED_STEPS = {(100, 200): (8, 24), (50, 150): (8, 24, 32)}


def _band_photo() -> np.ndarray:
    return np.repeat(np.array(BANDS, dtype=np.uint8), 8, axis=0)[None].repeat(24, axis=0)


def _drawing(fn: Callable, photo: np.ndarray, low: int, high: int) -> np.ndarray:
    """The learner's drawing for `photo`, after checking the form of the answer."""
    exercise = "edge_pair"
    original = photo.copy()
    result = run_learner(exercise, fn, photo, low, high)
    if not isinstance(result, tuple) or len(result) != 2:
        fail(exercise, "a tuple (drawing, photo)", describe(result), "return the drawing first, then the photo")
    drawing, target = result
    if not isinstance(drawing, np.ndarray) or drawing.shape != photo.shape or drawing.dtype != np.uint8:
        fail(exercise, f"the drawing as a uint8 array of shape {photo.shape}",
             f"{type(drawing).__name__} {getattr(drawing, 'dtype', '')} of shape {getattr(drawing, 'shape', '?')}",
             "the edge detector gives one channel; the drawing is an RGB image like the photo: three equal channels")
    if not (np.array_equal(drawing[..., 0], drawing[..., 1]) and np.array_equal(drawing[..., 0], drawing[..., 2])):
        fail(exercise, "three equal channels (a grey drawing)", "channels that differ",
             "repeat the one edge map on all three channels")
    values = sorted(set(np.unique(drawing).tolist()))
    if not set(values) <= {0, 255}:
        fail(exercise, "only the values 0 (a line) and 255 (paper)", f"values {values[:6]}",
             "use the detector's edge map as it is: it holds two values only")
    if not np.array_equal(photo, original):
        fail(exercise, "the photo to be left unchanged", "it was modified", "read from the photo; never write to it")
    if not isinstance(target, np.ndarray) or not np.array_equal(target, photo):
        fail(exercise, "the target to be the photo itself", describe(target), "return the photo as the target")
    return drawing


def _lines_at(drawing: np.ndarray) -> tuple[list[int], list[int]]:
    """The steps with a dark line next to them, and the dark columns far from every step."""
    dark = sorted(set(np.nonzero(drawing[..., 0] == 0)[1].tolist()))
    near = [step for step in STEPS if any(step - 2 <= c <= step + 1 for c in dark)]
    stray = [c for c in dark if not any(step - 2 <= c <= step + 1 for step in STEPS)]
    return near, stray


def _step_hint(found: dict[tuple[int, int], list[int]]) -> str:
    strict, loose = found[(100, 200)], found[(50, 150)]
    if 16 in strict and 8 not in strict:
        return ("the photo's channels are in RGB order, and OpenCV assumes BGR unless told otherwise: which "
                "conversion code says the photo is RGB?")
    right = [found[t] == list(steps) for t, steps in EXPECTED_STEPS.items()]
    if strict == loose and any(right):
        return "pass the thresholds low and high that edge_pair was called with to the edge detector"
    if 8 in strict and 24 not in strict and 32 not in strict:
        return ("the step at column 24 is 51 grey levels, just an edge at (100, 200): use OpenCV's own RGB to grey "
                "conversion (it rounds to the nearest level) and no smoothing of your own")
    return ("run the edge detector on OpenCV's grey version of the RGB photo as it is (no smoothing of your own), "
            "with the thresholds low and high")


def _diagonal_photo() -> np.ndarray:
    """A 45-degree step of 38 grey levels: an edge for Canny's default gradient measure (|gx| + |gy|) at (100, 200),
    none for the L2 measure, which is smaller on diagonals."""
    rows, columns = np.mgrid[:24, :24]
    return np.repeat(np.where(rows + columns >= 24, 38, 0).astype(np.uint8)[..., None], 3, axis=2)


def compare_drawings(got: Any, expected: np.ndarray, what: str, max_share: float = 0.001) -> None:
    """Hidden tests: the learner's drawing against the reference's, on a real photo. A few pixels may differ (a grey
    conversion that rounds a few pixels the other way moves an edge pixel here and there); more may not."""
    if not isinstance(got, np.ndarray) or got.shape != expected.shape or got.dtype != expected.dtype:
        fail("edge_pair", f"a uint8 drawing of shape {expected.shape} for {what}", describe(got),
             "the drawing is a uint8 RGB image of the photo's size")
    share = float((got != expected).any(axis=-1).mean())
    if share > max_share:
        fail("edge_pair", f"the drawing for {what} to match the reference (at most {100 * max_share:.1f}% of the "
             "pixels differing)", f"{100 * share:.2f}% of the pixels differing",
             "Canny with the given thresholds and its default settings, on OpenCV's grey version of the RGB photo")


def check_edge_pair(fn: Callable) -> None:
    """Visible check of `edge_pair(photo, low, high)`: a photo -> (edge drawing, photo)."""
    exercise = "edge_pair"
    photo = _band_photo()
    found, stray = {}, {}
    for thresholds in EXPECTED_STEPS:
        drawing = _drawing(fn, photo, *thresholds)
        if (drawing == 0).mean() > 0.5:
            fail(exercise, "white paper (255) with dark lines (0)", f"{100 * (drawing == 0).mean():.0f}% dark pixels",
                 "the detector marks edges with 255 on black; a drawing is the other way round")
        found[thresholds], stray[thresholds] = _lines_at(drawing)
    for thresholds, expected in EXPECTED_STEPS.items():
        if found[thresholds] != list(expected) or stray[thresholds]:
            others = [s for s in STEPS if s not in expected]
            fail(exercise, f"lines at the colour steps at columns {' and '.join(map(str, expected))} (none at "
                           f"{', '.join(map(str, others))}, nor anywhere else) with thresholds {thresholds}",
                 f"lines at the steps {found[thresholds]} and in the columns {stray[thresholds][:6]}",
                 _step_hint(found))
    if not (_drawing(fn, _diagonal_photo(), 100, 200) == 0).any():
        fail(exercise, "a line along a diagonal step of 38 grey levels with thresholds (100, 200)", "no line",
             "keep the edge detector's default settings: only the thresholds are yours to give")
    flat = np.full((10, 12, 3), 90, dtype=np.uint8)
    if not np.array_equal(_drawing(fn, flat, 100, 200), np.full_like(flat, 255)):
        fail(exercise, "a blank (all 255) drawing for a photo of one flat colour", "some dark pixels",
             "a line marks an edge, and a flat photo has none")
    expect_error(exercise, fn, (photo.astype(np.float32) / 255, 100, 200), "a float photo", "float32")
    rgba = np.concatenate([photo, photo[..., :1]], axis=2)
    for bad, what in [(photo[..., 0], "greyscale array"), (rgba, "RGBA photo")]:
        expect_error(exercise, fn, (bad, 100, 200), f"a {bad.shape} {what}", str(bad.shape))
    print("edge_pair: all checks passed.")
