"""Judging a trained generator: pixel metrics, the paper's FCN-score, KID in course features, diversity.

`evaluate` measures how close the generator's outputs are to the paired targets (L1, PSNR, SSIM), which
rewards a safe blur. `fcn_score` asks instead whether a segmenter still finds the input's classes in the
generated photo, as the Pix2Pix paper did (Isola, Zhu, Zhou, Efros, CVPR 2017, arXiv 1611.07004), with the
course's own segmenter (`course_utils.segmenter`); the real photos give the upper bound. `kid_course_features`
compares the distributions of generated and real photos in the segmenter's features (KID, Binkowski et al.,
ICLR 2018, arXiv 1801.01401): comparable between the course's models only, never with a published FID.
`diversity` measures how much the outputs vary with dropout on at test time. `write_results_page` writes the
metrics, the loss curve and sample triplets as a web page, like the pix2pix repository's results pages.
"""

from __future__ import annotations

import html
import numbers
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.utils import save_image

from course_utils.data import PairedImageDataset
from course_utils.plotting import as_batch, for_display, plot_losses, to_picture
from course_utils.segmenter import (
    IGNORE_INDEX,
    N_CLASSES,
    CourseSegmenter,
    FacadesSegmentation,
    course_features,
    course_segmenter,
)
from course_utils.synthetic import classes_from_colours

FCN_METRICS = ("per-pixel acc", "per-class acc", "class IoU")  # the paper's three columns, in its order
BLEND_DISTANCE = 40.0  # label colours farther than this from every palette colour are borders: ignored


@torch.no_grad()
def evaluate(
    generator: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Mean L1, PSNR (dB) and SSIM of generator(inputs) against targets over (inputs, targets) batches.

    Images are mapped from [-1, 1] to [0, 1] first. PSNR and SSIM are computed per image with scikit-image
    (SSIM as Wang et al. 2004: Gaussian window, sigma 1.5, over the colour channels; images need at least
    11x11 pixels), then averaged; a perfect output has PSNR inf and SSIM 1. The generator runs in eval mode
    (dropout off) and gets its mode back afterwards.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    if device is None:
        device = next(generator.parameters(), torch.empty(0)).device
    l1, psnr, ssim = [], [], []
    was_training = generator.training
    generator.eval()
    try:
        for inputs, targets in loader:
            fake = ((generator(torch.as_tensor(inputs).to(device)).float().clamp(-1, 1) + 1) / 2).cpu().numpy()
            real = ((torch.as_tensor(targets).float().clamp(-1, 1) + 1) / 2).cpu().numpy()
            for f, r in zip(fake, real):
                l1.append(float(np.abs(f - r).mean()))
                with np.errstate(divide="ignore"):  # identical images: PSNR is inf, which is the right answer
                    psnr.append(float(peak_signal_noise_ratio(r, f, data_range=1.0)))
                ssim.append(float(structural_similarity(r, f, data_range=1.0, channel_axis=0, gaussian_weights=True,
                                                        sigma=1.5, use_sample_covariance=False)))
    finally:
        generator.train(was_training)
    if not l1:
        raise ValueError("the loader gave no batch")
    return {"L1": float(np.mean(l1)), "PSNR": float(np.mean(psnr)), "SSIM": float(np.mean(ssim))}


# ----------------------------------------------------------------------------------------------------------
# The FCN-score: segment the generated photo, compare with the label map it was made from


def confusion_matrix(predicted: torch.Tensor, truth: torch.Tensor, n_classes: int = N_CLASSES,
                     ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Counts (n_classes, n_classes), int64: entry [i, j] = pixels of true class i predicted as class j.

    predicted, truth: class indices of the same shape (any). Pixels whose truth is `ignore_index` are left out.
    """
    if predicted.shape != truth.shape:
        raise ValueError(f"predicted and truth differ in shape: {tuple(predicted.shape)} and {tuple(truth.shape)}")
    predicted, truth = predicted.reshape(-1).long().cpu(), truth.reshape(-1).long().cpu()
    keep = truth != ignore_index
    predicted, truth = predicted[keep], truth[keep]
    bad = (truth < 0) | (truth >= n_classes) | (predicted < 0) | (predicted >= n_classes)
    if bad.any():
        raise ValueError(f"expected class indices from 0 to {n_classes - 1} (or {ignore_index} in truth: ignored), "
                         f"got values {sorted(set(torch.cat([truth[bad], predicted[bad]]).tolist()))[:5]}")
    return torch.bincount(truth * n_classes + predicted, minlength=n_classes**2).reshape(n_classes, n_classes)


def segmentation_scores(confusion: torch.Tensor) -> dict[str, float]:
    """The FCN paper's three numbers from a confusion matrix (rows: truth, columns: prediction).

    per-pixel acc = correct pixels / all pixels. per-class acc = mean over classes of correct / true pixels
    of that class. class IoU = mean over classes of correct / (true + predicted - correct) pixels of that
    class. As in FCN and pix2pix's evaluation, a class with no true pixel is left out of the per-class
    accuracy (it has none to get right), and a class absent from both truth and prediction is left out of
    the IoU (0/0); a class predicted but never true counts as IoU 0.
    """
    confusion = confusion.double()
    correct, true, predicted = confusion.diagonal(), confusion.sum(1), confusion.sum(0)
    if confusion.sum() == 0:
        raise ValueError("the confusion matrix is empty: no pixel was scored")
    union = true + predicted - correct
    present, seen = true > 0, union > 0
    return {
        "per-pixel acc": float(correct.sum() / confusion.sum()),
        "per-class acc": float((correct[present] / true[present]).mean()),
        "class IoU": float((correct[seen] / union[seen]).mean()),
    }


def label_classes(labels: torch.Tensor, max_distance: float | None = BLEND_DISTANCE) -> torch.Tensor:
    """Class indices (N, H, W), int64, of colour label maps (N, 3, H, W) in [-1, 1], by nearest palette colour.

    Pixels farther than `max_distance` (0-255 units) from every palette colour, the blends that resizing
    leaves along class borders, get IGNORE_INDEX (None: every pixel gets its nearest class).
    """
    if labels.dim() != 4 or labels.shape[1] != 3:
        raise ValueError(f"expected label maps of shape (N, 3, H, W) in [-1, 1], got shape {tuple(labels.shape)}")
    colours = ((labels.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1)
    return torch.from_numpy(classes_from_colours(colours.numpy(), max_distance, IGNORE_INDEX)).long()


def _segmentation_batches(data: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(label maps, photos, classes) batches from a facades dataset or from (label maps, photos[, classes]) batches."""
    if isinstance(data, PairedImageDataset):
        data = FacadesSegmentation.like(data)  # exact classes, read from the label maps before resizing
    if isinstance(data, Dataset):
        data = DataLoader(data, batch_size=batch_size)
    for batch in data:
        if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
            raise ValueError("expected batches of (label maps, photos) or (label maps, photos, classes), got "
                             f"{type(batch).__name__} of length {len(batch) if hasattr(batch, '__len__') else '?'}")
        labels, photos = torch.as_tensor(batch[0]), torch.as_tensor(batch[1])
        classes = torch.as_tensor(batch[2]).long() if len(batch) == 3 else label_classes(labels)
        yield labels, photos, classes


@torch.no_grad()
def fcn_score(generator: nn.Module, data: Any, segmenter: CourseSegmenter | None = None,
              device: str | torch.device | None = None, batch_size: int = 16) -> dict[str, dict[str, float]]:
    """The paper's FCN-score of `generator` on facades: {"generated": scores, "real": scores}.

    Each scores dict holds per-pixel acc, per-class acc and class IoU (see `segmentation_scores`) of the
    segmenter's labels against the classes of the input label maps, over the whole data set: for the
    generated photos, and for the real photos (the paper's "ground truth" row, the upper bound).
    data: a facades PairedImageDataset (direction 'BtoA'; its classes are read exactly, before resizing),
    or (label maps, photos) batches in [-1, 1] (classes by nearest palette colour, border blends ignored),
    or (label maps, photos, classes) batches. segmenter: default `course_segmenter()` (trained on first use),
    moved to the generator's device. The generator runs in eval mode and gets its mode back.
    """
    if device is None:
        device = next(generator.parameters(), torch.empty(0)).device
    segmenter = (segmenter if segmenter is not None else course_segmenter()).eval().to(device)
    confusion = {"generated": 0, "real": 0}
    was_training = generator.training
    generator.eval()
    try:
        for labels, photos, classes in _segmentation_batches(data, batch_size):
            fake = generator(labels.to(device)).float().clamp(-1, 1)
            for row, images in (("generated", fake), ("real", photos.to(device).float())):
                confusion[row] = confusion[row] + confusion_matrix(segmenter.predict(images, classes.shape[-2:]),
                                                                   classes)
    finally:
        generator.train(was_training)
    if isinstance(confusion["real"], int):
        raise ValueError("the data gave no batch")
    return {row: segmentation_scores(counts) for row, counts in confusion.items()}


# ----------------------------------------------------------------------------------------------------------
# KID in the course segmenter's features


class _PooledFeatures(nn.Module):
    """One vector per image for KID: each course-feature stage averaged over space, concatenated."""

    def __init__(self, features: nn.Module) -> None:
        super().__init__()
        self.features = features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([f.mean(dim=(2, 3)) for f in self.features(images.float())], dim=1).double()


@torch.no_grad()
def kid_course_features(generator: nn.Module, data: Iterable[Sequence[torch.Tensor]] | Dataset,
                        features: nn.Module | None = None, subsets: int = 100, subset_size: int = 100,
                        seed: int = 0, device: str | torch.device | None = None) -> dict[str, float]:
    """KID between generated and real photos in the course segmenter's features: {"KID (course features)", "... std"}.

    The Kernel Inception Distance (Binkowski et al. 2018) with torchmetrics, the Inception network replaced by
    the course features (each stage averaged over space). Lower is closer; about 0 for the same distribution.
    It is not Inception's KID and never comparable with a published FID: compare the course's models only.
    data: (label maps, photos, ...) batches in [-1, 1], or a Dataset of such items. subset_size is capped
    at the number of images; the subsets are drawn from `seed`, so the value is repeatable.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    if device is None:
        device = next(generator.parameters(), torch.empty(0)).device
    features = (features if features is not None else course_features()).to(device)
    with warnings.catch_warnings():  # its warning that it keeps every feature in memory: fine at ~100 images
        warnings.simplefilter("ignore")
        metric = KernelInceptionDistance(feature=_PooledFeatures(features), subsets=subsets, subset_size=2)
    if isinstance(data, Dataset):
        data = DataLoader(data, batch_size=16)
    n, was_training = 0, generator.training
    generator.eval()
    try:
        for batch in data:
            labels, photos = torch.as_tensor(batch[0]).to(device), torch.as_tensor(batch[1]).to(device)
            metric.update(photos, real=True)
            metric.update(generator(labels).float().clamp(-1, 1), real=False)
            n += len(photos)
    finally:
        generator.train(was_training)
    if n < 2:
        raise ValueError(f"KID needs at least 2 images, got {n}")
    metric.subset_size = min(subset_size, n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return {"KID (course features)": float(mean), "KID (course features) std": float(std)}


# ----------------------------------------------------------------------------------------------------------
# Diversity: how much do the outputs vary when dropout stays on at test time?


@dataclass
class Diversity:
    """What `diversity` measured: mean per-pixel std over the samples, with dropout on and off, and the samples.

    samples_on, samples_off: (n_samples, 3, H, W) outputs for the first input; std_on, std_off: (H, W) maps
    of their per-pixel standard deviation (averaged over the colour channels), in the models' units.
    """

    dropout_on: float
    dropout_off: float
    inputs: torch.Tensor
    samples_on: torch.Tensor
    samples_off: torch.Tensor
    std_on: torch.Tensor
    std_off: torch.Tensor


def _samples(generator: nn.Module, inputs: torch.Tensor, n_samples: int, dropout: bool) -> torch.Tensor:
    generator.eval()  # batch norm on its running statistics in both cases
    if dropout:
        for module in generator.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.train()
    return torch.stack([generator(inputs).float().cpu() for _ in range(n_samples)])


@torch.no_grad()
def diversity(generator: nn.Module, inputs: torch.Tensor, n_samples: int = 10, seed: int = 0) -> Diversity:
    """Per-pixel standard deviation over `n_samples` outputs for the same inputs, dropout on versus off.

    inputs: (N, 3, H, W) or (3, H, W) label maps in [-1, 1]. "On" keeps the dropout layers in training mode
    at test time (as the paper tried), "off" is the usual eval mode. The numbers are the std over the
    samples, averaged over pixels, channels and inputs. The paper found dropout gave only minor stochasticity.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 to measure a spread, got {n_samples}")
    inputs = as_batch(inputs).to(next(generator.parameters(), torch.empty(0)).device)
    was_training = generator.training
    try:
        with torch.random.fork_rng(devices=[inputs.device] if inputs.device.type == "cuda" else []):
            torch.manual_seed(seed)
            on = _samples(generator, inputs, n_samples, dropout=True)
            off = _samples(generator, inputs, n_samples, dropout=False)
    finally:
        generator.train(was_training)
    std_on, std_off = on.std(0, unbiased=False), off.std(0, unbiased=False)
    return Diversity(float(std_on.mean()), float(std_off.mean()), inputs[0].cpu(), on[:, 0], off[:, 0],
                     std_on[0].mean(0), std_off[0].mean(0))


def plot_diversity(result: Diversity, n_show: int = 4) -> plt.Figure:
    """A figure of `diversity`: the input, a few samples and the std map, dropout on (top) and off (bottom)."""
    n_show = min(n_show, len(result.samples_on))
    fig, axes = plt.subplots(2, n_show + 2, figsize=(2.1 * (n_show + 2), 4.6), squeeze=False)
    vmax = max(float(result.std_on.max()), float(result.std_off.max()), 1e-6)
    for row, (name, samples, std, value) in enumerate((
            ("dropout on", result.samples_on, result.std_on, result.dropout_on),
            ("dropout off", result.samples_off, result.std_off, result.dropout_off))):
        axes[row, 0].imshow(to_picture(result.inputs))
        axes[row, 0].set_title("input")
        for i in range(n_show):
            axes[row, i + 1].imshow(to_picture(samples[i]))
            axes[row, i + 1].set_title(f"{name}: sample {i + 1}", fontsize=8)
        image = axes[row, -1].imshow(std.numpy(), cmap="magma", vmin=0, vmax=vmax)
        axes[row, -1].set_title(f"per-pixel std ({name})\nmean {value:.4f}", fontsize=8)
        fig.colorbar(image, ax=axes[row, -1], fraction=0.046, label="std")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"Diversity over {len(result.samples_on)} samples of one input")
    fig.tight_layout()
    return fig


def write_results_page(
    run_dir: str | Path,
    samples: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    metrics: Mapping[str, float],
    history: Mapping[str, Sequence[float]] | None,
    title: str = "Pix2Pix results",
    captions: Sequence[str] | None = None,
) -> Path:
    """An HTML page of results in run_dir/index.html, like the pix2pix repository's web page.

    samples: (inputs, generated, targets), each (B, C, H, W) in [-1, 1]; each image is saved as a PNG in
    run_dir/images/ and shown in a row input | generated | target with a caption. metrics: a table of
    name -> value (e.g. from `evaluate`). history: the loss history, drawn to losses.png (None: no plot).
    """
    run_dir = Path(run_dir)
    (run_dir / "images").mkdir(parents=True, exist_ok=True)
    batches = [for_display(as_batch(x)) for x in samples]
    n = batches[0].shape[0]
    if any(b.shape[0] != n for b in batches):
        raise ValueError(f"inputs, generated and targets differ in batch size: {[b.shape[0] for b in batches]}")
    captions = list(captions) if captions is not None else [f"sample {i}" for i in range(n)]
    if len(captions) != n:
        raise ValueError(f"got {n} samples but {len(captions)} captions")

    rows = []
    for i in range(n):
        names = []
        for column, batch in zip(("input", "generated", "target"), batches):
            names.append(f"images/{i:03d}_{column}.png")
            save_image(batch[i], run_dir / names[-1])
        rows.append((captions[i], names))
    curve = None
    if history is not None:
        fig = plot_losses(history, title="Training losses")
        fig.savefig(run_dir / "losses.png", dpi=100)
        plt.close(fig)
        curve = "losses.png"
    page = _results_html(title, metrics, rows, curve)
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _results_html(title: str, metrics: Mapping[str, Any], rows: Sequence[tuple[str, list[str]]],
                  curve: str | None) -> str:
    """The results page: a metrics table, the loss curve (if any), and a row of images per sample."""
    esc = html.escape
    table = "".join(
        f"<tr><td>{esc(str(k))}</td><td>{v:.4f}</td></tr>"
        if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral) else
        f"<tr><td>{esc(str(k))}</td><td>{esc(str(v))}</td></tr>"
        for k, v in metrics.items()
    )
    samples = "".join(
        f"<tr><th>{esc(caption)}</th>" + "".join(
            f'<td><img src="{esc(name)}" alt="{esc(caption)}: {column}"><br>{column}</td>'
            for column, name in zip(("input", "generated", "target"), names)) + "</tr>"
        for caption, names in rows
    )
    losses = f'<h2>Losses</h2><img src="{esc(curve)}" alt="loss curves">' if curve else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:4px 8px;text-align:center}}
table.metrics td{{border-bottom:1px solid #ddd}} img{{max-width:256px}}</style></head>
<body><h1>{esc(title)}</h1>
<h2>Metrics</h2><table class="metrics"><tr><th>metric</th><th>value</th></tr>{table}</table>
{losses}
<h2>Samples</h2><table><tr><th></th><th>input</th><th>generated</th><th>target</th></tr>{samples}</table>
</body></html>
"""
