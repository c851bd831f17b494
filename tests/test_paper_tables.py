"""benchmarks/paper_tables.py: the paper's two ablation tables at CPU scale (a tiny run here, in fast mode)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "paper_tables.py"


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("paper_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["paper_tables"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def scores(*per_pixel: float) -> list[dict[str, float]]:
    return [{"per-pixel acc": v} for v in per_pixel]


def test_orderings_say_whether_every_seed_agrees(tables):
    results = {"a": scores(0.1, 0.2), "b": scores(0.3, 0.4), "c": scores(0.5, 0.1), "d": scores(0.05, 0.15)}
    lines = tables.orderings(results, [("a", "b"), ("a", "c"), ("b", "a"), ("d", "a")])
    assert "reproduced (every seed):" in lines[0]  # gap 0.2, spreads 0.05: beyond the noise
    # 0.15 < 0.30 on the mean, but seed 1 has 0.2 > 0.1, and the gap 0.15 is within c's spread of 0.2
    assert "reproduced (on the mean only) (within the seeds' spread)" in lines[1]
    assert "0.150 ± 0.050 vs 0.300 ± 0.200, gap +0.1500" in lines[1]
    assert "NOT reproduced:" in lines[2]
    assert "reproduced (every seed):" in lines[3]


def test_pixelgan_sees_one_pixel(tables):
    disc = tables.PixelGAN(6, 8).eval()
    condition, image = torch.randn(1, 3, 16, 16), torch.randn(1, 3, 16, 16, requires_grad=True)
    out = disc(condition, image)
    assert out.shape == (1, 1, 16, 16)
    out[0, 0, 5, 7].backward()
    touched = image.grad.abs().sum(dim=(0, 1)).nonzero().tolist()
    assert touched == [[5, 7]]


@pytest.mark.parametrize("field,size,layers,says", [
    ("16x16", 64, 1, ""),
    ("70x70", 64, 3, "sees the whole 64 px image"),
    ("70x70", 128, 3, ""),
    ("286x286", 64, 4, "n_layers=4 (the whole image)"),
    ("286x286", 128, 5, "sees the whole 128 px image"),
])
def test_discriminator_fits_the_image_and_says_so(tables, field, size, layers, says):
    disc, note = tables.discriminator(field, size, 8)
    assert disc(torch.zeros(1, 3, size, size), torch.zeros(1, 3, size, size)).shape[-1] >= 1  # at least one patch
    assert sum(isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2) for m in disc.modules()) == layers
    assert says in note and bool(note) == bool(says)


def test_a_tiny_run_writes_both_tables(tmp_path):
    """Two steps per row, two seeds: the whole pipeline, its files and the paper's columns (fast mode data)."""
    env = {**os.environ, "COURSE_FAST": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--steps", "2", "--seeds", "2", "--out",
                           str(tmp_path)], capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    text = (tmp_path / "tables.md").read_text()
    assert text.strip() in done.stdout
    for row in ("| L1 |", "| cGAN |", "| L1+cGAN |", "| ground truth |", "| 1x1 |", "| 16x16 |",
                "| 70x70 (sees the whole 64 px image) |", "286x286 (at 64 px, n_layers=4 (the whole image))",
                "0.42 / 0.15 / 0.11", "0.39 / 0.15 / 0.10"):
        assert row in text, row
    assert text.count("reproduced") == 8  # one verdict per ordering of the paper, 4 per table
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["steps"] == 2 and results["config"]["seeds"] == 2
    assert all(len(runs) == 2 for table in ("table1", "table2") for runs in results[table].values())
    assert results["table2"]["70x70"] == results["table1"]["L1+cGAN"]  # trained once, reused
    for runs in results["table1"].values():
        assert all(0 <= run["per-pixel acc"] <= 1 and 0 <= run["class IoU"] <= 1 for run in runs)
    for figure in ("samples_table1.png", "samples_table2.png", "diversity.png"):
        assert (tmp_path / figure).stat().st_size > 1000
