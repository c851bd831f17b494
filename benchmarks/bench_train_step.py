"""Benchmark: the course's Pix2Pix training step against a plain PyTorch step of the same architecture.

    python benchmarks/bench_train_step.py [--size 256] [--steps 5] [--warmup 2] [--device cuda|cpu]

The course's step is the solution of notebook 06 (`pix2pix_step`, with notebook 05's losses) on the
solution models of notebooks 03 and 04 (`reference()`): the paper's 256x256 U-Net generator (54.4 M
parameters) and 70x70 PatchGAN, batch 1, fp32. The plain step below is written from the paper in this
file, with nn.Sequential blocks and the losses inline, so the ratio shows what the course's structure
costs (it should be about 1). Both are measured in the same run, alternating, on the same inputs.

It prints: seconds per step and steps per second of each, their ratio, the FLOPs of one step (counted with
torch.utils.flop_counter; the guide's estimate is about 93 GFLOP), the matrix-multiply peak of this machine
(a large fp32 torch.matmul) and the share of it the step reaches; on CUDA also bf16 autocast and
channels_last. Then data loading: images per second of PairedImageDataset with the paper's jitter through
a DataLoader, next to the training steps per second. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("COURSE_SOLUTIONS", str(REPO / "solutions"))  # notebook 06 loads notebook 05 from there

from course_utils.checks import reference  # noqa: E402
from course_utils.training import init_weights  # noqa: E402

# ----------------------------------------------------------------------------- the plain step, from the paper


class PlainUNet(nn.Module):
    """The paper's generator: 8 x (conv 4x4 s2, BN except first and last, LeakyReLU 0.2) down; 7 x (convT 4x4 s2,
    BN, ReLU, dropout 0.5 in the first 3) up with skip concatenation; convT to 3 channels and tanh."""

    def __init__(self, base: int = 64, levels: int = 8) -> None:
        super().__init__()
        ch = [min(base * 2 ** i, base * 8) for i in range(levels)]
        self.down = nn.ModuleList()
        prev = 3
        for i, c in enumerate(ch):
            norm = 0 < i < levels - 1
            self.down.append(nn.Sequential(nn.Conv2d(prev, c, 4, 2, 1, bias=not norm),
                                           nn.BatchNorm2d(c) if norm else nn.Identity(), nn.LeakyReLU(0.2)))
            prev = c
        self.up = nn.ModuleList()
        for j, i in enumerate(reversed(range(levels - 1))):
            cin = prev if j == 0 else prev * 2
            self.up.append(nn.Sequential(nn.ConvTranspose2d(cin, ch[i], 4, 2, 1, bias=False), nn.BatchNorm2d(ch[i]),
                                         nn.ReLU(), nn.Dropout(0.5) if j < 3 else nn.Identity()))
            prev = ch[i]
        self.final = nn.Sequential(nn.ConvTranspose2d(prev * 2, 3, 4, 2, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()
        for block in self.up:
            x = torch.cat([block(x), skips.pop()], 1)
        return self.final(x)


class PlainPatchGAN(nn.Module):
    """C64-C128-C256-C512 then a 1-channel conv; 4x4 kernels, strides 2, 2, 2, 1, 1; no BN on the first."""

    def __init__(self, base: int = 64) -> None:
        super().__init__()
        c = base
        self.net = nn.Sequential(
            nn.Conv2d(6, c, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * c), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * c, 8 * c, 4, 1, 1, bias=False), nn.BatchNorm2d(8 * c), nn.LeakyReLU(0.2),
            nn.Conv2d(8 * c, 1, 4, 1, 1))

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, image], 1))


def plain_step(batch, models, optimizers, lambda_l1: float = 100.0) -> dict[str, float]:
    condition, real = batch
    gen, disc = models["gen"], models["disc"]
    fake = gen(condition)
    optimizers["disc"].zero_grad(set_to_none=True)
    real_logits, fake_logits = disc(condition, real), disc(condition, fake.detach())
    d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                    + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    d_loss.backward()
    optimizers["disc"].step()
    optimizers["gen"].zero_grad(set_to_none=True)
    logits = disc(condition, fake)
    adversarial = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    g_loss = adversarial + lambda_l1 * (fake - real).abs().mean()
    g_loss.backward()
    optimizers["gen"].step()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}


# ----------------------------------------------------------------------------- measuring


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make(kind: str, device: torch.device, channels_last: bool = False, levels: int = 8):
    """Generator (levels = log2 of the image size: 8 at 256 px, the paper's) and PatchGAN, N(0, 0.02), Adam."""
    torch.manual_seed(0)
    if kind == "course":
        models = {"gen": reference("03_pix2pix_generator").UNetGenerator(levels=levels),
                  "disc": reference("04_patchgan").PatchGAN()}
    else:
        models = {"gen": PlainUNet(levels=levels), "disc": PlainPatchGAN()}
    for m in models.values():
        init_weights(m, 0.02).to(device).train()
        if channels_last:
            m.to(memory_format=torch.channels_last)
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for k, m in models.items()}
    return models, optimizers


def flops_of_step(step, models, optimizers, batch) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    models, optimizers = copy.deepcopy(models), None
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) for k, m in models.items()}
    with FlopCounterMode(display=False) as counter:
        step(batch, models, optimizers)
    return counter.get_total_flops()


def matmul_peak(device: torch.device, dtype=torch.float32, n: int | None = None, repeat: int = 5) -> float:
    """FLOP/s of a large square matmul (2 n^3 FLOPs), the best of `repeat`."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    torch.matmul(a, b)
    sync(device)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def time_steps(variants: dict, batch, device, steps: int, warmup: int) -> dict[str, float]:
    """Median seconds per step of each variant, measured in alternation (so load changes hit all alike)."""
    times = {name: [] for name in variants}
    for i in range(warmup + steps):
        for name, (step, models, optimizers, context) in variants.items():
            sync(device)
            start = time.perf_counter()
            with context():
                step(batch, models, optimizers)
            sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def data_rate(size: int, seconds: float = 10.0, workers: int = 0) -> float:
    """Images per second of PairedImageDataset (train split, jitter on) through a DataLoader, batch 1."""
    from torch.utils.data import DataLoader

    from course_utils.data import PairedImageDataset, write_synthetic_facades

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "facades"
        write_synthetic_facades(root, 60, size=256, splits={"train": 1.0})
        loader = DataLoader(PairedImageDataset(root, "train", size=size), batch_size=1, shuffle=True,
                            num_workers=workers)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in loader:
                count += 1
                if time.perf_counter() - start >= seconds:
                    break
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    cpu = f"CPU, {torch.get_num_threads()} threads, {os.cpu_count()} cores"
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else cpu
    print(f"device: {name}; torch {torch.__version__}; {args.size}x{args.size}, batch 1, fp32; "
          f"median of {args.steps} steps after {args.warmup} warm-up")
    if device.type == "cpu" and hasattr(os, "getloadavg"):
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    g = torch.Generator().manual_seed(0)
    batch = tuple((torch.rand(1, 3, args.size, args.size, generator=g) * 2 - 1).to(device) for _ in range(2))
    course_step = reference("06_train_pix2pix").pix2pix_step
    levels = args.size.bit_length() - 1  # the bottleneck is 1x1
    if 2 ** levels != args.size:
        parser.error("--size must be a power of 2")
    from contextlib import nullcontext

    variants = {
        "course": (course_step, *make("course", device, levels=levels), nullcontext),
        "plain": (plain_step, *make("plain", device, levels=levels), nullcontext),
    }
    if device.type == "cuda":
        bf16 = lambda: torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False)  # noqa: E731
        cl_batch = tuple(x.contiguous(memory_format=torch.channels_last) for x in batch)
        variants["course bf16 autocast"] = (course_step, *make("course", device, levels=levels), bf16)
        variants["course channels_last"] = (lambda b, m, o: course_step(cl_batch, m, o),
                                            *make("course", device, True, levels), nullcontext)
        variants["course bf16 + channels_last"] = (lambda b, m, o: course_step(cl_batch, m, o),
                                                   *make("course", device, True, levels), bf16)

    flops = flops_of_step(course_step, variants["course"][1], variants["course"][2], batch)
    plain_flops = flops_of_step(plain_step, variants["plain"][1], variants["plain"][2], batch)
    peak = matmul_peak(device)
    peak_bf16 = matmul_peak(device, torch.bfloat16) if device.type == "cuda" else None
    print(f"FLOPs per step: course {flops / 1e9:.1f} GFLOP, plain {plain_flops / 1e9:.1f} GFLOP (guide: about 93 at "
          "256 px)")
    bf16_peak = f", {peak_bf16 / 1e12:.1f} TFLOP/s bf16" if peak_bf16 else ""
    print(f"matmul peak: {peak / 1e12:.2f} TFLOP/s fp32{bf16_peak}")

    seconds = time_steps(variants, batch, device, args.steps, args.warmup)
    print(f"{'variant':<30} {'s/step':>9} {'steps/s':>9} {'TFLOP/s':>8} {'of fp32 peak':>12}")
    for name, s in seconds.items():
        rate = flops / s
        print(f"{name:<30} {s:9.4f} {1 / s:9.2f} {rate / 1e12:8.3f} {rate / peak:11.1%}")
    print(f"ratio course / plain (time per step): {seconds['course'] / seconds['plain']:.3f}")
    if device.type == "cpu" and hasattr(os, "getloadavg"):
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    images = data_rate(args.size)
    print(f"data loading (PairedImageDataset, jitter, DataLoader, 0 workers): {images:.1f} images/s "
          f"vs training {1 / seconds['course']:.2f} steps/s (batch 1)")


if __name__ == "__main__":
    main()
