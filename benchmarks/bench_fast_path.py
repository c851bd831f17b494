"""Does the fast path train as well as fp32? The same run twice, in fp32 and in bf16 autocast, compared.

    python benchmarks/bench_fast_path.py [--steps 200] [--size 64] [--g-channels 16] [--d-channels 16] [--batch 4]

From one seed (same initial weights, same batches, same dropout draws), the course's step (notebook 06's
solution on notebooks 03-04's models) runs `--steps` steps in fp32, then again with bf16 autocast,
channels_last and fp32 losses as the training harness's fast path runs it. bf16 is FORCED, even on a CPU
that only emulates it (slowly): this measures how it trains, not how fast (bench_train_step.py does that).

It prints, per loss: the largest gap between the two runs at any step, the gap of the 20-step moving
averages, and the correlation of the two curves; then the held-out L1 of both generators.

    python benchmarks/bench_fast_path.py --demo-schedule [--seeds 0 1] [--steps 800]

trains the demo's schedule instead (notebook 06's CPU default: 128 px, G 32 channels and 7 levels, D 16,
batch 1, 800 steps with the linear decay, through course_utils.training.train) once per seed in fp32 and once
on the fast path, and prints the held-out metrics of notebook 06 for each run, then each metric's gap between
the two means against the spread of the fp32 seeds. Where bf16 is emulated a run takes about 20 minutes.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("COURSE_SOLUTIONS", str(REPO / "solutions"))

from course_utils import precision  # noqa: E402
from course_utils.checks import reference  # noqa: E402
from course_utils.data import PairedImageDataset, synthetic_facades  # noqa: E402
from course_utils.training import init_weights  # noqa: E402


def batches(size: int, batch: int, steps: int) -> tuple[list, tuple[torch.Tensor, torch.Tensor]]:
    """`steps` training batches in a fixed order, and one held-out batch of 16, from the synthetic facades."""
    root = synthetic_facades(n=200, size=64)
    train = PairedImageDataset(root, "train", size=size)
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(steps):
        idx = torch.randint(len(train), (batch,), generator=g).tolist()
        pairs = [train[i] for i in idx]
        out.append(tuple(torch.stack(t) for t in zip(*pairs)))
    test = PairedImageDataset(root, "test", size=size)
    held = [test[i] for i in range(min(16, len(test)))]
    return out, tuple(torch.stack(t) for t in zip(*held))


def one_run(models0, data, plan: precision.Precision, seed: int = 0) -> tuple[dict[str, list[float]], float]:
    """Train copies of `models0` on `data` under `plan`; return the loss curves and the held-out L1 after."""
    device = torch.device("cpu")
    models = copy.deepcopy(models0)
    precision.place(models.values(), device, plan)
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for k, m in models.items()}
    step = reference("06_train_pix2pix").pix2pix_step
    curves: dict[str, list[float]] = {}
    torch.manual_seed(seed)
    train_batches, (labels, photos) = data
    for batch in train_batches:
        if plan.channels_last:
            batch = tuple(x.contiguous(memory_format=torch.channels_last) for x in batch)
        with plan.context(), precision.fp32_outputs(models.values(), plan):
            losses = step(batch, models, optimizers)
        for k, v in losses.items():
            curves.setdefault(k, []).append(float(v))
    with torch.no_grad():
        l1 = (models["gen"].eval()(labels).float() - photos).abs().mean().item()
    return curves, l1


def moving(values: list[float], n: int = 20) -> np.ndarray:
    return np.convolve(values, np.ones(n) / n, mode="valid")


DEMO_METRICS = ("L1", "PSNR", "SSIM", "per-pixel acc", "per-class acc", "class IoU", "KID (course features)")


def demo_run(seed: int, steps: int, bf16: bool) -> tuple[dict[str, float], float]:
    """Notebook 06's CPU default trained from `seed` (fp32 or the fast path); its held-out metrics, s per step."""
    from torch.utils.data import DataLoader

    from course_utils.data import facades_root
    from course_utils.evaluation import evaluate, fcn_score, kid_course_features
    from course_utils.segmenter import CourseFeatures, course_segmenter
    from course_utils.training import linear_decay, train

    root = facades_root(synthetic=True, download=False).root
    train_set, test_set = (PairedImageDataset(root, split, size=128) for split in ("train", "test"))
    torch.manual_seed(seed)
    models = {"gen": init_weights(reference("03_pix2pix_generator").UNetGenerator(levels=7, base_channels=32)),
              "disc": init_weights(reference("04_patchgan").PatchGAN(base_channels=16))}
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for k, m in models.items()}
    native = precision.cpu_has_native_bf16
    precision.cpu_has_native_bf16 = (lambda: True) if bf16 else (lambda: False)  # forced, as the runs above
    try:
        start = time.perf_counter()
        train(models, optimizers, reference("06_train_pix2pix").pix2pix_step, train_set, steps=steps,
              lr_schedule=linear_decay(steps), device="cpu", amp=bf16, seed=seed, progress=False)
        per_step = (time.perf_counter() - start) / steps
    finally:
        precision.cpu_has_native_bf16 = native
    gen, segmenter = models["gen"].float(), course_segmenter(64)
    metrics = evaluate(gen, DataLoader(test_set, batch_size=8), "cpu")
    metrics.update(fcn_score(gen, test_set, segmenter=segmenter, device="cpu")["generated"])
    metrics.update(kid_course_features(gen, DataLoader(test_set, batch_size=16), features=CourseFeatures(segmenter),
                                       device="cpu"))
    return metrics, per_step


def demo_schedule(seeds: list[int], steps: int) -> None:
    print(f"the demo's schedule: {steps} steps at 128 px, batch 1, seeds {seeds}; native bf16 here: "
          f"{precision.native_bf16(torch.device('cpu'))}")
    print(f"{'run':<12}" + "".join(f"{m.replace(' (course features)', ''):>15}" for m in DEMO_METRICS) + "   s/step")
    runs: dict[str, list[dict[str, float]]] = {"fp32": [], "bf16": []}
    for seed in seeds:
        for name in runs:
            metrics, per_step = demo_run(seed, steps, bf16=name == "bf16")
            runs[name].append(metrics)
            print(f"{name + ' seed ' + str(seed):<12}" + "".join(f"{metrics[m]:>15.4f}" for m in DEMO_METRICS)
                  + f"{per_step:>9.3f}", flush=True)
    print("metric: fp32 mean, bf16 mean, gap; noise = the range of the fp32 seeds")
    for m in DEMO_METRICS:
        a, b = np.array([r[m] for r in runs["fp32"]]), np.array([r[m] for r in runs["bf16"]])
        gap, noise = b.mean() - a.mean(), np.ptp(a)
        verdict = ("one seed: no estimate of the noise" if len(a) < 2 else
                   "within noise" if abs(gap) <= noise else "OUTSIDE the fp32 seeds' range")
        print(f"{m}: fp32 {a.mean():.4f}, bf16 {b.mean():.4f}, gap {gap:+.4f}, noise {noise:.4f}: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-schedule", action="store_true", help="the demo's schedule, held-out metrics")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="with --demo-schedule")
    parser.add_argument("--steps", type=int, default=None, help="default 200 (800 with --demo-schedule)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--g-channels", type=int, default=16)
    parser.add_argument("--d-channels", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    if args.demo_schedule:
        demo_schedule(args.seeds, args.steps or 800)
        return
    args.steps = args.steps or 200
    torch.manual_seed(0)
    levels = args.size.bit_length() - 1
    models0 = {"gen": init_weights(reference("03_pix2pix_generator").UNetGenerator(levels=levels,
                                                                                   base_channels=args.g_channels)),
               "disc": init_weights(reference("04_patchgan").PatchGAN(base_channels=args.d_channels))}
    data = batches(args.size, args.batch, args.steps)
    cpu = torch.device("cpu")
    print(f"{args.steps} steps at {args.size} px, batch {args.batch}, G {args.g_channels} / D {args.d_channels} "
          f"channels, seed 0; native bf16 here: {precision.native_bf16(cpu)}")
    results = {}
    for name, plan in [("fp32", precision.choose(cpu, amp=False)), ("bf16", precision.forced(cpu))]:
        start = time.perf_counter()
        results[name] = one_run(models0, data, plan)
        print(f"{name}: {time.perf_counter() - start:.0f} s ({plan.note})")
    (fp32, l1_fp32), (bf16, l1_bf16) = results["fp32"], results["bf16"]
    print(f"{'loss':<8} {'max gap':>9} {'max gap (avg 20)':>17} {'correlation':>12} {'mean fp32':>10}")
    for k in fp32:
        a, b = np.array(fp32[k]), np.array(bf16[k])
        smooth = np.abs(moving(a) - moving(b)).max() if len(a) >= 20 else float("nan")
        print(f"{k:<8} {np.abs(a - b).max():9.4f} {smooth:17.4f} {np.corrcoef(a, b)[0, 1]:12.3f} {a.mean():10.4f}")
    print(f"held-out L1 after {args.steps} steps: fp32 {l1_fp32:.4f}, bf16 {l1_bf16:.4f}")


if __name__ == "__main__":
    main()
