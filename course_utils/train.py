"""Train Pix2Pix outside the notebooks: the paper's recipe, in one process or on N GPUs with torchrun.

    python -m course_utils.train                                  # 256 px, 200 epochs, batch 1, one device
    torchrun --nproc_per_node 4 -m course_utils.train             # the same on 4 GPUs (DistributedDataParallel)
    python -m course_utils.train --code notebooks                 # your models and step (notebooks 03-06)
    python -m course_utils.train --size 64 --steps 200 --synthetic --run-dir runs/small

The models are notebook 03's UNetGenerator and notebook 04's PatchGAN, trained by notebook 06's
`pix2pix_step` with notebook 05's losses: the solutions' by default, or the ones in the folder `--code`
names. The harness (course_utils.training) adds the paper's schedule (Adam 2e-4, betas (0.5, 0.999),
constant for half the epochs, then linear to 0), atomic checkpoints, exact resume (run the same command
again), the progress bar and, at the end, the held-out metrics and the results page (run-dir/index.html).

Under torchrun each of the N processes trains on its shard of every epoch (DistributedSampler), so an
epoch takes 1/N of the steps and each step sees N images (N x the batch size); the lr is kept at the
paper's. Rank 0 alone writes; a restart must use the same N (or one process, to finish or to evaluate).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils import distributed
from course_utils.environment import get_device, solutions_dir
from course_utils.training import StepFn, TrainState, init_weights, linear_decay, train

NOTEBOOKS = ("03_pix2pix_generator", "04_patchgan", "06_train_pix2pix")  # 06 loads 05's losses itself


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    """Work in `folder` for a while: notebook 06 imports notebook 05 from the current folder."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def load_code(folder: Path | None = None) -> tuple[types.ModuleType, ...]:
    """Notebooks 03, 04 and 06 of `folder` (default: the solutions) as modules, in that order."""
    from course_utils.notebooks import definitions

    folder = Path(folder or solutions_dir()).resolve()
    missing = [name for name in NOTEBOOKS if not (folder / f"{name}.ipynb").is_file()]
    if missing:
        raise FileNotFoundError(f"expected the notebooks {', '.join(missing)} in {folder} (--code names the folder)")
    with _inside(folder):
        return tuple(definitions(folder / f"{name}.ipynb") for name in NOTEBOOKS)


@dataclass
class Recipe:
    """What one training run needs: models, optimizers, step, data, and its length in steps."""

    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    step_fn: StepFn
    train_set: Any
    test_set: Any
    total: int
    synthetic: bool


def recipe(args: argparse.Namespace) -> Recipe:
    """The paper's recipe at the sizes in `args` (see `parser`)."""
    from functools import partial

    from course_utils.data import PairedImageDataset, facades_root

    nb03, nb04, nb06 = load_code(args.code)
    levels = args.levels or int(math.log2(args.size))
    torch.manual_seed(args.seed)
    models = {"gen": init_weights(nb03.UNetGenerator(levels=levels, base_channels=args.g_channels)),
              "disc": init_weights(nb04.PatchGAN(base_channels=args.d_channels))}
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=args.lr, betas=(0.5, 0.999)) for k, m in models.items()}
    place = distributed.world()
    if place.main:
        facades = facades_root(synthetic=True if args.synthetic else None)  # rank 0 fetches, the others wait
    distributed.barrier(place)
    facades = facades_root(synthetic=True if args.synthetic else None, download=False)
    train_set = PairedImageDataset(facades.root, "train", size=args.size)
    per_epoch = math.ceil(distributed.per_rank(len(train_set), place) / args.batch_size)
    total = args.steps or args.epochs * per_epoch
    return Recipe(models, optimizers, partial(nb06.pix2pix_step, lambda_l1=args.lambda_l1), train_set,
                  PairedImageDataset(facades.root, "test", size=args.size), total, facades.synthetic)


def run(args: argparse.Namespace, plan: Recipe) -> TrainState:
    """Train `plan` with the harness; then, on rank 0, the held-out metrics and the results page."""
    from course_utils.evaluation import evaluate, write_results_page

    place = distributed.world()
    state = train(plan.models, plan.optimizers, plan.step_fn, plan.train_set, steps=plan.total,
                  batch_size=args.batch_size, run_dir=args.run_dir, lr_schedule=linear_decay(plan.total),
                  checkpoint_every=args.checkpoint_every, sample_every=args.sample_every,
                  sample_batch=next(iter(DataLoader(plan.test_set, batch_size=4))), resume=not args.restart,
                  amp=False if args.fp32 else True if args.bf16 else None, seed=args.seed)
    if args.evaluate and place.main and not state.interrupted:
        gen = plan.models["gen"]
        device = next(gen.parameters()).device
        metrics = evaluate(gen, DataLoader(plan.test_set, batch_size=8), device)
        print("held-out: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        labels, photos = next(iter(DataLoader(plan.test_set, batch_size=4)))
        with torch.no_grad():
            generated = gen.eval()(labels.to(device)).float().cpu()
        shown = {**metrics, "steps": state.step, "image size": args.size, "processes": place.size,
                 "data": "synthetic facades" if plan.synthetic else "CMP facades"}
        page = write_results_page(args.run_dir, (labels, generated, photos), shown, state.history,
                                  title="Pix2Pix on facades: labels -> photo")
        print(f"results page: {page.resolve()}")
    return state


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m course_utils.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--code", type=Path, default=None, help="folder of notebooks 03-06 (default: the solutions)")
    p.add_argument("--run-dir", type=Path, default=Path("runs/facades"), help="checkpoint, samples, results page")
    p.add_argument("--size", type=int, default=256, help="image size (the paper: 256)")
    p.add_argument("--levels", type=int, default=None, help="generator levels (default log2(size): 1x1 bottleneck)")
    p.add_argument("--g-channels", type=int, default=64)
    p.add_argument("--d-channels", type=int, default=64)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--steps", type=int, default=None, help="steps per process instead of --epochs")
    p.add_argument("--batch-size", type=int, default=1, help="per process")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lambda-l1", type=float, default=100.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--synthetic", action="store_true", help="the course's synthetic facades, not the real ones")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--fp32", action="store_true", help="no bf16 fast path (default: course_utils.precision)")
    precision.add_argument("--bf16", action="store_true", help="bf16 autocast wherever bf16 is native")
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--sample-every", type=int, default=2000)
    p.add_argument("--restart", action="store_true", help="start over instead of resuming the run-dir's checkpoint")
    p.add_argument("--no-evaluate", dest="evaluate", action="store_false", help="skip the metrics and results page")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 64 <= args.size <= 512 or args.size & (args.size - 1):
        parser().error(f"--size must be 64, 128, 256 or 512 (the data set's sizes), got {args.size}")
    place = distributed.init_from_torchrun()
    device = distributed.device_of(place) if place.size > 1 else get_device()
    if place.main:
        print(f"{place.size} process(es) on {device}; run dir {args.run_dir}", flush=True)
    try:
        state = run(args, recipe(args))
    finally:
        if place.size > 1:
            torch.distributed.destroy_process_group()
    return 130 if state.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
