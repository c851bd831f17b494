"""course_utils.painter: the facade painter shared by notebooks 06 and 09 (driven here without a browser)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.painter import facade_painter, grid_colours, hex_colour, starting_grid, to_png
from course_utils.synthetic import FACADE_CLASSES, FACADE_PALETTE


def test_starting_grid_is_a_facade():
    grid = starting_grid()
    assert grid.shape == (12, 12)
    assert (grid[0] == FACADE_CLASSES.index("background")).all()
    assert {FACADE_CLASSES[c] for c in np.unique(grid)} == {"background", "cornice", "facade", "window", "sill",
                                                              "door"}
    with pytest.raises(ValueError, match="at least 8 cells per side, got 4"):
        starting_grid(4)


def test_grid_colours_scales_each_cell_up_in_its_label_colour():
    grid = starting_grid()
    image = grid_colours(grid, 48)  # 4 x 4 pixels per cell
    assert image.shape == (3, 48, 48) and image.min() >= -1 and image.max() <= 1
    for row, col in [(0, 0), (3, 1), (11, 6), (6, 7)]:
        expected = torch.from_numpy(FACADE_PALETTE[grid[row, col]]).float() / 127.5 - 1
        block = image[:, 4 * row:4 * row + 4, 4 * col:4 * col + 4]
        assert torch.allclose(block, expected[:, None, None].expand_as(block)), (row, col)


def test_a_click_paints_the_cell_and_shows_what_paint_returns():
    grid, calls = starting_grid(), []

    def paint(g, row, col, cls):
        g[row, col] = cls
        calls.append((row, col, cls))
        return torch.full((3, 8, 8), -1.0), torch.full((3, 8, 8), float(len(calls)) / 10)

    first = (torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))
    painter = facade_painter(grid, paint, first)
    chooser, (board, shown_labels, shown_photo) = painter.children[0], painter.children[1].children
    assert len(board.children) == 144 and shown_photo.value == to_png(first[1])
    chooser.value = FACADE_CLASSES.index("shop")
    board.children[12 * 10 + 1].click()  # row 10, column 1
    assert calls == [(10, 1, FACADE_CLASSES.index("shop"))]
    assert grid[10, 1] == FACADE_CLASSES.index("shop")
    assert board.children[12 * 10 + 1].style.button_color == hex_colour(FACADE_CLASSES.index("shop"))
    assert shown_labels.value == to_png(torch.full((3, 8, 8), -1.0))
    assert shown_photo.value == to_png(torch.full((3, 8, 8), 0.1))
