"""Run by tests/test_distributed.py under `torchrun --nproc_per_node 2` (gloo, CPU): the course's training command.

    python tests/ddp_worker.py OUT first    # run "a": 6 steps straight; run "b": stopped after step 3 (Ctrl-C)
    python tests/ddp_worker.py OUT resume   # run "b" again in new processes: it resumes at step 3, ends at 6

After every step each rank records the largest difference between its parameters and rank 0's, in
OUT/<run>_rank<R>.json.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import torch

from course_utils import distributed
from course_utils.train import parser, recipe, run

ARGS = ["--size", "64", "--levels", "6", "--g-channels", "8", "--d-channels", "8", "--synthetic", "--steps", "6",
        "--checkpoint-every", "2", "--sample-every", "100"]


def checked(step_fn, log: list[float], stop_at: int | None):
    def step(batch, models, optimizers):
        out = step_fn(batch, models, optimizers)
        flat = torch.cat([p.detach().reshape(-1) for m in models.values() for p in m.parameters()])
        everyone = distributed.gather(flat, distributed.world())
        log.append(max((other - everyone[0]).abs().max().item() for other in everyone))
        if len(log) == stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: the harness stops after this step and saves
        return out
    return step


def one_run(out: Path, name: str, stop_at: int | None = None, evaluate: bool = False) -> None:
    args = parser().parse_args([*ARGS, "--run-dir", str(out / name)] + ([] if evaluate else ["--no-evaluate"]))
    plan = recipe(args)
    log: list[float] = []
    plan.step_fn = checked(plan.step_fn, log, stop_at)
    state = run(args, plan)
    place = distributed.world()
    record = {"diffs": log, "step": state.step, "interrupted": state.interrupted, "world": place.size}
    (out / f"{name}_rank{place.rank}.json").write_text(json.dumps(record))


def main(out: Path, phase: str) -> None:
    place = distributed.init_from_torchrun()
    assert place.size == 2, place
    if phase == "first":
        one_run(out, "a")
        one_run(out, "b", stop_at=3)
        if place.main:  # a copy of the 2-process checkpoint at step 3, for a single-process resume
            (out / "c").mkdir()
            shutil.copy(out / "b" / "checkpoint.pt", out / "c" / "checkpoint.pt")
    else:
        one_run(out, "b", evaluate=True)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
