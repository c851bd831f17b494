"""Unit tests of the foundation modules: environment, checks, notebooks."""

from __future__ import annotations

import nbformat
import pytest
import torch
from torch import nn

from course_utils import environment
from course_utils.checks import CheckFailed, assert_close, check_to_signed, check_values, compare_modules, copy_weights, using
from course_utils.notebooks import definitions, import_notebook


def test_pick_follows_the_fast_switch(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert environment.fast_mode() and environment.pick(256, 64) == 64
    for off in ("", "0", "false"):
        monkeypatch.setenv("COURSE_FAST", off)
        assert not environment.fast_mode() and environment.pick(256, 64) == 256


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert environment.data_dir() == tmp_path
    monkeypatch.delenv("COURSE_DATA")
    assert environment.data_dir() == environment.DEFAULT_DATA_DIR


def test_describe_names_what_a_helper_needs():
    info = environment.describe()
    assert {"torch", "device", "fast mode", "data cache"} <= set(info)


def test_setup_seeds_and_returns_a_device():
    device = environment.setup(seed=3)
    first = torch.rand(3)
    environment.setup(seed=3)
    assert torch.equal(first, torch.rand(3)) and isinstance(device, torch.device)


def test_assert_close_says_what_differed():
    expected = torch.zeros(2, 3)
    with pytest.raises(CheckFailed, match=r"shape \(2, 3\), got shape \(3, 2\)"):
        assert_close(torch.zeros(3, 2), expected, "ex")
    got = expected.clone()
    got[1, 2] = 0.5
    with pytest.raises(CheckFailed, match=r"ex: .*largest difference of 0.5 at index \(1, 2\)"):
        assert_close(got, expected, "ex")
    with pytest.raises(CheckFailed, match="a list"):
        assert_close([0.0], expected, "ex")
    assert_close(expected + 1e-7, expected, "ex")


def test_visible_check_message_has_expected_got_and_hint():
    with pytest.raises(CheckFailed) as info:
        check_to_signed(lambda x: x)  # forgot to scale
    message = str(info.value)
    assert message.startswith("to_signed: expected") and ", got " in message and "Hint:" in message


def test_check_values_catches_in_place_changes():
    def in_place(x):
        return x.mul_(2).sub_(1)

    with pytest.raises(CheckFailed, match="modified in place"):
        check_values(in_place, [((torch.tensor([0.0, 1.0]),), torch.tensor([-1.0, 1.0]))], "to_signed")


class Two(nn.Module):
    def __init__(self, swap_creation_order: bool = False):
        super().__init__()
        if swap_creation_order:  # another random state for each layer, same names
            self.b = nn.Linear(4, 2)
            self.a = nn.Linear(3, 4)
        else:
            self.a = nn.Linear(3, 4)
            self.b = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.b(self.drop(torch.relu(self.a(x))))


def test_compare_modules_ignores_layer_creation_order_and_matches_dropout():
    compare_modules(Two(swap_creation_order=True), Two(), [(torch.randn(5, 3),)], "two", train=True)


def test_compare_modules_rejects_a_missing_activation():
    class NoRelu(Two):
        def forward(self, x):
            return self.b(self.drop(self.a(x)))

    with pytest.raises(CheckFailed, match="two: expected the output"):
        compare_modules(NoRelu(), Two(), [(torch.randn(5, 3) * 3,)], "two")


def test_copy_weights_names_missing_and_unexpected_parameters():
    class Renamed(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Linear(3, 4)
            self.b = nn.Linear(4, 2)

    with pytest.raises(CheckFailed, match=r"missing \['a.bias', 'a.weight'\].*unexpected \['first.bias', 'first.weight'\]"):
        copy_weights(Renamed(), Two(), "two")


def test_using_restores_the_namespace():
    namespace = {"Block": 1}
    with using(namespace, Block=2, Extra=3):
        assert namespace == {"Block": 2, "Extra": 3}
    assert namespace == {"Block": 1}


def _notebook(tmp_path, name):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import math", metadata={"tags": ["reference"]}),
        nbformat.v4.new_code_cell("raise SystemExit('plain cells do not run')"),
        nbformat.v4.new_code_cell("def area(r):\n    ### BEGIN SOLUTION\n    return math.pi * r * r\n    ### END SOLUTION",
                                  metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "area"}}),
    ]
    nbformat.write(nb, tmp_path / f"{name}.ipynb")


def test_definitions_runs_only_exercise_and_reference_cells(tmp_path):
    _notebook(tmp_path, "03_demo")
    module = definitions(tmp_path / "03_demo.ipynb")
    assert module.area(1.0) == pytest.approx(3.14159, rel=1e-5)


def test_import_notebook_falls_back_to_the_solutions_and_explains_a_missing_notebook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COURSE_SOLUTIONS", raising=False)
    with pytest.raises(FileNotFoundError, match="expected the notebook 03_demo.ipynb next to this one"):
        import_notebook("03_demo")
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    _notebook(solutions, "03_demo")
    monkeypatch.setenv("COURSE_SOLUTIONS", str(solutions))
    assert import_notebook("03_demo").area(2.0) == pytest.approx(12.566, rel=1e-4)
