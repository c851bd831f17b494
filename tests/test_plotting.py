"""Tests of the figures: each returns a labelled Figure, headless, and draws what it says."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless, as in CI

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_utils.plotting import (
    draw_receptive_field,
    for_display,
    plot_losses,
    sample_grid,
    show_images,
    show_patch_matrix,
    show_triplets,
    smooth,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def images(n: int = 2, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_for_display_maps_model_range_to_display_range():
    x = torch.tensor([-1.0, 0.0, 1.0, 3.0], requires_grad=True).reshape(1, 1, 4)  # a 1x4 grey image
    assert for_display(x).flatten().tolist() == [0.0, 0.5, 1.0, 1.0]
    assert for_display(torch.zeros(2, 3, 4, 4)).shape == (2, 3, 4, 4)


def test_show_images_titles_each_image_and_the_figure():
    fig = show_images(images(3), titles=["a", "b", "c"], nrow=2, title="Three images")
    assert isinstance(fig, Figure)
    assert fig._suptitle.get_text() == "Three images"
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", ""]  # 2x2 grid, the last cell empty
    fig = show_images(list(images(2)), title="From a list")  # a list of (C, H, W) tensors works too
    assert [ax.get_title() for ax in fig.axes] == ["image 0", "image 1"]
    with pytest.raises(ValueError, match="2 images but 3 titles"):
        show_images(images(2), titles=["a", "b", "c"])


def test_sample_grid_rows_are_input_generated_target():
    inputs, generated, targets = images(2, seed=1), images(2, seed=2), images(2, seed=3)
    grid = sample_grid(inputs, generated, targets)
    assert grid.shape == (3, 2 * 10 + 2, 3 * 10 + 2)  # 2 rows, 3 columns of 8 px with 2 px padding
    for row in range(2):
        for col, batch in enumerate((inputs, generated, targets)):
            cell = grid[:, 2 + 10 * row: 10 + 10 * row, 2 + 10 * col: 10 + 10 * col]
            torch.testing.assert_close(cell, for_display(batch[row]))
    grey = sample_grid(images(1)[:, :1], images(1), images(1))  # a grey input next to colour images
    assert grey.shape == (3, 12, 32)


def test_show_triplets_labels_the_columns():
    fig = show_triplets(images(2), images(2, seed=1), images(2, seed=2), title="Epoch 3")
    (ax,) = fig.axes
    assert ax.get_title() == "Epoch 3"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["input", "generated", "target"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["sample 0", "sample 1"]


def test_plot_losses_labels_axes_and_legend():
    history = {"step": [1, 2, 3, 4], "loss_G": [3.0, 2.0, 1.5, 1.0], "loss_D": [0.7, 0.6, float("nan"), 0.5]}
    fig = plot_losses(history, title="Facades")
    (ax,) = fig.axes
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Facades", "step", "loss")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["loss_G", "loss_D"]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3, 4]  # raw values at the logged steps
    records = [{"step": 10, "G": 1.0}, {"step": 20, "G": 0.5, "D": 0.7}]  # a list of per-step dicts works too
    _, ax2 = plt.subplots()
    assert plot_losses(records, ax=ax2) is ax2.figure
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["G", "D"]


def test_smoothing_is_light_and_skips_nan():
    assert np.allclose(smooth(np.full(5, 2.0), 0.8), 2.0)  # bias-corrected: no ramp up from 0
    out = smooth(np.array([1.0, np.nan, 1.0, 10.0]), 0.5)
    assert out[1] == 1.0 and 1.0 < out[3] < 10.0


def test_show_patch_matrix_draws_a_heat_map_with_a_colourbar():
    probs = torch.sigmoid(torch.randn(1, 1, 6, 6))
    fig = show_patch_matrix(images(1, size=64)[0], probs, title="PatchGAN on a facade")
    assert fig._suptitle.get_text() == "PatchGAN on a facade"
    image_ax, map_ax, colourbar_ax = fig.axes
    assert map_ax.get_title() == "6x6 patch matrix" and map_ax.get_xlabel() == "x (pixels)"
    assert colourbar_ax.get_ylabel() == "P(real)"
    heat = map_ax.images[-1]
    assert heat.get_extent() == [0, 64, 64, 0]  # stretched over the whole image
    np.testing.assert_allclose(heat.get_array(), probs[0, 0].numpy())
    with pytest.raises(ValueError, match="sigmoid"):
        show_patch_matrix(images(1, size=64)[0], torch.randn(6, 6) * 5)


def test_draw_receptive_field_draws_each_box_and_widens_the_view():
    # Output (2, 3) of the 70x70 PatchGAN and a 16x16 box (the arithmetic is notebook 04's, given here as numbers).
    fields = {"70x70": (2 * 8 - 23, 3 * 8 - 23, 2 * 8 + 47, 3 * 8 + 47), "16x16": (10, 20, 26, 36)}
    fig = draw_receptive_field(images(1, size=64), fields, title="Two fields")
    (ax,) = fig.axes
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Two fields", "x (pixels)", "y (pixels)")
    framed = {p.get_label(): p for p in ax.patches if isinstance(p, Rectangle) and not p.get_fill()}
    assert set(framed) >= {"70x70", "16x16"}
    assert framed["70x70"].get_xy() == (1 - 0.5, -7 - 0.5) and framed["70x70"].get_width() == 70
    assert framed["16x16"].get_xy() == (19.5, 9.5) and framed["16x16"].get_height() == 16
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["70x70", "16x16"]
    left, right = ax.get_xlim()
    bottom, top = ax.get_ylim()
    assert left < -0.5 and right >= 71 - 0.5 and top <= -7.5 and bottom >= 63.5  # the boxes reach past the image
    _, given = plt.subplots()
    assert draw_receptive_field(images(1, size=64), {}, ax=given) is given.figure  # drawn on a given axis
    with pytest.raises(ValueError, match="empty"):
        draw_receptive_field(images(1, size=64), {"bad": (5, 5, 5, 9)})


def test_to_picture_gives_imshow_an_hwc_array_in_the_unit_range():
    from course_utils.plotting import to_picture

    image = torch.tensor([[[-1.0, 0.0], [1.0, 3.0]]]).expand(3, 2, 2).requires_grad_()
    picture = to_picture(image)
    assert picture.shape == (2, 2, 3) and picture.dtype == np.float32
    assert np.allclose(picture[..., 0], [[0.0, 0.5], [1.0, 1.0]])
    assert to_picture(image[:1][None]).shape == (2, 2)  # one grey channel: a 2-D array
    with pytest.raises(ValueError, match="expected one image"):
        to_picture(torch.zeros(2, 3, 4, 4))
