"""Benchmark: the course's Pix2Pix training step, in fp32 and on the fast path, against a plain PyTorch step.

    python benchmarks/bench_train_step.py [--sizes 256 128] [--batch 1] [--steps 5] [--warmup 2]
                                          [--device cuda|cpu] [--force-bf16] [--no-data]

The course's step is the solution of notebook 06 (`pix2pix_step`, with notebook 05's losses) on the
solution models of notebooks 03 and 04 (`reference()`): the paper's U-Net generator (54.4 M parameters at
256 px) and 70x70 PatchGAN, batch 1 (--batch N for more). The plain step below is written from the paper in
this file, with nn.Sequential blocks and the losses inline. At each size three variants run in the same process,
alternating step by step on the same inputs: "plain fp32", "course fp32" (their ratio shows what the
course's structure costs: about 1) and "course fast path", the step as the training harness runs it by
default (course_utils.precision): on a CPU Adam's fused step, and with native bf16 also bf16 autocast,
channels_last and fp32 losses; on CUDA fp32 with TF32 convolutions, PyTorch's default there (the other fp32
variants run with TF32 off, so that "plain fp32" is fp32). On CUDA also bf16 and fp16 autocast (+
channels_last) and fp32 channels_last.

It prints the FLOPs of one step (torch.utils.flop_counter; the guide's estimate is about 93 GFLOP at
256 px), the matmul peaks (fp32; bf16 where native) and the share of them each variant reaches, the load
average, the data loading rate, and last `speedup fast/plain at N px: X.XX` per size (goal on a CPU with
native bf16: >= 1.5 at 256 px, >= 1.25 at 128 px; "n/a" where the fast path is plain fp32, in fast mode or
with COURSE_FP32=1). Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("COURSE_SOLUTIONS", str(REPO / "solutions"))  # notebook 06 loads notebook 05 from there

from course_utils import precision  # noqa: E402
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


@contextmanager
def tf32_convolutions():
    """cuDNN convolutions in TF32 while inside (PyTorch's default on CUDA; main() turns it off for fp32)."""
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = before


def fast_variant(step, device: torch.device, levels: int, batch, plan: precision.Precision, tf32: bool = False):
    """The course step as the harness runs it under `plan`: autocast, channels_last batch, fp32 model outputs."""
    models, optimizers = make("course", device, plan.channels_last, levels)
    precision.fuse_optimizers(optimizers.values(), plan)  # Adam's fused step, as the harness takes it
    if plan.channels_last:
        batch = tuple(x.contiguous(memory_format=torch.channels_last) for x in batch)

    def context() -> ExitStack:
        stack = ExitStack()
        if tf32:
            stack.enter_context(tf32_convolutions())
        stack.enter_context(plan.context())
        stack.enter_context(precision.fp32_outputs(models.values(), plan))
        return stack

    return (lambda b, m, o: step(batch, m, o)), models, optimizers, context


def fast_plans(device: torch.device, force: bool) -> dict[str, tuple[precision.Precision, bool]]:
    """Name -> (precision plan, TF32 convolutions) of the variants besides fp32. "course fast path" is the step as
    the harness runs it by default: on a CPU fused Adam, with bf16 autocast + channels_last where bf16 is native
    (forced with --force-bf16); on CUDA fp32 with TF32 convolutions, and beside it bf16 and fp16 autocast, fp32 cl."""
    if device.type != "cuda":
        return {"course fast path": (precision.forced(device) if force else precision.choose(device, amp=True), False)}
    tf32 = precision.Precision("cuda", None, False, "fp32 with TF32 convolutions on cuda (the harness's default)")
    return {"course fast path": (precision.forced(device), False) if force else (tf32, True),
            "course bf16 autocast + cl": (precision.forced(device), False),
            "course fp16 autocast + cl": (precision.forced(device, torch.float16), False),
            "course fp32 channels_last": (precision.Precision("cuda", None, True, "fp32, channels_last"), False)}


def bench_size(size: int, device: torch.device, args, peaks: dict[str, float]) -> tuple[float | None,
                                                                                       precision.Precision]:
    """Time the variants at `size`, print their table, return the speedup of the fast path over the plain step."""
    g = torch.Generator().manual_seed(0)
    batch = tuple((torch.rand(args.batch, 3, size, size, generator=g) * 2 - 1).to(device) for _ in range(2))
    course_step = reference("06_train_pix2pix").pix2pix_step
    levels = size.bit_length() - 1  # the bottleneck is 1x1
    variants = {"plain fp32": (plain_step, *make("plain", device, levels=levels), nullcontext),
                "course fp32": (course_step, *make("course", device, levels=levels), nullcontext)}
    plans = fast_plans(device, args.force_bf16)
    for name, (plan, tf32) in plans.items():
        if plan.fast or plan.channels_last or tf32 or plan.fused_optimizers:  # else it would be "course fp32" again
            variants[name] = fast_variant(course_step, device, levels, batch, plan, tf32)
    flops = flops_of_step(course_step, variants["course fp32"][1], variants["course fp32"][2], batch)
    seconds = time_steps(variants, batch, device, args.steps, args.warmup)
    plan, tf32 = plans["course fast path"]
    print(f"\n{size}x{size}, batch {args.batch}: {flops / 1e9:.1f} GFLOP per step; {plan.note}")
    print(f"{'variant':<28} {'s/step':>8} {'steps/s':>8} {'TFLOP/s':>8} {'of fp32 peak':>12} {'of bf16 peak':>12}")
    for name, s in seconds.items():
        rate = flops / s
        bf16 = f"{rate / peaks['bf16']:11.1%}" if peaks.get("bf16") else f"{'n/a':>11}"
        print(f"{name:<28} {s:8.4f} {1 / s:8.2f} {rate / 1e12:8.3f} {rate / peaks['fp32']:11.1%} {bf16}")
    print(f"ratio course fp32 / plain fp32 (time per step): {seconds['course fp32'] / seconds['plain fp32']:.3f}")
    fast = seconds.get("course fast path")
    return (seconds["plain fp32"] / fast if fast else None), plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--batch", type=int, default=1, help="images per step (the paper: 1)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--force-bf16", action="store_true", help="bf16 autocast even where it is emulated")
    parser.add_argument("--no-data", dest="data", action="store_false", help="skip the data loading rate")
    args = parser.parse_args()
    device = torch.device(args.device)
    if any(size < 16 or size & (size - 1) for size in args.sizes):
        parser.error("--sizes must be powers of 2, at least 16")
    cpu = f"CPU ({torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} threads, {os.cpu_count()} cores"
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else cpu
    print(f"device: {name}; torch {torch.__version__}; native bf16: {precision.native_bf16(device)}; "
          f"median of {args.steps} steps after {args.warmup} warm-up, variants alternating")
    if hasattr(os, "getloadavg"):
        print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    peaks = {"fp32": matmul_peak(device)}
    if precision.native_bf16(device):
        peaks["bf16"] = matmul_peak(device, torch.bfloat16)
    print("matmul peak: " + ", ".join(f"{v / 1e12:.3f} TFLOP/s {k}" for k, v in peaks.items())
          + ("" if "bf16" in peaks else " (bf16 not native here: no bf16 peak)"))
    speedups = {size: bench_size(size, device, args, peaks) for size in args.sizes}
    if hasattr(os, "getloadavg"):
        print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.data:
        images = data_rate(min(args.sizes[0], 256))
        print(f"data loading (PairedImageDataset, jitter, DataLoader, 0 workers): {images:.1f} images/s")
    at = "" if args.batch == 1 else f", batch {args.batch}"
    for size, (speedup, plan) in speedups.items():
        if speedup is None:
            print(f"speedup fast/plain at {size} px{at}: n/a (the fast path is {plan.note}; --force-bf16 times it)")
        else:
            print(f"speedup fast/plain at {size} px{at}: {speedup:.2f}" + ("" if plan.fast else f" ({plan.note})"))


if __name__ == "__main__":
    main()
