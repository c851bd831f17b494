"""The synthetic facades renderer: deterministic, in the 12 classes and their colours, many photos per label map."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.synthetic import FACADE_CLASSES, FACADE_PALETTE, render_synthetic_facade


def test_synthetic_is_deterministic():
    l1, p1 = render_synthetic_facade(7, 3, 128)
    l2, p2 = render_synthetic_facade(7, 3, 128)
    assert np.array_equal(l1, l2) and np.array_equal(p1, p2)
    l3, p3 = render_synthetic_facade(7, 4, 128)
    assert not np.array_equal(l1, l3) and not np.array_equal(p1, p3)
    l4, _ = render_synthetic_facade(8, 3, 128)
    assert not np.array_equal(l1, l4)


def rgb_code(image: np.ndarray) -> np.ndarray:
    """One int per pixel (or palette row): fast set operations on colours."""
    x = image.reshape(-1, 3).astype(np.int64)
    return (x[:, 0] << 16) | (x[:, 1] << 8) | x[:, 2]


@pytest.mark.parametrize("size", [64, 100, 512])
def test_synthetic_sizes_and_palette(size):
    for index in range(4):
        label, photo = render_synthetic_facade(0, index, size)
        assert label.shape == photo.shape == (size, size, 3) and label.dtype == photo.dtype == np.uint8
        assert set(np.unique(rgb_code(label))) <= set(rgb_code(FACADE_PALETTE))  # no antialiased in-between colours
        assert photo.std() > 10  # a picture, not a flat fill


def test_palette_and_classes():
    assert len(FACADE_CLASSES) == 12 and FACADE_PALETTE.shape == (12, 3) and FACADE_PALETTE.dtype == np.uint8
    assert len({tuple(c) for c in FACADE_PALETTE}) == 12
    assert FACADE_CLASSES[:3] == ["background", "facade", "window"]
    # The jet look: background dark blue, facade blue.
    assert tuple(FACADE_PALETTE[0]) == (0, 0, 170) and tuple(FACADE_PALETTE[1]) == (0, 0, 255)


def test_synthetic_uses_most_classes():
    seen = set()
    for index in range(40):
        label, _ = render_synthetic_facade(0, index, 128)
        seen |= set(np.unique(rgb_code(label)))
    assert seen == set(rgb_code(FACADE_PALETTE))


def test_same_layout_different_photo():
    l1, p1 = render_synthetic_facade(0, 5, 128, variant=0)
    l2, p2 = render_synthetic_facade(0, 5, 128, variant=1)
    assert np.array_equal(l1, l2)
    assert np.abs(p1.astype(int) - p2.astype(int)).mean() > 5


def test_synthetic_rejects_bad_size():
    with pytest.raises(ValueError, match="size"):
        render_synthetic_facade(0, 0, 32)
    with pytest.raises(ValueError, match="size"):
        render_synthetic_facade(0, 0, 1024)
