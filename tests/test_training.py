"""Tests of the training harness on a toy problem.

The step function here is a toy (two independent L2 regressions), not Pix2Pix: the harness must work with
whatever step the learner writes. The toy models have dropout and batch norm, and the toy data set draws
its random jitter from the torch, NumPy and Python generators, so an exact resume needs all of them.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_utils import precision, training
from course_utils.training import (
    CHECKPOINT_NAME,
    CheckpointError,
    init_weights,
    linear_decay,
    load_checkpoint,
    load_models,
    train,
)

TOTAL = 10  # steps of a full toy run; 10 items in batches of 3 = 4 batches per epoch, so runs cross epochs
HALF = 5  # the interruption point: in the middle of the second epoch


class Jitter(Dataset):
    """10 pairs of 3x8x8 images with a random flip (torch), gain (NumPy) and offset (Python random)."""

    def __init__(self, n: int = 10) -> None:
        g = torch.Generator().manual_seed(1234)
        self.x = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1
        self.y = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.x[i], self.y[i]
        if torch.rand(()) < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        return x * float(1 + 0.1 * np.random.rand()), y + 0.05 * random.random()


def toy_model(channels: int = 8, extra: bool = False) -> nn.Module:
    layers = [nn.Conv2d(3, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.Dropout(0.5),
              nn.Conv2d(channels, 3, 3, padding=1)]
    if extra:
        layers.append(nn.Conv2d(3, 3, 1))
    return nn.Sequential(*layers)


def toy_step(batch, models, optimizers) -> dict[str, float]:
    """Toy step: "gen" regresses the target, "disc" regresses the input from the detached output."""
    x, y = batch
    out = models["gen"](x)
    loss_gen = ((out - y) ** 2).mean()
    optimizers["gen"].zero_grad()
    loss_gen.backward()
    optimizers["gen"].step()
    loss_disc = ((models["disc"](out.detach()) - x) ** 2).mean()
    optimizers["disc"].zero_grad()
    loss_disc.backward()
    optimizers["disc"].step()
    return {"gen": loss_gen.item(), "disc": loss_disc}  # a tensor on purpose: the harness takes both


def make(init_seed: int = 0, channels: int = 8, extra: bool = False):
    torch.manual_seed(init_seed)
    models = {"gen": toy_model(channels, extra), "disc": toy_model(channels)}
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=1e-2, betas=(0.5, 0.999)) for k, m in models.items()}
    return models, optimizers


def run(ckpt_dir, steps: int = TOTAL, init_seed: int = 0, step_fn=toy_step, models=None, **kwargs):
    if models is None:
        models, optimizers = make(init_seed)
    else:
        models, optimizers = models
    kwargs.setdefault("batch_size", 3)
    kwargs.setdefault("lr_schedule", linear_decay(TOTAL, HALF))
    kwargs.setdefault("device", "cpu")
    state = train(models, optimizers, step_fn, kwargs.pop("data", Jitter()), steps=steps,
                  checkpoint_dir=ckpt_dir, progress=False, **kwargs)
    return state, models, optimizers


def scramble_rngs() -> None:
    """What a fresh process or a notebook that ran other cells would have: unrelated random states."""
    torch.manual_seed(987)
    np.random.seed(654)
    random.seed(321)


def assert_same_run(a, b) -> None:
    assert a[0].history.keys() == b[0].history.keys()
    for key in a[0].history:
        np.testing.assert_allclose(a[0].history[key], b[0].history[key], rtol=0, atol=1e-6, err_msg=key)
    for name in a[1]:
        for (k, va), vb in zip(a[1][name].state_dict().items(), b[1][name].state_dict().values()):
            torch.testing.assert_close(va, vb, rtol=0, atol=1e-6, msg=f"{name}.{k}")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One CPU thread: on tensors this small, waking a second thread costs more than it saves (10x on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def straight(one_thread, tmp_path_factory):
    """The reference: TOTAL steps without a break (writing samples too, which must not change the run)."""
    run_dir = tmp_path_factory.mktemp("straight")
    x, y = Jitter()[0]
    return run(run_dir, run_dir=run_dir, sample_every=3, sample_batch=(x[None], y[None]))


def test_resume_continues_exactly(tmp_path, straight):
    first = run(tmp_path, HALF)
    assert first[0].step == HALF and load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == HALF
    scramble_rngs()
    resumed = run(tmp_path, TOTAL, init_seed=99)  # other initial weights: the checkpoint must replace them
    assert resumed[0].step == TOTAL and resumed[0].history["step"] == list(range(1, TOTAL + 1))
    assert_same_run(resumed, straight)


def test_resume_in_a_new_process(tmp_path, straight):
    run(tmp_path, HALF)
    script = (
        "import sys, json, torch; torch.set_num_threads(1); sys.path.insert(0, sys.argv[1]); import test_training as "
        "t; "
        "s, models, _ = t.run(sys.argv[2], t.TOTAL, init_seed=5); print(json.dumps(s.history))"
    )
    paths = [str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    out = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120, check=True)
    import json

    history = json.loads(out.stdout.strip().splitlines()[-1])
    for key in straight[0].history:
        np.testing.assert_allclose(history[key], straight[0].history[key], rtol=0, atol=1e-6, err_msg=key)


def test_data_order_depends_on_seed_and_checkpoint_records_it(tmp_path, straight):
    other = run(tmp_path, HALF, seed=1)
    assert not np.allclose(other[0].history["gen"], straight[0].history["gen"][:HALF])
    data = load_checkpoint(tmp_path / CHECKPOINT_NAME)["data"]
    assert data == {"seed": 1, "epoch": 1, "batch_in_epoch": 1, "batches_per_epoch": 4, "batch_size": 3,
                    "shuffle": True, "world_size": 1}


def test_dataloader_gives_the_same_run_as_the_dataset(tmp_path, straight):
    loader = DataLoader(Jitter(), batch_size=3, shuffle=True)
    assert_same_run(run(None, data=loader, batch_size=99), straight)  # the loader's batch size wins
    with pytest.raises(ValueError, match="batch_sampler"):
        run(None, data=DataLoader(Jitter(), batch_sampler=[[0, 1], [2, 3]]))


def test_epochs_count_whole_passes(tmp_path):
    state, _, _ = run(None, steps=None, epochs=2, lr_schedule=None)
    assert state.step == 8  # 2 epochs of 4 batches
    with pytest.raises(ValueError, match="exactly one"):
        run(None, steps=3, epochs=2)


def test_keyboard_interrupt_inside_step_saves_and_resumes(tmp_path, straight):
    calls = []

    def interrupted_step(batch, models, optimizers):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # in the middle of the 4th step
        return toy_step(batch, models, optimizers)

    state, _, _ = run(tmp_path, TOTAL, step_fn=interrupted_step, checkpoint_every=100)
    assert state.interrupted and state.step == 3
    ckpt = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt["step"] == 3 and ckpt["partial_step"] and len(ckpt["history"]["gen"]) == 3
    np.testing.assert_allclose(ckpt["history"]["gen"], straight[0].history["gen"][:3], atol=1e-6)

    with pytest.warns(UserWarning, match="middle of step 4"):
        resumed, _, _ = run(tmp_path, TOTAL)
    assert not resumed.interrupted and resumed.step == TOTAL and len(resumed.history["gen"]) == TOTAL
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == TOTAL


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="needs POSIX signals")
def test_ctrl_c_stops_after_the_step_and_resume_is_exact(tmp_path, straight):
    calls = []

    def step_with_ctrl_c(batch, models, optimizers):
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGINT)  # what "interrupt kernel" sends; the step must still finish
        return toy_step(batch, models, optimizers)

    state, _, _ = run(tmp_path, TOTAL, step_fn=step_with_ctrl_c, checkpoint_every=100)
    assert state.interrupted and state.step == 4
    ckpt = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt["step"] == 4 and not ckpt["partial_step"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler given back
    scramble_rngs()
    assert_same_run(run(tmp_path, TOTAL, init_seed=3), straight)


def test_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_save = torch.save
    seen = {}

    def flaky_save(obj, f, *args, **kwargs):
        if "before" not in seen and (tmp_path / CHECKPOINT_NAME).exists():
            seen["before"] = (tmp_path / CHECKPOINT_NAME).read_bytes()
            f.write(b"PK\x03\x04 half a checkpoint")  # a partial write, then the disk fills up
            raise OSError("No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", flaky_save)
    with pytest.raises(OSError, match="No space"):
        run(tmp_path, TOTAL, checkpoint_every=2)
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == seen["before"]
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]  # no temporary file left behind


@pytest.mark.parametrize("kind, message", [("channels", r"first shape mismatch at '0\.weight': \(8, 3, 3, 3\) in the "
                                                       r"checkpoint, \(4, 3, 3, 3\) in the model"),
                                           ("extra", r"missing keys \['5\.weight', '5\.bias'\]")])
def test_other_architecture_is_refused_and_nothing_changes(tmp_path, kind, message):
    run(tmp_path, 2)
    path = tmp_path / CHECKPOINT_NAME
    before = path.read_bytes()
    models, optimizers = make(7, channels=4) if kind == "channels" else make(7, extra=True)
    weights = {k: {n: t.clone() for n, t in m.state_dict().items()} for k, m in models.items()}
    with pytest.raises(CheckpointError, match=message) as err:
        run(tmp_path, TOTAL, models=(models, optimizers))
    assert str(path) in str(err.value) and "'gen'" in str(err.value)
    assert path.read_bytes() == before
    for k, m in models.items():  # not even the models that did fit ("disc") were loaded
        for n, t in m.state_dict().items():
            assert torch.equal(t, weights[k][n])


def test_resume_without_the_schedule_is_refused(tmp_path):
    run(tmp_path, 2)
    with pytest.raises(CheckpointError, match="lr_schedule"):
        run(tmp_path, TOTAL, lr_schedule=None)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_named_and_left_alone(tmp_path, damage):
    run(tmp_path, 2)
    path = tmp_path / CHECKPOINT_NAME
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 10, "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(CheckpointError, match="corrupt or truncated") as err:
        run(tmp_path, TOTAL)
    assert str(path) in str(err.value)
    assert path.read_bytes() == damaged


def test_load_models_for_inference(tmp_path):
    _, models, _ = run(tmp_path, 3)
    fresh = toy_model()
    assert load_models(tmp_path / CHECKPOINT_NAME, {"gen": fresh}) == 3
    for a, b in zip(fresh.state_dict().values(), models["gen"].state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_models(tmp_path / CHECKPOINT_NAME, {"gen": toy_model(4)})
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_models(tmp_path / "nope.pt", {"gen": fresh})


def test_linear_decay_is_constant_then_linear_to_zero():
    f = linear_decay(10, 5)
    assert [f(t) for t in range(12)] == pytest.approx([1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0, 0])
    assert linear_decay(80_000)(40_000) == 1 and linear_decay(80_000)(60_000) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        linear_decay(10, 10)


def test_schedule_sets_the_lr_of_every_step(tmp_path):
    seen = []

    def step(batch, models, optimizers):
        seen.append([opt.param_groups[0]["lr"] for opt in optimizers.values()])
        return toy_step(batch, models, optimizers)

    _, _, optimizers = run(None, TOTAL, step_fn=step)
    expected = [1e-2 * linear_decay(TOTAL, HALF)(t) for t in range(TOTAL)]
    np.testing.assert_allclose(seen, np.array([expected, expected]).T, rtol=1e-9, atol=0)
    assert all(opt.param_groups[0]["lr"] == 0 for opt in optimizers.values())


def test_amp_and_channels_last_are_noops_on_a_cpu_without_bf16(tmp_path, straight, monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    training._warned.clear()
    with pytest.warns(UserWarning, match="amp/channels_last asked for, but fp32: this CPU has no native bf16"):
        result = run(None, amp=True, channels_last=True)
    assert_same_run(result, straight)
    assert all(p.is_contiguous() for m in result[1].values() for p in m.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per session: a re-run cell stays quiet
        run(None, 1, amp=True, channels_last=True)


def test_fast_path_on_a_cpu_with_bf16(monkeypatch, capsys):
    """Where the CPU has native bf16, the default step runs in bf16 autocast, channels_last, with fp32 losses."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.delenv("COURSE_FP32", raising=False)
    seen = {}

    def step(batch, models, optimizers):
        x, _ = batch
        seen["autocast"] = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu")
        seen["layout"] = (x.is_contiguous(memory_format=torch.channels_last),
                          models["gen"][0].weight.is_contiguous(memory_format=torch.channels_last))
        seen["output"] = models["gen"](x).dtype
        return toy_step(batch, models, optimizers)

    training._warned.clear()
    state, models, _ = run(None, 2, step_fn=step)
    assert seen == {"autocast": torch.bfloat16, "layout": (True, True), "output": torch.float32}
    assert "fast path: bf16 autocast + channels_last on cpu" in capsys.readouterr().out
    assert all(math.isfinite(v) for v in state.history["gen"])
    assert not models["gen"]._forward_hooks  # the fp32 casts are gone after training
    monkeypatch.setenv("COURSE_FP32", "1")
    run(None, 1, step_fn=step)
    assert seen["autocast"] is False and seen["output"] == torch.float32


def test_outside_fast_mode_adam_is_fused_and_resume_stays_exact(tmp_path, monkeypatch):
    """The learner's Adam takes the fused step outside fast mode; a run cut in two still equals a straight one."""
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)  # fp32: bit-comparable runs
    monkeypatch.delenv("COURSE_FAST", raising=False)
    monkeypatch.delenv("COURSE_FP32", raising=False)
    straight = run(tmp_path / "straight")
    assert all(g["fused"] for opt in straight[2].values() for g in opt.param_groups)
    run(tmp_path / "cut", HALF)
    scramble_rngs()
    assert_same_run(run(tmp_path / "cut", TOTAL, init_seed=99), straight)


def test_stale_temporaries_are_removed_and_the_checkpoint_kept(tmp_path):
    run(tmp_path, 2)
    stale = [tmp_path / f".{CHECKPOINT_NAME}.abc{i}.tmp" for i in range(2)]  # a process killed while saving
    for path in stale:
        path.write_bytes(b"PK\x03\x04 half a checkpoint")
    other = tmp_path / ".other.pt.x.tmp"
    other.write_bytes(b"not ours")
    state, _, _ = run(tmp_path, 3)
    assert state.step == 3 and not any(p.exists() for p in stale) and other.exists()


def test_samples_and_loss_curve_are_written(straight):
    from PIL import Image

    run_dir = straight[0].run_dir
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "step_000003.png", "step_000006.png", "step_000009.png", "step_000010.png"]
    assert Image.open(run_dir / "samples" / "step_000003.png").size == (3 * 10 + 2, 1 * 10 + 2)  # 1 row of 3
    assert (run_dir / "losses.png").stat().st_size > 0


def test_init_weights_follows_the_paper():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 64, 4), nn.BatchNorm2d(4096), nn.ConvTranspose2d(64, 64, 4), nn.Linear(3, 3))
    linear_before = model[3].weight.clone()
    assert init_weights(model) is model
    for conv in (model[0], model[2]):
        assert conv.weight.mean().abs() < 2e-3 and conv.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert torch.count_nonzero(conv.bias) == 0
    assert model[1].weight.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert model[1].weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert torch.count_nonzero(model[1].bias) == 0
    assert torch.equal(model[3].weight, linear_before)  # only conv and norm layers are the paper's recipe


def test_resume_with_other_data_settings_warns(tmp_path):
    run(tmp_path, 2)
    with pytest.warns(UserWarning, match="batch_size: 3 then, 2 now"):
        state, _, _ = run(tmp_path, 4, batch_size=2)
    assert state.step == 4


def test_each_step_is_saved_once(tmp_path, monkeypatch):
    saves = []
    real_atomic_save = training._atomic_save
    monkeypatch.setattr(training, "_atomic_save", lambda obj, path: saves.append(obj["step"]) or real_atomic_save(obj,
                                                                                                                  path))
    run(tmp_path, 6, checkpoint_every=3)
    run(tmp_path, 6)  # already done: nothing to redo, nothing rewritten
    assert saves == [3, 6]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="amp and channels_last act on CUDA only")
def test_amp_and_channels_last_on_cuda():
    seen = {}

    def step(batch, models, optimizers):
        x, _ = batch
        seen["autocast"] = torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda")
        seen["input_channels_last"] = x.is_contiguous(memory_format=torch.channels_last)
        seen["weight_channels_last"] = models["gen"][0].weight.is_contiguous(memory_format=torch.channels_last)
        # The step updates weights and runs the model again inside the region (as D-then-G does):
        # the second forward must see the new weights, i.e. no stale cached casts.
        before = models["disc"](x).detach().clone()
        with torch.no_grad():
            models["disc"][0].weight.add_(1.0)
        seen["sees_update"] = not torch.allclose(before.float(), models["disc"](x).detach().float())
        with torch.no_grad():
            models["disc"][0].weight.sub_(1.0)
        return toy_step(batch, models, optimizers)

    training._warned.clear()
    state, models, _ = run(None, 3, step_fn=step, device="cuda", amp=True, channels_last=True)
    assert all(math.isfinite(v) for v in state.history["gen"])
    assert seen["input_channels_last"] and seen["weight_channels_last"] and seen["sees_update"]
    if torch.cuda.is_bf16_supported(including_emulation=False):
        assert seen["autocast"] == torch.bfloat16
    else:
        assert seen["autocast"] is False  # falls back to fp32 (with a warning) rather than unscaled fp16
