"""course_utils.budget.run_for: it stops on CPU time, returns every step's losses as floats, refuses a bad budget."""

from __future__ import annotations

import time

import pytest
import torch

from course_utils.budget import run_for


def busy_step() -> dict:
    start = time.process_time()
    while time.process_time() - start < 0.01:
        pass
    return {"loss": torch.tensor(0.5), "n": 2}


def test_it_stops_once_the_cpu_budget_is_spent():
    start = time.process_time()
    history = run_for(0.05, busy_step, "busy")
    spent = time.process_time() - start
    assert 3 <= len(history) <= 10 and 0.05 <= spent < 0.5, (len(history), spent)
    assert history[0] == {"loss": 0.5, "n": 2.0} and all(type(v) is float for v in history[0].values())


def test_one_step_at_least_and_max_steps_at_most():
    assert len(run_for(1e-9, busy_step)) == 1
    assert len(run_for(10.0, busy_step, max_steps=2)) == 2


@pytest.mark.parametrize("budget", [0, -1.0, float("nan")])
def test_a_budget_that_is_not_positive_is_refused(budget):
    with pytest.raises(ValueError, match="positive number of CPU seconds"):
        run_for(budget, busy_step)
