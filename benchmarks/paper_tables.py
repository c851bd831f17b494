"""The Pix2Pix paper's two ablation tables, at CPU scale, judged by the course's own FCN-score.

    PYTHONPATH=. python benchmarks/paper_tables.py --quick     # <= 20 min on 2 cores: 64 px, 2 seeds
    PYTHONPATH=. python benchmarks/paper_tables.py             # longer, more faithful: wider models, more steps,
                                                               # 3 seeds, the field-of-view table at 128 px

Table 1 (objectives): generators trained with L1 alone, the conditional GAN alone, and L1 + cGAN, with the
70x70 PatchGAN. Table 2 (discriminator field of view): L1 + cGAN with a 1x1 PixelGAN and 16x16, 70x70 and
286x286 PatchGANs. Every row trains on the same data with the same seeds and steps; the scores are the
FCN-score (per-pixel acc, per-class acc, class IoU of the course segmenter on the test split), and the real
photos give the "ground truth" row. The paper's numbers (Isola et al., CVPR 2017, arXiv 1611.07004, Tables 1
and 2) are on Cityscapes with a pretrained FCN-8s, so only the ORDER of the rows can be compared, never the
values; this script says which of the paper's orderings hold here, with the spread over the seeds.

The models are the course's own reference solutions (notebooks 03, 04 and 05); the 1x1 PixelGAN is built
here, as in the paper (three 1x1 convolutions). Writes tables.md, results.json, a figure of samples per row
for each table and a diversity figure to build/paper_tables/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, RandomSampler  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from course_utils.checks import reference  # noqa: E402
from course_utils.data import facades_root  # noqa: E402
from course_utils.environment import build_dir  # noqa: E402
from course_utils.evaluation import (  # noqa: E402
    FCN_METRICS,
    diversity,
    fcn_score,
    kid_course_features,
    plot_diversity,
)
from course_utils.plotting import to_picture  # noqa: E402
from course_utils.segmenter import FacadesSegmentation, course_features, course_segmenter  # noqa: E402
from course_utils.training import init_weights  # noqa: E402

PAPER_TABLE1 = {"L1": (0.42, 0.15, 0.11), "cGAN": (0.57, 0.22, 0.16), "L1+cGAN": (0.66, 0.23, 0.17),
                "ground truth": (0.80, 0.26, 0.21)}
PAPER_TABLE2 = {"1x1": (0.39, 0.15, 0.10), "16x16": (0.65, 0.21, 0.17), "70x70": (0.66, 0.23, 0.17),
                "286x286": (0.42, 0.16, 0.11), "ground truth": (0.80, 0.26, 0.21)}
# The rows' orderings the paper reports, on per-pixel accuracy: (lower, higher) pairs.
ORDER_TABLE1 = [("L1", "cGAN"), ("cGAN", "L1+cGAN"), ("L1", "L1+cGAN"), ("L1+cGAN", "ground truth")]
ORDER_TABLE2 = [("1x1", "16x16"), ("16x16", "70x70"), ("286x286", "70x70"), ("1x1", "70x70")]
# PatchGAN(n_layers=k) sees 16x16 (k=1), 70x70 (k=3), 142x142 (k=4), 286x286 (k=5) patches.
PATCH_LAYERS = {"16x16": 1, "70x70": 3, "286x286": 5}


@dataclass
class Config:
    size: int  # table 1 (and table 2 unless table2_size)
    table2_size: int
    base_channels: int
    batch_size: int
    steps: int
    seeds: int
    lambda_l1: float = 100.0
    lr: float = 2e-4


QUICK = Config(size=64, table2_size=64, base_channels=32, batch_size=4, steps=400, seeds=2)
FULL = Config(size=64, table2_size=128, base_channels=64, batch_size=4, steps=3000, seeds=3)


class PixelGAN(nn.Module):
    """The paper's 1x1 discriminator: three 1x1 convolutions, so each output sees one pixel pair."""

    def __init__(self, in_channels: int = 6, base_channels: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, base_channels, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(base_channels, 2 * base_channels, 1, bias=False), nn.BatchNorm2d(2 * base_channels),
            nn.LeakyReLU(0.2), nn.Conv2d(2 * base_channels, 1, 1))

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, image], dim=1))


def discriminator(field: str, size: int, base: int) -> tuple[nn.Module, str]:
    """The discriminator of one field of view, and a note when the image is smaller than what it sees."""
    if field == "1x1":
        return PixelGAN(6, base), ""
    layers = PATCH_LAYERS[field]
    note = ""
    while size // 2**layers < 3:  # the two stride-1 convs would leave no output pixel: one stride-2 layer less
        layers -= 1
        note = f"at {size} px, n_layers={layers} (the whole image)"
    if field != "16x16" and not note and int(field.split("x")[0]) >= size:
        note = f"sees the whole {size} px image"
    return reference("04_patchgan").PatchGAN(in_channels=6, base_channels=base, n_layers=layers), note


def generator(size: int, base: int) -> nn.Module:
    levels = size.bit_length() - 1  # 64 px: 6 levels, 128 px: 7, so the bottleneck is 1x1
    return reference("03_pix2pix_generator").UNetGenerator(3, 3, base_channels=base, levels=levels)


def batches(dataset: FacadesSegmentation, batch_size: int, seed: int):
    """Endless (label maps, photos) batches, in an order fixed by the seed (the same for every row)."""
    sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    while True:
        for labels, photos, _ in DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True):
            yield labels, photos


def train_row(objective: str, field: str, seed: int, cfg: Config, size: int, train_set, desc: str):
    """One generator trained with `objective` ('L1', 'cGAN', 'L1+cGAN') against a `field` discriminator."""
    losses = reference("05_pixel_distance_loss")
    torch.manual_seed(seed)
    gen = init_weights(generator(size, cfg.base_channels))
    disc, note = discriminator(field, size, cfg.base_channels)
    init_weights(disc)
    opt_g = torch.optim.Adam(gen.parameters(), cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), cfg.lr, betas=(0.5, 0.999))
    adversarial, lambda_l1 = objective != "L1", (cfg.lambda_l1 if "L1" in objective else 0.0)
    data = batches(train_set, cfg.batch_size, seed)
    bar = tqdm(range(cfg.steps), desc=desc, leave=False)
    for _ in bar:
        labels, photos = next(data)
        fake = gen(labels)
        if adversarial:
            opt_d.zero_grad()
            d_loss = losses.discriminator_loss(disc, labels, photos, fake)
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            g_loss = losses.generator_loss(disc, labels, photos, fake, lambda_l1)
        else:
            opt_g.zero_grad()
            d_loss, g_loss = torch.zeros(()), lambda_l1 * F.l1_loss(fake, photos)
        g_loss.backward()
        opt_g.step()
        bar.set_postfix(d=f"{d_loss.item():.3f}", g=f"{g_loss.item():.3f}")
    return gen.eval(), note


def run_table(name: str, rows: dict[str, tuple[str, str]], cfg: Config, size: int, root: Path, out: Path):
    """Train every row for every seed; return {row: [scores per seed]}, notes, a model per row, the test set.

    The scores so far are written to out/<name>.partial.json after every row: a long run cut short keeps them.
    """
    train_set = FacadesSegmentation(root, "train", size, jitter=True)
    test_set = FacadesSegmentation(root, "test", size)
    segmenter = course_segmenter(size)
    features = course_features(size)
    results, notes, models = {row: [] for row in rows}, {}, {}
    results["ground truth"] = []
    for seed in range(cfg.seeds):
        for row, (objective, field) in rows.items():
            gen, note = train_row(objective, field, seed, cfg, size, train_set, f"{name} {row} seed {seed}")
            scores = fcn_score(gen, test_set, segmenter)
            kid = kid_course_features(gen, test_set, features)["KID (course features)"]
            with torch.no_grad():
                l1 = sum(F.l1_loss(gen(x), y, reduction="sum").item() for x, y, _ in DataLoader(test_set, 32))
            results[row].append({**scores["generated"], "KID": kid, "L1": l1 / (len(test_set) * 3 * size * size)})
            notes[row] = note
            models.setdefault(row, gen)
            print(f"  {name} {row:>8} seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in results[row][-1].items()))
            (out / f"{name.replace(' ', '')}.partial.json").write_text(json.dumps({**results, "real": scores["real"]}))
        results["ground truth"].append(scores["real"])
    return results, notes, models, test_set, segmenter


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.3f} ± {statistics.pstdev(values):.3f}" if len(values) > 1 else f"{mean:.3f}"


def markdown(title: str, results: dict, paper: dict, notes: dict) -> str:
    columns = [*FCN_METRICS, "KID (course features)", "L1", "paper (per-pixel / per-class / IoU)"]
    head = "| row | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns)
    lines = [f"### {title}", "", head]
    for row, runs in results.items():
        cells = [spread([r[m] for r in runs]) for m in FCN_METRICS]
        extra = [spread([r[m] for r in runs]) if m in runs[0] else "" for m in ("KID", "L1")]
        label = f"{row} ({notes[row]})" if notes.get(row) else row
        lines.append(f"| {label} | " + " | ".join(cells + extra) + f" | {' / '.join(f'{v:.2f}' for v in paper[row])} |")
    return "\n".join(lines)


def orderings(results: dict, pairs: list[tuple[str, str]]) -> list[str]:
    """For each (lower, higher) pair of the paper: held on the means, whether every seed agrees, and whether
    the gap is larger than the seeds' spread (a gap within the spread is no evidence either way)."""
    found = []
    for low, high in pairs:
        lo, hi = ([r["per-pixel acc"] for r in results[k]] for k in (low, high))
        gap = statistics.fmean(hi) - statistics.fmean(lo)
        every = all(a < b for a, b in zip(lo, hi))
        verdict = "NOT reproduced" if gap <= 0 else "reproduced" + (" (every seed)" if every else " (on the mean only)")
        noise = " (within the seeds' spread)" if abs(gap) <= max(statistics.pstdev(lo), statistics.pstdev(hi)) else ""
        found.append(f"- {low} < {high} (per-pixel acc): {verdict}{noise}: {spread(lo)} vs {spread(hi)}, "
                     f"gap {gap:+.4f}")
    return found


def samples_figure(models: dict, test_set, path: Path, title: str, n: int = 4) -> None:
    """Rows: test label maps; columns: input, each row of the table, the real photo."""
    labels, photos = zip(*[test_set[i][:2] for i in range(n)])
    labels, photos = torch.stack(labels), torch.stack(photos)
    with torch.no_grad():
        columns = [("input", labels)] + [(row, m(labels)) for row, m in models.items()] + [("real", photos)]
    fig, axes = plt.subplots(n, len(columns), figsize=(1.9 * len(columns), 1.9 * n + 0.6), squeeze=False)
    for j, (name, images) in enumerate(columns):
        for i in range(n):
            axes[i, j].imshow(to_picture(images[i]))
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[0, j].set_title(name, fontsize=9)
    for i in range(n):
        axes[i, 0].set_ylabel(f"test {i}", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="64 px, narrow models, 400 steps, 2 seeds (<= 20 min, 2 cores)")
    parser.add_argument("--steps", type=int, help="training steps per row (overrides the preset)")
    parser.add_argument("--seeds", type=int, help="seeds per row (at least 2 for a spread)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default build/paper_tables)")
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    cfg = Config(**{**asdict(cfg), **{k: v for k, v in (("steps", args.steps), ("seeds", args.seeds)) if v}})
    out = args.out or build_dir() / "paper_tables"
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    facades = facades_root(download=False)
    print(f"{facades.note}\nsettings: {cfg}")
    table1 = {"L1": ("L1", "70x70"), "cGAN": ("cGAN", "70x70"), "L1+cGAN": ("L1+cGAN", "70x70")}
    table2 = {f: ("L1+cGAN", f) for f in ("1x1", "16x16", "70x70", "286x286")}
    if cfg.table2_size == cfg.size:  # the 70x70 row of table 2 is table 1's L1+cGAN: trained once
        table2.pop("70x70")
    res1, notes1, models1, test1, _ = run_table("table 1", table1, cfg, cfg.size, facades.root, out)
    print("\n" + markdown("Table 1 (so far)", res1, PAPER_TABLE1, {}), *orderings(res1, ORDER_TABLE1), sep="\n")
    res2, notes2, models2, test2, _ = run_table("table 2", table2, cfg, cfg.table2_size, facades.root, out)
    if "70x70" not in res2:
        res2["70x70"], notes2["70x70"], models2["70x70"] = res1["L1+cGAN"], notes1["L1+cGAN"], models1["L1+cGAN"]
    res2 = {k: res2[k] for k in ("1x1", "16x16", "70x70", "286x286", "ground truth")}
    models2 = {k: models2[k] for k in ("1x1", "16x16", "70x70", "286x286")}
    report(cfg, facades.note, (res1, notes1, models1, test1), (res2, notes2, models2, test2), out, start)


def report(cfg: Config, data_note: str, t1: tuple, t2: tuple, out: Path, start: float) -> None:
    (res1, notes1, models1, test1), (res2, notes2, models2, test2) = t1, t2
    d_note = f"; it {notes1['cGAN']}" if notes1["cGAN"] else ""
    div = diversity(models1["L1+cGAN"], test1[0][0], n_samples=10)
    fig = plot_diversity(div)
    fig.savefig(out / "diversity.png", dpi=100)
    plt.close(fig)
    samples_figure(models1, test1, out / "samples_table1.png", "Table 1: objectives (seed 0)")
    samples_figure(models2, test2, out / "samples_table2.png", "Table 2: discriminator field of view (seed 0)")
    wall = time.perf_counter() - start
    text = "\n".join([
        f"## Pix2Pix ablations at CPU scale ({cfg.seeds} seeds, mean ± std; {cfg.steps} steps of batch "
        f"{cfg.batch_size}; generator base {cfg.base_channels} channels)", "", data_note, "",
        "FCN-score of the course segmenter on the test split (the paper: Cityscapes and a pretrained FCN-8s, so",
        "compare the order of the rows, never the values). KID in the course segmenter's features, lower is",
        "closer to the real photos; L1 against the paired photo in [-1, 1] units, lower is closer.", "",
        markdown(f"Table 1: objectives ({cfg.size} px, 70x70 PatchGAN{d_note})", res1, PAPER_TABLE1, {}), "",
        *orderings(res1, ORDER_TABLE1), "",
        markdown(f"Table 2: discriminator field of view ({cfg.table2_size} px, L1+cGAN)", res2, PAPER_TABLE2,
                 notes2), "",
        *orderings(res2, ORDER_TABLE2), "",
        f"Diversity (L1+cGAN, seed 0, 10 samples of one test input): per-pixel std {div.dropout_on:.4f} with "
        f"dropout on at test time, {div.dropout_off:.4f} with it off (the paper: only minor stochasticity).", "",
        f"Wall time {wall / 60:.1f} min, CPU time {time.process_time() / 60:.1f} min, {torch.get_num_threads()} "
        f"threads, load average at the end {os.getloadavg()[0]:.1f} (other processes share the CPU).",
    ])
    print("\n" + text)
    (out / "tables.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({"config": asdict(cfg), "table1": res1, "table2": res2,
                                                  "diversity": [div.dropout_on, div.dropout_off],
                                                  "wall_s": wall}, indent=1))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
