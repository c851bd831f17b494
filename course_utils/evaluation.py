"""Judging a trained generator: pixel metrics on held-out pairs, and an HTML page of results.

`evaluate` measures how close the generator's outputs are to the paired targets (L1, PSNR, SSIM);
`write_results_page` writes the metrics, the loss curve and sample triplets as a web page, like the
pix2pix repository's results pages.
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torchvision.utils import save_image

from course_utils.plotting import as_batch, for_display, plot_losses


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
