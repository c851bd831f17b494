"""The training step's fast path: bf16 autocast and channels_last where it pays.

On CPUs with native bf16 instructions (x86 with AVX512-BF16 or AMX) the step runs under
`torch.autocast(dtype=torch.bfloat16)` with the models and the batch in channels_last memory format: 1.5x
the fp32 step at 256 px on a 2-core AVX512-BF16 machine, 1.6x with Adam's fused step (`fuse_optimizers`).
Where bf16 would be emulated (a CPU with AVX2 only, Apple's MPS) it is slower than fp32, so the step stays in
fp32. On CUDA the default is fp32 too, with cuDNN's TF32 convolutions (PyTorch's default): on an H200 the
paper's recipe (256 px, batch 1) ran at 49 steps/s in fp32 and 24 with bf16 autocast, whose casts cost more
than they save on such small steps, and at batch 16 TF32 was still ahead (22 against 25 ms a step).
`amp=True` asks for bf16 on a GPU with native bf16 (Ampere or newer). `choose` says what it chose, and why, in one line.

    plan = choose(device, amp=None, channels_last=None)   # None: the fast path where it pays, else fp32
    with plan.context(), fp32_outputs(models.values(), plan):
        losses = step_fn(batch, models, optimizers)

Why bf16 only: bf16 has fp32's exponent range, so gradients do not underflow and no GradScaler is needed.
fp16 would need one inside the learner's step, which has no place for it. The losses are computed in fp32:
`fp32_outputs` casts every model's output (the generated image, the discriminator's logits) up to fp32,
so the L1 term and the binary cross-entropy see fp32 inputs. The weight-cast cache is off because the step
updates weights inside the region (D's optimizer step, then D is run again for G's loss).

Off in fast mode (tests and grading: fp32, deterministic) and when COURSE_FP32=1.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch import nn

from course_utils.environment import fast_mode, fp32_forced

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of the x86 instructions that compute in bf16


@cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU computes in bf16 natively (x86 AVX512-BF16 or AMX); False where bf16 is emulated."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(probe is not None for probe in probes):
        return any(probe() for probe in probes if probe is not None)
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine().lower() in {"x86_64", "amd64"} and cpuinfo.is_file():
        flags = set(cpuinfo.read_text(errors="replace").split())
        return any(flag in flags for flag in CPU_BF16_FLAGS)
    return False


def native_bf16(device: torch.device) -> bool:
    """True when `device` computes in bf16 natively: a CUDA GPU with bf16, or a CPU with `cpu_has_native_bf16`."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and cpu_has_native_bf16()


def _no_bf16_reason(device: torch.device) -> str:
    if device.type == "cpu":
        return f"this CPU has no native bf16 ({torch.backends.cpu.get_cpu_capability()}; bf16 would be emulated)"
    if device.type == "cuda":
        return "this GPU has no native bf16 (fp16 would need a GradScaler inside the step)"
    return f"bf16 autocast is not used on {device.type}"


@dataclass(frozen=True)
class Precision:
    """How the step runs: `dtype` of autocast (None: fp32), channels_last, and a one-line `note` on the choice.

    fused_optimizers: Adam and AdamW step with PyTorch's fused kernel (`fuse_optimizers`).
    """

    device_type: str
    dtype: torch.dtype | None
    channels_last: bool
    note: str
    fused_optimizers: bool = False

    @property
    def fast(self) -> bool:
        return self.dtype is not None

    def context(self) -> contextlib.AbstractContextManager:
        """The context the step runs in: autocast to `dtype` (weight-cast cache off), or nothing."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype, cache_enabled=False)


def choose(device: torch.device, amp: bool | None = None, channels_last: bool | None = None) -> Precision:
    """The precision of the training step on `device`.

    amp: None = the fast path on a CPU with native bf16 (fp32 on CUDA, in fast mode and with COURSE_FP32=1);
        True = ask for it (fp32 with a note where bf16 is not native); False = fp32.
    channels_last: None = with the fast path; True = also on CUDA in fp32; on a CPU only with the fast path.
    On a CPU, Adam and AdamW use their fused kernel except in fast mode and with COURSE_FP32=1, whatever `amp`
    says. On CUDA they keep PyTorch's default (foreach): the recipe ran at 49 steps/s on an H200 with it and at 38
    with the fused step, on two machines of the same kind rather than side by side, so the default stays.
    """
    fused = device.type == "cpu" and not fp32_forced() and not fast_mode()
    if fp32_forced():
        amp, why = False, "fp32: COURSE_FP32=1"
    elif amp is None and fast_mode():
        amp, why = False, "fp32: fast mode (tests and grading run in fp32)"
    else:
        why = "fp32: amp=False"
    if amp is None and device.type == "cuda":
        tf32 = " with TF32 convolutions" if torch.backends.cudnn.allow_tf32 else ""
        amp, why = False, f"fp32 on cuda{tf32}: faster than bf16 autocast at small batches (amp=True asks for bf16)"
    if amp is not False and not native_bf16(device):
        why = f"fp32: {_no_bf16_reason(device)}"
        amp = False
    dtype = torch.bfloat16 if amp is not False else None
    layout = dtype is not None if channels_last is None else bool(channels_last)
    if layout and device.type != "cuda" and dtype is None:
        layout = False
        why += "; channels_last only pays with bf16 on a CPU, so it is off"
    if dtype is not None:
        why = f"fast path: bf16 autocast{' + channels_last' if layout else ''} on {device.type} (native bf16)"
    return Precision(device.type, dtype, layout, why, fused)


def forced(device: torch.device, dtype: torch.dtype = torch.bfloat16, channels_last: bool = True) -> Precision:
    """The fast path even where bf16 is emulated (for measuring how it trains, not how fast)."""
    return Precision(device.type, dtype, channels_last, f"forced: {dtype} autocast on {device.type}")


def _to_fp32(module: nn.Module, inputs: tuple, output: object) -> object:
    if isinstance(output, torch.Tensor) and output.dtype in (torch.bfloat16, torch.float16):
        return output.float()
    if isinstance(output, (tuple, list)):
        return type(output)(_to_fp32(module, inputs, o) for o in output)
    return output


@contextlib.contextmanager
def fp32_outputs(models: Iterable[nn.Module], plan: Precision) -> Iterator[None]:
    """While inside, every model's output is cast up to fp32 under the fast path, so the losses are fp32."""
    handles = [model.register_forward_hook(_to_fp32) for model in models] if plan.fast else []
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def fuse_optimizers(optimizers: Iterable[torch.optim.Optimizer], plan: Precision) -> None:
    """Switch Adam and AdamW to PyTorch's fused step where `plan` says so and every parameter allows it.

    The same update in one pass over memory instead of one pass per operation: for the paper's 57 M parameters on
    2 CPU cores a step of both optimizers took 238 ms in the default for-loop, 162 with foreach, 37 fused. The
    learner's optimizer keeps its settings otherwise; an optimizer asked for foreach or differentiable is left as
    it is. State from earlier steps is kept (its step counters move to the parameters' device, as fused wants).
    """
    if not plan.fused_optimizers:
        return
    try:  # a private helper of torch.optim: without it (another PyTorch), keep the learner's optimizers as they are
        from torch.optim.optimizer import _get_fused_kernels_supported_devices
    except ImportError:
        return
    devices = set(_get_fused_kernels_supported_devices())
    for opt in optimizers:
        if type(opt) not in (torch.optim.Adam, torch.optim.AdamW):
            continue
        for group in opt.param_groups:
            params = group["params"]
            if group.get("fused") or group.get("foreach") or group.get("differentiable") or not all(
                    p.device.type in devices and p.dtype in (torch.float32, torch.float64) for p in params):
                continue
            group["fused"] = True
            for p in params:
                state = opt.state.get(p)
                if state and isinstance(state.get("step"), torch.Tensor):
                    state["step"] = state["step"].to(p.device, torch.float32)


def place(models: Iterable[nn.Module], device: torch.device, plan: Precision) -> None:
    """Move the models to `device` in place (optimizers keep their parameters), channels_last if `plan` says so."""
    for model in models:
        model.to(device)
        if plan.channels_last:
            model.to(memory_format=torch.channels_last)
