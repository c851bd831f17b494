"""The fast path's choice: native bf16 only, off in fast mode and with COURSE_FP32=1, fp32 outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import precision

CPU = torch.device("cpu")


@pytest.fixture
def default_mode(monkeypatch):
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.delenv("COURSE_FP32", raising=False)


@pytest.mark.parametrize("native", [True, False])
def test_default_is_the_fast_path_only_with_native_bf16(default_mode, monkeypatch, native):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    plan = precision.choose(CPU)
    assert (plan.dtype, plan.channels_last) == ((torch.bfloat16, True) if native else (None, False))
    assert plan.note.startswith("fast path" if native else "fp32: this CPU has no native bf16")
    assert "\n" not in plan.note


@pytest.mark.parametrize("env, note", [("COURSE_FAST", "fp32: fast mode"), ("COURSE_FP32", "fp32: COURSE_FP32=1")])
def test_fast_mode_and_fp32_switch_turn_it_off(default_mode, monkeypatch, env, note):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv(env, "1")
    plan = precision.choose(CPU)
    assert plan.dtype is None and not plan.channels_last and plan.note.startswith(note)
    with plan.context():
        assert not torch.is_autocast_enabled("cpu")


def test_explicit_choices(default_mode, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.choose(CPU, amp=False).dtype is None
    assert precision.choose(CPU, amp=True, channels_last=False) == precision.Precision(
        "cpu", torch.bfloat16, False, "fast path: bf16 autocast on cpu (native bf16)", fused_optimizers=True)
    monkeypatch.setenv("COURSE_FAST", "1")
    assert precision.choose(CPU, amp=True).fast  # asked for explicitly: honoured in fast mode too
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    plan = precision.choose(CPU, amp=True, channels_last=True)
    assert plan.dtype is None and not plan.channels_last and "channels_last only pays with bf16" in plan.note


@pytest.mark.parametrize("env", [None, "COURSE_FAST", "COURSE_FP32"])
def test_optimizers_are_fused_outside_fast_mode_and_fp32(default_mode, monkeypatch, env):
    if env:
        monkeypatch.setenv(env, "1")
    assert precision.choose(CPU).fused_optimizers is (env is None)
    assert precision.choose(CPU, amp=False).fused_optimizers is (env is None)
    assert not precision.choose(torch.device("cuda")).fused_optimizers  # PyTorch's default there (see choose)


def _trained(optimizer_cls, fuse: bool, steps: int = 4, **kwargs) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1))  # no bias before BN:
    # its gradient is rounding noise, which Adam scales up to full steps, differently in each implementation
    opt = optimizer_cls(model.parameters(), lr=1e-2, **kwargs)
    x = torch.rand(2, 3, 8, 8)
    for i in range(steps):
        if i == 1:  # switched after a first step: the state it made is kept
            precision.fuse_optimizers([opt], precision.Precision("cpu", None, False, "", fused_optimizers=fuse))
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    return model, opt


@pytest.mark.parametrize("optimizer_cls", [torch.optim.Adam, torch.optim.AdamW])
def test_fused_optimizers_make_the_same_update(optimizer_cls):
    fused_model, fused_opt = _trained(optimizer_cls, True)
    plain_model, plain_opt = _trained(optimizer_cls, False)
    assert fused_opt.param_groups[0]["fused"] and not plain_opt.param_groups[0]["fused"]
    for a, b in zip(fused_model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(float(s["step"]) == 4 for s in fused_opt.state.values())


def test_fusing_leaves_other_optimizers_and_explicit_choices_alone():
    _, sgd = _trained(torch.optim.SGD, True)
    _, foreach = _trained(torch.optim.Adam, True, foreach=True)
    assert not sgd.param_groups[0].get("fused") and not foreach.param_groups[0]["fused"]


def test_cpu_detection_matches_cpuinfo():
    flags = open("/proc/cpuinfo").read().split() if precision.platform.system() == "Linux" else None
    if flags is None or precision.platform.machine() != "x86_64":
        pytest.skip("reads /proc/cpuinfo on x86-64 Linux")
    assert precision.cpu_has_native_bf16() == any(f in flags for f in precision.CPU_BF16_FLAGS)


def test_fp32_outputs_cast_up_under_autocast_and_are_removed():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 1, 1))
    x = torch.rand(1, 3, 8, 8)
    plan = precision.forced(CPU)
    with plan.context():
        assert model(x).dtype == torch.bfloat16  # what autocast alone gives the losses
        with precision.fp32_outputs([model], plan):
            out = model(x)
        assert out.dtype == torch.float32 and out.requires_grad
    assert not model._forward_hooks
    with precision.fp32_outputs([model], precision.choose(CPU, amp=False)):
        assert not model._forward_hooks  # fp32: nothing to cast


def test_cuda_default_is_fp32_and_bf16_on_request(default_mode, monkeypatch):
    """On CUDA fp32 (TF32 convolutions) was the faster step at batch 1 and 16 on an H200: bf16 only when asked."""
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)
    cuda = torch.device("cuda")
    plan = precision.choose(cuda)
    assert plan.dtype is None and not plan.channels_last
    assert plan.note.startswith("fp32 on cuda") and "amp=True" in plan.note and "\n" not in plan.note
    assert precision.choose(cuda, amp=True) == precision.Precision(
        "cuda", torch.bfloat16, True, "fast path: bf16 autocast + channels_last on cuda (native bf16)")
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    assert precision.choose(cuda, amp=True).note == "fp32: this GPU has no native bf16 (fp16 would need a " \
        "GradScaler inside the step)"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only")
def test_bf16_on_cuda_where_native(default_mode):
    cuda = torch.device("cuda")
    plan = precision.choose(cuda, amp=True)
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    assert plan.dtype == (torch.bfloat16 if native else None) and plan.channels_last == native
    x = torch.rand(1, 3, 8, 8, device=cuda)
    model = nn.Conv2d(3, 4, 3).to(cuda)
    with plan.context(), precision.fp32_outputs([model], plan):
        assert model(x).dtype == torch.float32


def test_grading_trains_in_fp32(monkeypatch):
    """The student's kernel is started with COURSE_FP32=1, so the fast path is off while grading."""
    from course_utils import environment

    monkeypatch.delenv("COURSE_FP32", raising=False)
    env = environment.grading_kernel_environ(environment.solutions_dir(), fast=False)
    monkeypatch.setenv("COURSE_FP32", env["COURSE_FP32"])
    assert environment.fp32_forced()
