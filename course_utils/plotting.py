"""Figures for the course: image grids, input | generated | target triplets, loss curves, the PatchGAN
probability matrix over an image and one output cell's receptive field.

Images are tensors in [-1, 1] (the range the models work in), shaped (B, C, H, W), (C, H, W) or given as
a list of (C, H, W) tensors. Every function returns the matplotlib Figure, labelled (titles, axis labels),
and works headless. The figures are made with pyplot, so a notebook shows them at the end of the cell;
end the line with `;` (or assign the result) so Jupyter does not show the returned figure a second time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torchvision.transforms.v2 import functional as TF
from torchvision.utils import make_grid

ImageBatch = torch.Tensor | Sequence[torch.Tensor]
COLUMNS = ("input", "generated", "target")


def for_display(images: torch.Tensor) -> torch.Tensor:
    """Images from the models' range [-1, 1] in [0, 1] for display, detached and on the CPU.

    torchvision's normalize with mean -1 and std 2 undoes the course's scaling.
    """
    images = images.detach().float().cpu()
    channels = images.shape[-3]
    return TF.normalize(images, mean=[-1.0] * channels, std=[2.0] * channels).clamp(0, 1)


def to_picture(image: torch.Tensor) -> np.ndarray:
    """One image in the models' range [-1, 1], (C, H, W) or (1, C, H, W), as an array for `plt.imshow`.

    Returns (H, W, C) floats in [0, 1] (grey images as (H, W)), detached and on the CPU: the one conversion
    every notebook uses to show a tensor.
    """
    batch = as_batch(image)
    if batch.shape[0] != 1:
        raise ValueError(f"expected one image, (C, H, W) or (1, C, H, W), got a batch of {batch.shape[0]}")
    return _hwc(for_display(batch)[0])


def as_batch(images: ImageBatch) -> torch.Tensor:
    """A (B, C, H, W) tensor from a batch, a single (C, H, W) image or a list of (C, H, W) images."""
    if isinstance(images, torch.Tensor):
        batch = images
    else:
        batch = torch.stack([torch.as_tensor(img).detach().cpu() for img in images])
    if batch.dim() == 3:
        batch = batch.unsqueeze(0)
    if batch.dim() != 4:
        raise ValueError(f"expected images shaped (B, C, H, W) or (C, H, W), got {tuple(batch.shape)}")
    return batch


def _hwc(image: torch.Tensor) -> np.ndarray:
    """One (C, H, W) image in [0, 1] as an (H, W, C) array for imshow (grey images stay 2-D)."""
    array = image.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else array


def show_images(
    images: ImageBatch,
    titles: Sequence[str] | None = None,
    nrow: int = 8,
    title: str | None = None,
) -> Figure:
    """Show images in [-1, 1] in a grid of `nrow` columns, each with an optional title under `title`."""
    batch = for_display(as_batch(images))
    n = batch.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    ncols = max(1, min(nrow, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.2 * nrows + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(_hwc(batch[i]), cmap="gray", vmin=0, vmax=1)
            ax.set_title(titles[i] if titles is not None else f"image {i}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def sample_grid(inputs: ImageBatch, generated: ImageBatch, targets: ImageBatch, padding: int = 2) -> torch.Tensor:
    """One (3, H', W') image in [0, 1]: a row per sample of input | generated | target (for save_image)."""
    inputs, generated, targets = (for_display(as_batch(x)) for x in (inputs, generated, targets))
    if not inputs.shape[0] == generated.shape[0] == targets.shape[0]:
        raise ValueError(f"batch sizes differ: {inputs.shape[0]}, {generated.shape[0]}, {targets.shape[0]}")
    # make_grid needs one channel count; a grey input (e.g. for colourisation) is repeated to RGB.
    channels = max(x.shape[1] for x in (inputs, generated, targets))
    rows = [x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x for x in (inputs, generated, targets)]
    triplets = torch.stack(rows, dim=1).flatten(0, 1)  # (3B, C, H, W) ordered input, generated, target, ...
    return make_grid(triplets, nrow=3, padding=padding, pad_value=1.0)


def show_triplets(
    inputs: ImageBatch,
    generated: ImageBatch,
    targets: ImageBatch,
    title: str = "Input | generated | target",
) -> Figure:
    """Show rows of input | generated | target, with the columns labelled, as one figure."""
    padding = 2
    grid = sample_grid(inputs, generated, targets, padding=padding)
    n = as_batch(inputs).shape[0]
    h, w = as_batch(inputs).shape[-2:]
    fig, ax = plt.subplots(figsize=(7.5, 2.5 * n + 0.6))
    ax.imshow(_hwc(grid), vmin=0, vmax=1)
    # Label the grid's columns and rows through its ticks: one axis keeps the figure light for big batches.
    ax.set_xticks([padding + (w + padding) * j + w / 2 for j in range(3)], COLUMNS)
    ax.xaxis.tick_top()
    ax.set_yticks([padding + (h + padding) * i + h / 2 for i in range(n)], [f"sample {i}" for i in range(n)])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title, pad=22)
    fig.tight_layout()
    return fig


def _as_series(history: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]]) -> tuple[np.ndarray, dict]:
    """(steps, {name: values}) from a dict of lists (optionally with "step") or a list of per-step dicts."""
    if isinstance(history, Mapping):
        series = {k: np.asarray(v, dtype=float) for k, v in history.items() if k != "step"}
        n = max((len(v) for v in series.values()), default=0)
        steps = np.asarray(history["step"], dtype=float) if "step" in history else np.arange(1, n + 1, dtype=float)
    else:
        names = list(dict.fromkeys(k for record in history for k in record if k != "step"))
        series = {k: np.array([record.get(k, np.nan) for record in history], dtype=float) for k in names}
        steps = np.array([record.get("step", i + 1) for i, record in enumerate(history)], dtype=float)
    return steps, series


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction (as TensorBoard draws it); NaNs are skipped."""
    out = np.full_like(values, np.nan)
    avg, norm = 0.0, 0.0
    for i, v in enumerate(values):
        if np.isfinite(v):
            avg = weight * avg + (1 - weight) * v
            norm = weight * norm + (1 - weight)
        if norm > 0:
            out[i] = avg / norm
    return out


def plot_losses(
    history: Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]],
    title: str = "Training losses",
    ax: plt.Axes | None = None,
    smoothing: float | None = None,
) -> Figure:
    """Loss curves per step: each loss faint as logged and bold lightly smoothed, with a legend.

    smoothing: the moving-average weight in [0, 1); by default it averages over about 1% of the run
    (at least 0.6), so that 80,000 GAN steps still read as curves.
    """
    steps, series = _as_series(history)
    n = max((len(v) for v in series.values()), default=0)
    weight = smoothing if smoothing is not None else min(0.999, max(0.6, 1 - 100 / max(n, 1)))
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for i, (name, values) in enumerate(series.items()):
        colour = f"C{i}"
        x = steps[: len(values)]
        ax.plot(x, values, color=colour, alpha=0.25, linewidth=0.8)
        ax.plot(x, smooth(values, weight), color=colour, linewidth=1.8, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if series:
        ax.legend()
    fig.tight_layout()
    return fig


def show_patch_matrix(
    image: torch.Tensor,
    probs: torch.Tensor,
    title: str = "PatchGAN output: P(real) per patch",
) -> Figure:
    """The discriminator's patch matrix (probabilities, after the sigmoid) as a heat map over the image.

    `image` is (C, H, W) or (1, C, H, W) in [-1, 1]; `probs` is (h, w), (1, h, w) or (1, 1, h, w) in [0, 1].
    Each cell is stretched over the part of the image it covers on a regular grid (the receptive fields
    themselves are larger and overlap; see `draw_receptive_field`).
    """
    img = for_display(as_batch(image))[0]
    p = probs.detach().float().cpu().squeeze()
    if p.dim() != 2:
        raise ValueError(f"probs must hold one (h, w) matrix, got shape {tuple(probs.shape)}")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("probs must be in [0, 1]: apply torch.sigmoid to the discriminator's logits first")
    h, w = img.shape[-2:]
    fig, (ax_img, ax_map) = plt.subplots(1, 2, figsize=(10, 4.6))
    ax_img.imshow(_hwc(img), cmap="gray", vmin=0, vmax=1)
    ax_img.set_title("image")
    ax_map.imshow(_hwc(img), cmap="gray", vmin=0, vmax=1)
    heat = ax_map.imshow(p.numpy(), cmap="RdYlGn", vmin=0, vmax=1, alpha=0.55, extent=(0, w, h, 0),
                         interpolation="nearest")
    ax_map.set_title(f"{p.shape[0]}x{p.shape[1]} patch matrix")
    for ax in (ax_img, ax_map):
        ax.set_xlabel("x (pixels)")
        ax.set_ylabel("y (pixels)")
    fig.colorbar(heat, ax=ax_map, fraction=0.046, pad=0.04).set_label("P(real)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def draw_receptive_field(
    image: torch.Tensor,
    fields: Mapping[str, tuple[int, int, int, int]],
    title: str = "Receptive fields",
    ax: plt.Axes | None = None,
) -> Figure:
    """Draw on `image` one labelled square per receptive field: {label: (top, left, bottom, right)}.

    bottom and right are one past the last row and column (as in image[top:bottom, left:right]). A box may
    reach past the image's edge, where it covers the padding: the view widens to show all of it, the image's
    edge dashed.
    """
    img = for_display(as_batch(image))[0]
    h, w = img.shape[-2:]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 5.5))
    else:
        fig = ax.figure
    ax.imshow(_hwc(img), cmap="gray", vmin=0, vmax=1)
    # Pixel i spans [i - 0.5, i + 0.5] in imshow coordinates.
    ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="white", linestyle="--", linewidth=1))
    xs, ys = [-0.5, w - 0.5], [-0.5, h - 0.5]
    for n, (label, (top, left, bottom, right)) in enumerate(fields.items()):
        if bottom <= top or right <= left:
            raise ValueError(f"the box {label!r} is empty: (top, left, bottom, right) = {(top, left, bottom, right)}")
        corner, colour = (left - 0.5, top - 0.5), f"C{n}"
        ax.add_patch(Rectangle(corner, right - left, bottom - top, fill=True, facecolor=colour, alpha=0.12))
        ax.add_patch(Rectangle(corner, right - left, bottom - top, fill=False, edgecolor=colour, linewidth=2,
                               label=label))
        xs += [left - 0.5, right - 0.5]
        ys += [top - 0.5, bottom - 0.5]
    ax.set_xlim(min(xs) - 1, max(xs) + 1)
    ax.set_ylim(max(ys) + 1, min(ys) - 1)
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    ax.set_title(title)
    if fields:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
