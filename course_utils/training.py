"""The training harness: it runs the learner's own step function, and takes care of the rest.

The learner writes the models and `step_fn(batch, models, optimizers) -> dict[str, float]`, which does the
forward passes, the losses, the backward passes and the optimizer steps (the graded part). `train` feeds it
batches and adds what a long run needs: a progress bar with the losses, the learning-rate schedule,
periodic sample grids and loss curves, atomic checkpoints every N steps and on interrupt, and a resume
that continues exactly where the run stopped (same weights, optimizer moments, data order and random
numbers). Around it: `init_weights` (the paper's N(0, 0.02) initialisation), `linear_decay` (the paper's
schedule) and `translate` (a generator's output in eval mode). Judging the result is `course_utils.evaluation`.

    total = pick(80_000, 20)  # 200 epochs of the 400 facades, batch size 1
    state = train({"gen": G, "disc": D}, {"gen": opt_g, "disc": opt_d}, train_step, train_set,
                  steps=total, run_dir="runs/facades", lr_schedule=linear_decay(total),
                  sample_batch=(inputs, targets))
    metrics = course_utils.evaluation.evaluate(G, val_loader)

Exact resume: the shuffling of each epoch comes from a generator seeded by (seed, epoch), a resumed run
skips the batches that epoch already used, and the checkpoint holds the torch, CUDA, NumPy and Python
random states, so dropout and random jitter draw the same numbers. This holds with `num_workers=0`;
with worker processes the data order is still exact, but the workers' random augmentation is redrawn.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from torchvision.utils import save_image
from tqdm.auto import tqdm

from course_utils import distributed, precision
from course_utils.environment import fast_mode, get_device, pick, seed_everything

StepFn = Callable[[Any, dict[str, nn.Module], dict[str, torch.optim.Optimizer]], Mapping[str, float]]
CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = 1  # bump when the checkpoint layout changes


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, or made for other models or optimizers."""


@dataclass
class TrainState:
    """What `train` returns: steps done, the loss history ({name: [value per step]}, plus "step")."""

    step: int = 0
    history: dict[str, list[float]] = field(default_factory=lambda: {"step": []}, repr=False)  # long: keep reprs short
    interrupted: bool = False
    run_dir: Path | None = None
    checkpoint: Path | None = None


# ----------------------------------------------------------------------------- recipe helpers


def linear_decay(total: int, decay_start: int | None = None) -> Callable[[int], float]:
    """The paper's schedule as a LambdaLR factor: 1 until `decay_start` (default total // 2), then linear to 0."""
    start = total // 2 if decay_start is None else decay_start
    if not 0 <= start < total:
        raise ValueError(f"need 0 <= decay_start < total, got decay_start={start}, total={total}")

    def factor(step: int) -> float:
        return max(0.0, 1.0 - max(0, step - start) / (total - start))

    return factor


@torch.no_grad()
def init_weights(model: nn.Module, std: float = 0.02) -> nn.Module:
    """The paper's initialisation: conv weights ~ N(0, std), batch-norm weights ~ N(1, std), biases 0."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                               nn.ConvTranspose3d)):
            nn.init.normal_(module.weight, 0.0, std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            nn.init.normal_(module.weight, 1.0, std)
            nn.init.zeros_(module.bias)
    return model


# ----------------------------------------------------------------------------- checkpoints


def _atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file beside `path`, fsync, then rename over it: never a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows: the old file stays whole until this line
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError, AttributeError):  # make the rename itself durable (POSIX only)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete the temporary files an interrupted `_atomic_save` of `path` left beside it; return them."""
    stale = list(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
    for tmp in stale:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return stale


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by `train` (weights only, onto the CPU); CheckpointError if it is unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip, pickle and EOF errors all mean the same thing here
        raise CheckpointError(
            f"cannot read checkpoint {path} ({type(e).__name__}: {e}). The file is corrupt or truncated, or "
            "not a checkpoint written by course_utils.training. Delete it, or pass resume=False to start over."
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a course_utils.training checkpoint (format {FORMAT})")
    return ckpt


def _check_models(path: Path, saved: Mapping[str, Any], models: Mapping[str, nn.Module]) -> None:
    """Raise a CheckpointError naming the first difference between saved state dicts and `models`."""
    if set(saved) != set(models):
        raise CheckpointError(f"{path} holds models {sorted(saved)}, but models {sorted(models)} were given")
    for name, model in models.items():
        current, state = model.state_dict(), saved[name]
        missing = [k for k in current if k not in state]
        unexpected = [k for k in state if k not in current]
        if missing or unexpected:
            raise CheckpointError(
                f"{path} was saved from a different architecture: model '{name}' has missing keys "
                f"{missing[:5]}{' ...' if len(missing) > 5 else ''} and unexpected keys "
                f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
            )
        for key, tensor in current.items():
            if tuple(state[key].shape) != tuple(tensor.shape):
                raise CheckpointError(
                    f"{path} was saved from a different architecture: model '{name}', first shape mismatch at "
                    f"'{key}': {tuple(state[key].shape)} in the checkpoint, {tuple(tensor.shape)} in the model"
                )


def _check_optimizers(path: Path, saved: Mapping[str, Any], optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
    if set(saved) != set(optimizers):
        raise CheckpointError(f"{path} holds optimizers {sorted(saved)}, but optimizers {sorted(optimizers)} "
                              "were given")
    for name, opt in optimizers.items():
        got = [len(g["params"]) for g in saved[name]["param_groups"]]
        want = [len(g["params"]) for g in opt.param_groups]
        if got != want:
            raise CheckpointError(
                f"{path}: optimizer '{name}' has parameter groups of sizes {got} in the checkpoint, {want} now"
            )


def load_models(path: str | Path, models: Mapping[str, nn.Module]) -> int:
    """Load only the weights of `models` (e.g. a trained generator for inference); returns the checkpoint's step."""
    path = Path(path)
    ckpt = load_checkpoint(path)
    saved = {name: ckpt["models"].get(name, {}) for name in models}  # a subset (just "gen") is fine here
    _check_models(path, saved, models)
    for name, model in models.items():
        model.load_state_dict(saved[name])
    return int(ckpt["step"])


def _rng_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        # NumPy's state as tensors and numbers: weights_only loading accepts no NumPy arrays.
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": random.getstate(),
    }
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        state["mps"] = torch.mps.get_rng_state()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "mps" in state and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


# ----------------------------------------------------------------------------- data order


@dataclass
class _Data:
    """How to rebuild the learner's loader one epoch at a time, with the order fixed by (seed, epoch)."""

    dataset: Dataset
    batch_size: int
    shuffle: bool
    drop_last: bool = False
    loader_kwargs: dict[str, Any] = field(default_factory=dict)
    place: distributed.World = field(default_factory=distributed.World)  # under torchrun: this rank's shard

    @property
    def batches_per_epoch(self) -> int:
        n = distributed.per_rank(len(self.dataset), self.place)
        return len(BatchSampler(range(n), self.batch_size, self.drop_last))

    def epoch(self, seed: int, epoch: int, skip: int) -> DataLoader:
        """The loader for `epoch`, without its first `skip` batches (already trained on before a resume)."""
        g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**63)
        n = len(self.dataset)
        order = distributed.shard(torch.randperm(n, generator=g).tolist() if self.shuffle else list(range(n)),
                                  self.place)
        batches = BatchSampler(order[skip * self.batch_size:], self.batch_size, self.drop_last)
        # The loader draws its workers' base seed from `generator`: given ours, it leaves the global RNG alone.
        return DataLoader(self.dataset, batch_sampler=batches, generator=g, **self.loader_kwargs)


def _data_from(data: DataLoader | Dataset, batch_size: int, shuffle: bool) -> _Data:
    if not isinstance(data, DataLoader):
        return _Data(data, batch_size, shuffle)
    if data.batch_size is None or not isinstance(data.sampler, (RandomSampler, SequentialSampler)):
        raise ValueError(
            "train() rebuilds the DataLoader each epoch to make its order reproducible, so it needs one made with "
            "batch_size= and shuffle= (no custom sampler or batch_sampler); or pass the dataset itself"
        )
    kwargs = dict(num_workers=data.num_workers, collate_fn=data.collate_fn, pin_memory=data.pin_memory,
                  worker_init_fn=data.worker_init_fn)
    return _Data(data.dataset, data.batch_size, isinstance(data.sampler, RandomSampler), data.drop_last, kwargs)


# ----------------------------------------------------------------------------- devices


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Warn about a setting once per session, not once per call: notebooks re-run cells."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, UserWarning, stacklevel=3)


def _to_device(batch: Any, device: torch.device, channels_last: bool) -> Any:
    """Move every tensor in a (nested) batch to `device`; 4-D float tensors become channels_last if asked."""
    if isinstance(batch, torch.Tensor):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.dim() == 4 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device, channels_last) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        moved = [_to_device(v, device, channels_last) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def _precision(device: torch.device, amp: bool | None, channels_last: bool | None) -> precision.Precision:
    """The step's precision (see course_utils.precision); its one-line note is shown once per session."""
    plan = precision.choose(device, amp, channels_last)
    asked = amp is True and not plan.fast or channels_last is True and not plan.channels_last
    if asked:
        _warn_once(f"amp/channels_last asked for, but {plan.note}")
    elif not fast_mode() and plan.note not in _warned and distributed.world().main:  # once, not once per rank
        _warned.add(plan.note)
        tqdm.write(f"training step: {plan.note}")
    return plan


class _DeferInterrupt:
    """Turn the first Ctrl-C (Jupyter's "interrupt kernel") into a flag checked between steps.

    A step stopped halfway has updated D but not G; waiting for the step to end keeps the checkpoint
    exact. A second Ctrl-C interrupts at once. Signals can only be caught in the main thread.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("Interrupt: stopping after this step and saving a checkpoint (interrupt again to stop now).")

    def __enter__(self) -> _DeferInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# ----------------------------------------------------------------------------- samples


@torch.no_grad()
def translate(generator: nn.Module, inputs: torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """The generator's output for `inputs`, in eval mode (dropout off, batch-norm running statistics), on the CPU.

    The random state is left untouched and the generator's mode restored, so sampling in the middle of
    training changes nothing about the run.
    """
    device = device or next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return generator(inputs.to(device)).float().cpu()
    finally:
        generator.train(was_training)


def _save_progress(state: TrainState, generator: nn.Module | None, sample_batch: Any, device: torch.device,
                   show: bool) -> None:
    """Write samples/step_XXXXXX.png (input | generated | target) and losses.png under the run dir."""
    import matplotlib.pyplot as plt

    from course_utils.plotting import plot_losses, sample_grid, show_triplets

    assert state.run_dir is not None
    if generator is not None and sample_batch is not None:
        inputs, targets = sample_batch
        generated = translate(generator, inputs, device)
        (state.run_dir / "samples").mkdir(parents=True, exist_ok=True)
        save_image(sample_grid(inputs, generated, targets), state.run_dir / "samples" / f"step_{state.step:06d}.png")
        if show:
            from IPython.display import display

            fig = show_triplets(inputs, generated, targets, title=f"Samples at step {state.step}")
            display(fig)
            plt.close(fig)
    fig = plot_losses(state.history, title=f"Training losses (step {state.step})")
    fig.savefig(state.run_dir / "losses.png", dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- the loop


def _as_float(value: Any) -> float:
    """A loss as a Python float; a tensor is detached first (the learner may return loss tensors)."""
    return value.detach().float().item() if isinstance(value, torch.Tensor) else float(value)


def _record(history: dict[str, list[float]], step: int, losses: Mapping[str, float]) -> None:
    """Append one step's losses; a loss missing at a step is NaN, so every list stays aligned with "step"."""
    n = len(history["step"])
    for name in losses:
        history.setdefault(name, [math.nan] * n)
    for name, values in history.items():
        if name != "step":
            values.append(float(losses.get(name, math.nan)))
    history["step"].append(step)


def train(
    models: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer], step_fn: StepFn,
    data: DataLoader | Dataset, steps: int | None = None, *, epochs: int | None = None, batch_size: int = 1,
    shuffle: bool = True, run_dir: str | Path | None = None, checkpoint_dir: str | Path | None = None,
    checkpoint_every: int | None = None, resume: bool = True, sample_every: int | None = None,
    sample_batch: tuple[torch.Tensor, torch.Tensor] | None = None, generator_key: str = "gen",
    lr_schedule: Callable[[int], float] | None = None, device: str | torch.device | None = None,
    amp: bool | None = None, channels_last: bool | None = None, seed: int = 0, progress: bool = True,
    show: bool = False,
) -> TrainState:
    """Run `step_fn(batch, models, optimizers) -> {loss name: value}` for `steps` steps (or `epochs` epochs).

    data: a Dataset (batched by `batch_size`, shuffled if `shuffle`) or a DataLoader made with batch_size=
        and shuffle= (it is rebuilt each epoch so that its order depends only on (seed, epoch)).
    run_dir: where samples/step_*.png and losses.png go every `sample_every` steps (and the checkpoint,
        unless `checkpoint_dir` is given). Without either directory nothing is written.
    checkpoint_every: steps between checkpoints; one is also written at the end and on interrupt.
    resume: continue from the checkpoint in the checkpoint directory when there is one.
    sample_batch: fixed (inputs, targets) for the sample grids, run through models[generator_key].
    lr_schedule: a factor per step for every optimizer's lr (LambdaLR), e.g. linear_decay(steps).
    device: default CUDA, then MPS, then CPU. The models are moved there, and each batch before the step.
    amp, channels_last: the fast path (bf16 autocast, channels_last). None = on a CPU with native bf16, fp32 on
        CUDA, in fast mode and with COURSE_FP32=1; True = bf16 where native. On a CPU outside fast mode and
        COURSE_FP32=1 Adam takes its fused step (same update, faster). See course_utils.precision.
    seed: seeds the random generators at a fresh start and fixes the data order.
    Ctrl-C (or "interrupt kernel") stops after the current step, saves, and returns with interrupted=True.
    """
    place = distributed.world()
    device = (get_device() if place.size == 1 else distributed.device_of(place)) if device is None else \
        torch.device(device)
    source = _data_from(data, batch_size, shuffle)
    source.place = place
    total = _total_steps(source, steps, epochs)
    run_dir = Path(run_dir) if run_dir is not None else None
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else run_dir
    schedulers = {name: torch.optim.lr_scheduler.LambdaLR(opt, lr_schedule) for name, opt in optimizers.items()} \
        if lr_schedule is not None else {}
    plan = _precision(device, amp, channels_last)
    precision.place(models.values(), device, plan)
    run = _Run(models, optimizers, schedulers, step_fn, source, device, seed, plan, place,
               distributed.wrap(models, place, device),
               state=TrainState(run_dir=run_dir, checkpoint=ckpt_dir / CHECKPOINT_NAME if ckpt_dir else None),
               generator=models.get(generator_key), sample_batch=sample_batch, show=show,
               checkpoint_every=checkpoint_every or pick(1000, 10), sample_every=sample_every or pick(500, 5))
    ckpt_path = run.state.checkpoint
    if ckpt_path is not None and place.main:
        remove_stale_temporaries(ckpt_path)  # left by a process killed while saving; the checkpoint itself is whole
    if resume and ckpt_path is not None and ckpt_path.exists():
        _resume(ckpt_path, run.state, models, optimizers, schedulers, run.data_state(), place)
    else:
        seed_everything(seed + place.rank)  # rank 0 (and a single process) is seeded with `seed` itself
    precision.fuse_optimizers(optimizers.values(), plan)  # after a resume, whose state dict sets each group's flags
    run.saved_at = run.state.step or None
    return run.loop(total, progress and place.main)


def _total_steps(source: _Data, steps: int | None, epochs: int | None) -> int:
    if source.batches_per_epoch == 0:
        raise ValueError("the data gives no batch: it is empty, or smaller than the batch size with drop_last")
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps= and epochs=")
    return steps if steps is not None else epochs * source.batches_per_epoch


@dataclass
class _Run:
    """One call of `train`: what the loop needs, the checkpoint it writes, and the state it returns."""

    models: Mapping[str, nn.Module]
    optimizers: Mapping[str, torch.optim.Optimizer]
    schedulers: Mapping[str, Any]
    step_fn: StepFn
    source: _Data
    device: torch.device
    seed: int
    plan: precision.Precision
    place: distributed.World
    step_models: dict[str, nn.Module]  # the models as the step sees them: DDP-wrapped under torchrun
    state: TrainState
    generator: nn.Module | None
    sample_batch: Any
    show: bool
    checkpoint_every: int
    sample_every: int
    saved_at: int | None = None

    def data_state(self) -> dict[str, Any]:
        """Where the data order stands: epoch and batch follow from the step; the rest must match to resume."""
        per_epoch = self.source.batches_per_epoch
        return {"seed": self.seed, "epoch": self.state.step // per_epoch, "batch_in_epoch": self.state.step % per_epoch,
                "batches_per_epoch": per_epoch, "batch_size": self.source.batch_size, "shuffle": self.source.shuffle,
                "world_size": self.place.size}

    def save(self, partial_step: bool = False) -> None:
        path = self.state.checkpoint
        if path is None or (self.saved_at == self.state.step and not partial_step):
            return
        # every rank's random state; a second Ctrl-C may hit the ranks apart, so no collective then
        rngs = [_rng_state()] if partial_step else distributed.gather(_rng_state(), self.place)
        if self.place.main:
            self._write(path, partial_step, rngs)
        self.saved_at = self.state.step
        if not partial_step:
            distributed.barrier(self.place)  # the file is whole before any rank goes on

    def _write(self, path: Path, partial_step: bool, rngs: list[dict[str, Any]]) -> None:
        _atomic_save({
            "format": FORMAT,
            "step": self.state.step,
            "models": {k: m.state_dict() for k, m in self.models.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "history": self.state.history,
            "rng": rngs[0],
            "rng_by_rank": rngs,
            "data": self.data_state(),
            "partial_step": partial_step,
        }, path)

    def step(self, batch: Any, bar: tqdm) -> None:
        """One training step, then its bookkeeping: schedule, history, progress bar, checkpoint, samples."""
        batch = _to_device(batch, self.device, self.plan.channels_last)
        with self.plan.context(), precision.fp32_outputs(self.models.values(), self.plan):
            losses = self.step_fn(batch, self.step_models, self.optimizers)
        losses = {k: _as_float(v) for k, v in losses.items()}
        for scheduler in self.schedulers.values():
            scheduler.step()
        state = self.state
        state.step += 1
        _record(state.history, state.step, losses)
        bar.update(1)
        bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items()}, refresh=False)
        if state.step % self.checkpoint_every == 0:
            self.save()
        if state.run_dir is not None and state.step % self.sample_every == 0 and self.place.main:
            _save_progress(state, self.generator, self.sample_batch, self.device, self.show)

    def loop(self, total: int, progress: bool) -> TrainState:
        state, path = self.state, self.state.checkpoint
        bar = tqdm(total=total, initial=state.step, desc="training", unit="step", disable=not progress,
                   dynamic_ncols=True)
        try:
            with _DeferInterrupt() as interrupt:
                while state.step < total and not state.interrupted:
                    epoch, skip = divmod(state.step, self.source.batches_per_epoch)
                    for batch in self.source.epoch(self.seed, epoch, skip):
                        self.step(batch, bar)  # under torchrun all ranks stop together, after the same step:
                        state.interrupted = distributed.any_true(interrupt.requested, self.place)
                        if state.step >= total or state.interrupted:
                            break
        except KeyboardInterrupt:
            # Raised in the middle of a step (a second Ctrl-C): that step may have updated some weights already.
            # Save anyway, so no finished step is lost; resuming repeats the interrupted step.
            state.interrupted = True
            self.save(partial_step=True)
            tqdm.write(f"Interrupted during step {state.step + 1}; saved the {state.step} finished steps"
                       + (f" to {path}" if path else "") + ". Resuming repeats that step, not bit-exactly.")
            return state
        finally:
            bar.close()
        self.save()
        if state.run_dir is not None and state.history["step"] and self.place.main:
            _save_progress(state, self.generator, self.sample_batch, self.device, show=False)
        if state.interrupted:
            tqdm.write(f"Stopped at step {state.step}" + (f"; checkpoint saved to {path}" if path else ""))
        return state


def _resume(path: Path, state: TrainState, models: Mapping[str, nn.Module],
            optimizers: Mapping[str, torch.optim.Optimizer], schedulers: Mapping[str, Any],
            data: Mapping[str, Any], place: distributed.World) -> None:
    """Load everything from `path` into the run, after checking all of it fits (so a bad file changes nothing)."""
    ckpt = load_checkpoint(path)
    try:
        other_world = distributed.check_resume(ckpt["data"].get("world_size", 1), place, path)
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    _check_models(path, ckpt["models"], models)
    _check_optimizers(path, ckpt["optimizers"], optimizers)
    if set(ckpt["schedulers"]) != set(schedulers):
        raise CheckpointError(
            f"{path} was trained {'with' if ckpt['schedulers'] else 'without'} an lr_schedule, this run "
            f"{'has' if schedulers else 'has none'}: pass the same lr_schedule, or resume=False to start over"
        )
    for name, model in models.items():
        model.load_state_dict(ckpt["models"][name])
    for name, opt in optimizers.items():
        opt.load_state_dict(ckpt["optimizers"][name])
    for name, scheduler in schedulers.items():
        scheduler.load_state_dict(ckpt["schedulers"][name])
    rngs = ckpt.get("rng_by_rank", [ckpt["rng"]])
    _set_rng_state(rngs[place.rank] if other_world is None else ckpt["rng"])
    state.step = int(ckpt["step"])
    state.history = {k: list(v) for k, v in ckpt["history"].items()}
    if ckpt["partial_step"]:
        warnings.warn(f"{path} was saved in the middle of step {state.step + 1}; that step is repeated", stacklevel=3)
    if other_world is not None:
        warnings.warn(other_world, stacklevel=3)
    saved = ckpt["data"]
    changed = [k for k in ("seed", "batches_per_epoch", "batch_size", "shuffle") if saved[k] != data[k]]
    if changed:
        warnings.warn(f"{path} was trained with other data settings "
                      f"({', '.join(f'{k}: {saved[k]} then, {data[k]} now' for k in changed)}); "
                      "training goes on, but the data order no longer matches an uninterrupted run", stacklevel=3)
    tqdm.write(f"Resuming from {path} at step {state.step}")
