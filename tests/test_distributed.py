"""Training on 2 processes with torchrun (gloo on the CPU): the ranks stay equal, resume is exact.

Two torchrun launches in all (each starts 2 Python processes that import torch, a few seconds each):
tests/ddp_worker.py runs the course's training command (`course_utils.train`) in them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from course_utils import distributed, training
from course_utils.train import main as train_main
from course_utils.training import CHECKPOINT_NAME, CheckpointError, load_checkpoint

HERE = Path(__file__).resolve().parent


def torchrun(out: Path, phase: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": os.pathsep.join(
        filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "ddp_worker.py"), str(out), phase]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"torchrun {phase} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def records(out: Path, name: str) -> list[dict]:
    return [json.loads((out / f"{name}_rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory) -> Path:
    if not torch.distributed.is_available():
        pytest.skip("this PyTorch has no torch.distributed")
    out = tmp_path_factory.mktemp("ddp")
    torchrun(out, "first")
    first_b = records(out, "b")
    torchrun(out, "resume")
    (out / "b_first.json").write_text(json.dumps(first_b))
    return out


def test_ranks_hold_equal_parameters_after_every_step(two_process_runs):
    for rank, record in enumerate(records(two_process_runs, "a")):
        assert record["world"] == 2 and record["step"] == 6 and len(record["diffs"]) == 6, (rank, record)
        assert max(record["diffs"]) == 0.0, f"rank {rank}: parameters differ from rank 0's by {record['diffs']}"


def test_resume_in_new_processes_continues_the_run_exactly(two_process_runs):
    out = two_process_runs
    first = json.loads((out / "b_first.json").read_text())
    assert [(r["step"], r["interrupted"], len(r["diffs"])) for r in first] == [(3, True, 3)] * 2
    assert [(r["step"], len(r["diffs"])) for r in records(out, "b")] == [(6, 3)] * 2  # steps 4-6 only
    straight, resumed = load_checkpoint(out / "a" / CHECKPOINT_NAME), load_checkpoint(out / "b" / CHECKPOINT_NAME)
    assert straight["history"] == resumed["history"] and len(resumed["rng_by_rank"]) == 2
    for name, state in straight["models"].items():
        for key, value in state.items():
            torch.testing.assert_close(resumed["models"][name][key], value, rtol=0, atol=1e-6, msg=f"{name}.{key}")
    assert (out / "b" / "index.html").is_file()  # rank 0 wrote the results page
    assert not list((out / "b").glob(".*.tmp"))


def test_one_process_resumes_a_two_process_checkpoint(two_process_runs, monkeypatch):
    run_dir = two_process_runs / "c"
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code = train_main(["--size", "64", "--levels", "6", "--g-channels", "8", "--d-channels", "8", "--synthetic",
                           "--steps", "5", "--run-dir", str(run_dir), "--no-evaluate"])
    assert code == 0 and load_checkpoint(run_dir / CHECKPOINT_NAME)["step"] == 5
    assert any("written by 2 processes and is resumed in one" in str(w.message) for w in seen)


def test_another_number_of_processes_is_refused(two_process_runs):
    path = two_process_runs / "a" / CHECKPOINT_NAME
    with pytest.raises(CheckpointError, match=r"run of 2 process\(es\), this one has 3: restart with torchrun "
                                              r"--nproc_per_node 2"):
        training._resume(path, training.TrainState(), {}, {}, {}, {}, distributed.World(rank=0, size=3))


def test_shards_split_an_epoch_as_distributed_sampler_does():
    order = [7, 3, 9, 1, 5]
    shards = [distributed.shard(order, distributed.World(rank=r, size=2)) for r in range(2)]
    assert shards == [[7, 9, 5], [3, 1, 7]]  # every item once, padded from the start to equal shares
    assert distributed.per_rank(5, distributed.World(size=2)) == 3
    assert distributed.shard(order, distributed.World()) == order


@pytest.mark.parametrize("argv, expected", [
    (["--size", "32"], "--size must be 64, 128, 256 or 512 (the data set's sizes), got 32"),
    (["--size", "96"], "--size must be 64, 128, 256 or 512 (the data set's sizes), got 96"),
    (["--fp32", "--bf16"], "argument --bf16: not allowed with argument --fp32"),
])
def test_the_training_command_refuses_bad_arguments_before_any_work(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(argv)
    assert exit_info.value.code == 2 and expected in capsys.readouterr().err
