"""The facade painter of notebooks 06 and 09: click the cells of a grid of classes, and a generator redraws the photo.

The widget knows nothing of the model: it calls `paint(grid, row, col, cls) -> (label map, photo)`, a plain
function each notebook writes for its generator (colours for Pix2Pix, one-hot classes for GauGAN), and shows the
two images it returns. The widget needs a live Jupyter kernel; `paint` can be called and tested without one.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.functional import to_pil_image

from course_utils.plotting import for_display
from course_utils.synthetic import FACADE_CLASSES, FACADE_PALETTE

GRID = 12  # cells per side
Paint = Callable[[np.ndarray, int, int, int], tuple[torch.Tensor, torch.Tensor]]


def starting_grid(cells: int = GRID) -> np.ndarray:
    """A (cells, cells) array of class indices: sky, a cornice, a facade with rows of windows and sills, a door."""
    if cells < 8:
        raise ValueError(f"a facade needs at least 8 cells per side, got {cells}")
    cls = FACADE_CLASSES.index
    grid = np.full((cells, cells), cls("facade"))
    grid[0, :] = cls("background")
    grid[1, :] = cls("cornice")
    for row in range(3, cells - 3, 3):
        grid[row:row + 2, 1:-1:3] = cls("window")
        grid[row + 2, 1:-1:3] = cls("sill")
    grid[-3:, cells // 2 - 1:cells // 2 + 1] = cls("door")
    return grid


def grid_colours(grid: np.ndarray, size: int) -> torch.Tensor:
    """The grid drawn in the facade label colours, scaled up (nearest) to (3, size, size), in [-1, 1]."""
    image = Image.fromarray(FACADE_PALETTE[grid]).resize((size, size), Image.NEAREST)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 127.5 - 1


def to_png(image: torch.Tensor, scale: int = 2) -> bytes:
    """A (3, H, W) image in [-1, 1] as PNG bytes, scaled up for the screen."""
    picture = to_pil_image(for_display(image))
    buffer = io.BytesIO()
    picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def hex_colour(cls: int) -> str:
    """The label colour of class `cls` as '#rrggbb'."""
    return "#{:02x}{:02x}{:02x}".format(*FACADE_PALETTE[cls])


def facade_painter(grid: np.ndarray, paint: Paint, first: tuple[torch.Tensor, torch.Tensor]):
    """The painter widget: a class chooser, the grid as buttons, and the label map and photo `paint` returns.

    grid: the (cells, cells) class indices, painted in place. first: the (label map, photo) shown at the start.
    """
    import ipywidgets as widgets  # here, so the module imports where ipywidgets is missing

    chooser = widgets.ToggleButtons(options=[(name, i) for i, name in enumerate(FACADE_CLASSES)],
                                    value=FACADE_CLASSES.index("window"), description="class")
    chooser.style.button_width = "70px"
    shown_labels, shown_photo = widgets.Image(value=to_png(first[0])), widgets.Image(value=to_png(first[1]))

    def on_click(button) -> None:
        labels, photo = paint(grid, button.row, button.col, chooser.value)
        button.style.button_color = hex_colour(chooser.value)
        shown_labels.value, shown_photo.value = to_png(labels), to_png(photo)

    cells = []
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            cell = widgets.Button(layout=widgets.Layout(width="22px", height="22px", padding="0"))
            cell.style.button_color = hex_colour(grid[r, c])
            cell.row, cell.col = r, c
            cell.on_click(on_click)
            cells.append(cell)
    board = widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns=f"repeat({grid.shape[1]}, 22px)"))
    return widgets.VBox([chooser, widgets.HBox([board, shown_labels, shown_photo])])
