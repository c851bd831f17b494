"""How fast are synthetic facades, and how fast does the dataset feed them? One CPU core, 256 px.

    PYTHONPATH=. python benchmarks/bench_synthetic.py [--n 200] [--size 256]

Prints: synthetic (label map, photo) pairs rendered per second (in memory), the same with JPEG writing
(write_synthetic_facades), and PairedImageDataset's pairs per second with random jitter (decode, split,
resize to 286, crop, flip, scale to [-1, 1]) and without it. Each figure is the best of a few repeats,
since a shared machine adds noise only upwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import torch

from course_utils.data import PairedImageDataset, render_synthetic_facade, write_synthetic_facades


def best_rate(fn, n: int, repeats: int = 3) -> tuple[float, float]:
    """Items per second of wall time and of this process's CPU time: n items done by fn(), best of `repeats`.

    With one thread, the CPU-time rate is what one free core would give; on a busy machine the wall-time
    rate is lower, since other processes take turns on the core.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return n / min(wall), n / min(cpu)


def show(what: str, rates: tuple[float, float], note: str) -> None:
    print(f"{what:<23}: {rates[0]:7.1f} pairs/s wall, {rates[1]:7.1f} pairs/s per CPU second  ({note})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="pairs per measurement")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core, as the brief asks; cv2 too
    cv2.setNumThreads(1)
    n, size = args.n, args.size

    render = best_rate(lambda: [render_synthetic_facade(0, i, size) for i in range(n)], n)
    show("synthetic render", render, f"{size} px, in memory")

    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(1000))
        written = best_rate(lambda: write_synthetic_facades(Path(tmp) / f"set{next(counter)}", n, size=size), n)
        show("synthetic render+write", written, f"JPEG q95, {size * 2}x{size} files")
        root = Path(tmp) / "set0"
        for jitter in (True, False):
            ds = PairedImageDataset(root, "train", size=size, jitter=jitter)
            rate = best_rate(lambda ds=ds: [ds[i] for i in range(len(ds))], len(ds))
            show(f"dataset, jitter={jitter}", rate, f"{len(ds)} train files, {size} px tensors")


if __name__ == "__main__":
    main()
