"""Notebook 01 (paired data): each visible check rejects the typical mistakes with the right hint; correct
alternatives pass the check and the graded cell, hidden tests included; one broken exercise costs only its own points.

The jitter is checked by properties, so alternatives that draw their random numbers in other orders (and in other
ways) must pass the visible check and the hidden test alike: that was the gap of issue 9.
"""

from __future__ import annotations

import textwrap

import cv2
import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from course_utils.checks import (
    check_answer_format,
    check_edge_pair,
    check_random_jitter,
    check_split_pair,
)
from helpers import (
    assert_broken_exercise_costs_only_its_own_cells,
    break_exercise,
    exercises,
    fails_graded_cell,
    learner_namespace,
    nbgrader_meta,
    read_solution,
    rejects,
    run_graded_cell,
)

NB = read_solution("01_paired_data")


def define(source: str, name: str):
    """The function `name` that the learner's cell `source` defines (with the notebook's imports at hand)."""
    namespace = {"np": np, "torch": torch, "TF": TF, "cv2": cv2}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


def passes_check_and_graded_cell(check, name: str, grade_id: str, source: str, test_id: str) -> None:
    check(define(source, name))
    namespace = learner_namespace(NB, {grade_id: textwrap.dedent(source)})
    run_graded_cell(NB, test_id, namespace)


# ---------------------------------------------------------------------------------------------------------
# split_pair

def _halves(image, direction):
    width = image.shape[1]
    if width % 2:
        raise ValueError(f"odd width {width}")
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"bad direction {direction}")
    left, right = image[:, :width // 2], image[:, width // 2:]
    return left, right


@pytest.mark.parametrize("wrong, hint", [
    (lambda image, direction: _halves(image, direction), 'and "BtoA" gives (B, A)'),  # ignores the direction
    (lambda image, direction: _halves(image, direction)[::-1] if direction == "AtoB" else _halves(image, direction),
     'and "BtoA" gives (B, A)'),  # the directions swapped
    (lambda image, direction: (image[:, :image.shape[1] // 2 + 1], image[:, image.shape[1] // 2:]),
     "exactly half as wide"),  # one column too many
    (lambda image, direction: list(_halves(image, direction)), "return the two halves as a tuple"),
    (lambda image, direction: tuple(np.split(image, 2, axis=1))[::(1 if direction == "AtoB" else -1)],
     "to mention 7"),  # numpy's ValueError does not name the width
    (lambda image, direction: tuple(torch.from_numpy(h) for h in _halves(image, direction)), "a numpy array"),
], ids=["no_direction", "directions_swapped", "off_by_one", "list", "numpy_message", "tensors"])
def test_split_pair_check_rejects(wrong, hint):
    rejects(check_split_pair, wrong, hint)


SPLIT_ALTERNATIVES = [
    """
    def split_pair(image, direction="BtoA"):
        if image.shape[1] % 2 != 0:
            raise ValueError(f"width {image.shape[1]} is odd")
        a, b = np.hsplit(image, 2)
        order = {"AtoB": (a, b), "BtoA": (b, a)}
        if direction not in order:
            raise ValueError(f"unknown direction {direction}")
        return order[direction]
    """,
    """
    def split_pair(image, direction="BtoA"):
        if direction not in ("AtoB", "BtoA"):
            raise ValueError("direction must be AtoB or BtoA, got " + str(direction))
        height, width, _ = image.shape
        if width & 1:
            raise ValueError("an odd width: " + str(width))
        half = width >> 1
        a, b = image[:, 0:half, :], image[:, half:width, :]
        return (b, a) if direction == "BtoA" else (a, b)
    """,
]


@pytest.mark.parametrize("source", SPLIT_ALTERNATIVES, ids=["hsplit_and_table", "direction_first"])
def test_split_pair_alternatives_pass(source):
    passes_check_and_graded_cell(check_split_pair, "split_pair", "paired_split_code", source, "paired_split_test")


# ---------------------------------------------------------------------------------------------------------
# random_jitter

def _load(size):
    return round(size * 286 / 256)


def _cut(images, top, left, size, mirror):
    out = [image[:, top:top + size, left:left + size] for image in images]
    return tuple(image.flip(-1) if mirror else image for image in out)


def right_jitter(input, target, size=256, generator=None):
    """A correct jitter, for the wrong answers that misuse it."""
    load = _load(size)
    top, left = torch.randint(0, load - size + 1, (2,), generator=generator).tolist()
    mirror = bool(torch.rand(1, generator=generator) < 0.5)
    return _cut([TF.resize(image, [load, load]) for image in (input, target)], top, left, size, mirror)


def separate_crops(input, target, size=256, generator=None):
    load = _load(size)
    out = []
    for image in (input, target):
        top, left = torch.randint(0, load - size + 1, (2,), generator=generator).tolist()
        out += _cut([TF.resize(image, [load, load])], top, left, size, False)
    return tuple(out)


def separate_mirrors(input, target, size=256, generator=None):
    load = _load(size)
    top, left = torch.randint(0, load - size + 1, (2,), generator=generator).tolist()
    return tuple(_cut([TF.resize(image, [load, load])], top, left, size,
                      bool(torch.rand(1, generator=generator) < 0.5))[0] for image in (input, target))


def last_position_never(input, target, size=256, generator=None):
    load = _load(size)
    top, left = torch.randint(0, load - size, (2,), generator=generator).tolist()  # misses load - size
    mirror = bool(torch.rand(1, generator=generator) < 0.5)
    return _cut([TF.resize(image, [load, load]) for image in (input, target)], top, left, size, mirror)


def global_generator(input, target, size=256, generator=None):
    load = _load(size)
    top, left = torch.randint(0, load - size + 1, (2,)).tolist()  # the generator is ignored
    mirror = bool(torch.rand(1) < 0.5)
    return _cut([TF.resize(image, [load, load]) for image in (input, target)], top, left, size, mirror)


def no_resize(input, target, size=256, generator=None):
    top = int(torch.randint(0, input.shape[1] - size + 1, (1,), generator=generator))
    left = int(torch.randint(0, input.shape[2] - size + 1, (1,), generator=generator))
    return _cut((input, target), top, left, size, bool(torch.rand(1, generator=generator) < 0.5))


def upside_down(input, target, size=256, generator=None):
    load = _load(size)
    top, left = torch.randint(0, load - size + 1, (2,), generator=generator).tolist()
    images = [TF.resize(image, [load, load])[:, top:top + size, left:left + size] for image in (input, target)]
    return tuple(image.flip(-2) for image in images) if torch.rand(1, generator=generator) < 0.5 else tuple(images)


def one_draw_for_both_axes(input, target, size=256, generator=None):
    load = _load(size)
    top = int(torch.randint(0, load - size + 1, (1,), generator=generator))
    mirror = bool(torch.rand(1, generator=generator) < 0.5)
    return _cut([TF.resize(image, [load, load]) for image in (input, target)], top, top, size, mirror)


def never_mirrors(input, target, size=256, generator=None):
    load = _load(size)
    top, left = torch.randint(0, load - size + 1, (2,), generator=generator).tolist()
    return _cut([TF.resize(image, [load, load]) for image in (input, target)], top, left, size, False)


def truncated_load_size(input, target, size=256, generator=None):
    load = int(size * 286 / 256)  # 17 for 16, not 18
    top, left = torch.randint(0, load - size + 1, (2,), generator=generator).tolist()
    mirror = bool(torch.rand(1, generator=generator) < 0.5)
    return _cut([TF.resize(image, [load, load]) for image in (input, target)], top, left, size, mirror)


def crashes_without_generator(input, target, size=256, generator=None):
    generator.initial_seed()  # fails for generator=None
    return right_jitter(input, target, size, generator)


def reseeds_every_call(input, target, size=256, generator=None):
    return right_jitter(input, target, size, torch.Generator().manual_seed(0))


def swapped_outputs(input, target, size=256, generator=None):
    jittered_input, jittered_target = right_jitter(input, target, size, generator)
    return jittered_target, jittered_input


@pytest.mark.parametrize("wrong, hint", [
    (separate_crops, "apply them to both images"),
    (separate_mirrors, "apply them to both images"),
    (last_position_never, "the last one included"),
    (global_generator, "draw every random number from `generator`"),
    (no_resize, "first, then cut, then maybe mirror"),
    (upside_down, "first, then cut, then maybe mirror"),
    (one_draw_for_both_axes, "draw the row and the column separately"),
    (never_mirrors, "mirror with probability one half"),
    (truncated_load_size, "resize both images to 18 x 18"),
    (crashes_without_generator, "accept generator=None"),
    (reseeds_every_call, "the last one included"),
    (swapped_outputs, "return (input, target) in that order"),
], ids=lambda v: getattr(v, "__name__", "hint"))
def test_random_jitter_check_rejects(wrong, hint):
    rejects(check_random_jitter, wrong, hint)


JITTER_ALTERNATIVES = [
    # The mirroring first, then the column, then the row, on one stacked tensor so the pair cannot drift apart.
    """
    def random_jitter(input, target, size=256, generator=None):
        load = round(size * 286 / 256)
        both = TF.resize(torch.cat([input, target]), [load, load])
        mirror = torch.randint(0, 2, (1,), generator=generator).item() == 1
        left, top = torch.randint(0, load - size + 1, (2,), generator=generator).tolist()
        both = TF.crop(both, top, left, size, size)
        if mirror:
            both = TF.horizontal_flip(both)
        return both[:3], both[3:]
    """,
    # One draw of a single number that codes row, column and mirroring; torch's interpolate instead of torchvision.
    """
    def random_jitter(input, target, size=256, generator=None):
        load = round(size * 286 / 256)
        n = load - size + 1
        code = int(torch.randint(0, 2 * n * n, (), generator=generator))
        mirror, rest = divmod(code, n * n)
        top, left = divmod(rest, n)
        out = []
        for image in (input, target):
            image = torch.nn.functional.interpolate(image[None], size=(load, load), mode="bilinear",
                                                    antialias=True, align_corners=False)[0]
            image = image[:, top:top + size, left:left + size]
            out.append(image.flip(-1) if mirror else image)
        return tuple(out)
    """,
]


@pytest.mark.parametrize("source", JITTER_ALTERNATIVES, ids=["mirror_first_stacked", "one_coded_draw"])
def test_random_jitter_alternatives_pass(source):
    passes_check_and_graded_cell(check_random_jitter, "random_jitter", "paired_jitter_code", source,
                                 "paired_jitter_test")


# ---------------------------------------------------------------------------------------------------------
# The think item: the visible check judges the form only, the graded cell the answer

@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("1922", "a single letter"), (3, "a single letter")])
def test_jitter_pairs_answer_format_rejects(value, hint):
    rejects(lambda v: check_answer_format("answer_jitter_pairs", v, "abcd"), value, hint)


@pytest.mark.parametrize("answer, match", [
    ('"a"', "62 counts one axis only"),
    ('"b"', "1,800 forgets the last position"),
    ('"d"', "counts the pixels of the resized image"),
])
def test_a_wrong_jitter_pairs_answer_fails_its_graded_cell(answer, match):
    namespace = learner_namespace(NB, {"paired_jitter_pairs_answer": f"answer_jitter_pairs = {answer}"})
    fails_graded_cell(NB, "paired_jitter_pairs_test", namespace, match)


@pytest.mark.parametrize("answer", ['"c"', '"C"'])
def test_the_right_jitter_pairs_answer_passes(answer):
    namespace = learner_namespace(NB, {"paired_jitter_pairs_answer": f"answer_jitter_pairs = {answer}"})
    run_graded_cell(NB, "paired_jitter_pairs_test", namespace)


# ---------------------------------------------------------------------------------------------------------
# edge_pair

def _valid(photo):
    if photo.dtype != np.uint8:
        raise ValueError(f"need uint8, got {photo.dtype}")
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ValueError(f"need (H, W, 3), got {photo.shape}")


def _drawing(grey, low, high, **canny):
    edges = 255 - cv2.Canny(grey, low, high, **canny)
    return np.stack([edges] * 3, axis=-1)


def edges_bgr(photo, low=100, high=200):
    _valid(photo)
    return _drawing(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), low, high), photo


def edges_truncated_grey(photo, low=100, high=200):
    _valid(photo)
    return _drawing((photo.astype(float) @ [0.299, 0.587, 0.114]).astype(np.uint8), low, high), photo


def edges_channel_mean(photo, low=100, high=200):
    _valid(photo)
    return _drawing(photo.mean(axis=-1).astype(np.uint8), low, high), photo


def edges_smoothed(photo, low=100, high=200):
    _valid(photo)
    return _drawing(cv2.GaussianBlur(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), (5, 5), 0), low, high), photo


def edges_fixed_thresholds(photo, low=100, high=200):
    _valid(photo)
    return _drawing(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), 100, 200), photo


def edges_not_inverted(photo, low=100, high=200):
    _valid(photo)
    return 255 - _drawing(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), low, high), photo


def edges_one_channel(photo, low=100, high=200):
    _valid(photo)
    return _drawing(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), low, high)[..., 0], photo


def edges_unchecked_input(photo, low=100, high=200):
    return _drawing(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), low, high), photo


def edges_l2_gradient(photo, low=100, high=200):
    _valid(photo)
    return _drawing(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), low, high, L2gradient=True), photo


def edges_grey_target(photo, low=100, high=200):
    _valid(photo)
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    return _drawing(grey, low, high), np.stack([grey] * 3, axis=-1)


@pytest.mark.parametrize("wrong, hint", [
    (edges_bgr, "OpenCV assumes BGR unless told otherwise"),
    (edges_truncated_grey, "rounds to the nearest level"),
    (edges_channel_mean, "OpenCV's grey version of the RGB photo"),
    (edges_smoothed, "no smoothing of your own"),
    (edges_fixed_thresholds, "pass the thresholds low and high"),
    (edges_not_inverted, "a drawing is the other way round"),
    (edges_one_channel, "three equal channels"),
    (edges_unchecked_input, "raise ValueError"),
    (edges_l2_gradient, "keep the edge detector's default settings"),
    (edges_grey_target, "return the photo as the target"),
], ids=lambda v: getattr(v, "__name__", "hint"))
def test_edge_pair_check_rejects(wrong, hint):
    rejects(check_edge_pair, wrong, hint)


EDGE_ALTERNATIVES = [
    # The channels reversed by hand, then OpenCV's BGR conversion: the same grey image.
    """
    def edge_pair(photo, low=100, high=200):
        if photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[-1] != 3:
            raise ValueError(f"expected a uint8 (H, W, 3) photo, got {photo.dtype} of shape {photo.shape}")
        grey = cv2.cvtColor(np.ascontiguousarray(photo[..., ::-1]), cv2.COLOR_BGR2GRAY)
        edges = cv2.Canny(grey, threshold1=low, threshold2=high)
        return np.where(edges[..., None] > 0, 0, 255).repeat(3, axis=2).astype(np.uint8), photo
    """,
    # OpenCV all the way: bitwise_not, and GRAY2RGB for the three channels; a copy of the photo as the target.
    """
    def edge_pair(photo, low=100, high=200):
        if not (photo.dtype == np.uint8 and photo.shape[2:] == (3,) and photo.ndim == 3):
            raise ValueError("edge_pair wants uint8 (H, W, 3), got " + str(photo.dtype) + " " + str(photo.shape))
        edges = cv2.Canny(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), high, low)  # OpenCV orders the thresholds
        return cv2.cvtColor(cv2.bitwise_not(edges), cv2.COLOR_GRAY2RGB), photo.copy()
    """,
]


@pytest.mark.parametrize("source", EDGE_ALTERNATIVES, ids=["reversed_channels", "opencv_all_the_way"])
def test_edge_pair_alternatives_pass(source):
    passes_check_and_graded_cell(check_edge_pair, "edge_pair", "paired_edges_code", source, "paired_edges_test")


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    # the jitter cell is the slowest: its independence is tested once, below
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests, skip=frozenset({"paired_jitter_test"}))


def test_the_jitter_cell_passes_with_every_other_exercise_broken():
    broken = NB
    for cell_index, own_tests in exercises(NB):
        if all(nbgrader_meta(c)["grade_id"] != "paired_jitter_test" for c in own_tests):
            broken = break_exercise(broken, cell_index, 'raise RuntimeError("broken on purpose")')
    run_graded_cell(broken, "paired_jitter_test", learner_namespace(broken))
