"""Training for a budget of CPU seconds instead of a number of steps.

The optional notebooks (07-09) compare recipes "for the same time": each run calls its step function until this
process has spent the budget, so a dearer step gets fewer steps, and the comparison is fair on any machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from tqdm.auto import tqdm


def run_for(budget_s: float, step: Callable[[], Mapping[str, float]], label: str = "",
            max_steps: int | None = None) -> list[dict[str, float]]:
    """Call step() until `budget_s` CPU seconds of this process are spent (at least once, at most max_steps times).

    step() returns the step's losses as numbers ({"G": 0.7, ...}); the progress bar shows the latest, and the
    list of every step's losses is returned. budget_s must be a positive number.
    """
    if not budget_s > 0:
        raise ValueError(f"budget_s must be a positive number of CPU seconds, got {budget_s!r}")
    history: list[dict[str, float]] = []
    start = time.process_time()
    with tqdm(desc=label or None) as bar:
        while not history or time.process_time() - start < budget_s:
            history.append({key: float(value) for key, value in step().items()})
            bar.update()
            bar.set_postfix({key: f"{value:.3f}" for key, value in history[-1].items()})
            if max_steps is not None and len(history) >= max_steps:
                break
    return history
