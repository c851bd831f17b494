"""Tests of course_utils.evaluation: the pixel metrics and the results page."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.evaluation import evaluate, write_results_page


def test_evaluate_scores_a_perfect_generator_and_uses_eval_mode():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    loader = DataLoader(TensorDataset(x, x.clone()), batch_size=2)
    perfect = nn.Sequential(nn.Dropout(0.9))  # the identity in eval mode only
    perfect.train()
    metrics = evaluate(perfect, loader, "cpu")
    assert metrics["L1"] == 0 and metrics["PSNR"] == float("inf") and metrics["SSIM"] == pytest.approx(1.0, abs=1e-6)
    assert perfect.training  # mode given back

    class Noisy(nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return t + 0.2 * torch.randn_like(t)

    noisy = evaluate(Noisy(), loader, "cpu")
    assert 0.05 < noisy["L1"] < 0.15 and 10 < noisy["PSNR"] < 30 and noisy["SSIM"] < 0.95


def test_results_page_has_metrics_images_and_escapes_html(tmp_path):
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    history = {"step": [1, 2, 3], "G": [1.0, 0.8, 0.7], "D": [0.7, 0.69, 0.68]}
    title = "Facades <b>labels</b> & photos"
    page = write_results_page(tmp_path, (x, x * 0.5, x), {"PSNR": 21.25, "L1 <raw>": 0.125}, history, title,
                              captions=["first", "<second>"])
    assert page == tmp_path / "index.html"
    text = page.read_text()
    assert "Facades &lt;b&gt;labels&lt;/b&gt; &amp; photos" in text and "<b>labels</b>" not in text
    assert "21.2500" in text and "L1 &lt;raw&gt;" in text and "0.1250" in text
    assert "&lt;second&gt;" in text and "<second>" not in text
    links = re.findall(r'<img src="([^"]+)"', text)
    assert len(links) == 2 * 3 + 1 and "losses.png" in links
    assert all((tmp_path / link).is_file() for link in links)
