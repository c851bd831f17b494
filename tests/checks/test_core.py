"""The core of the checks: messages, the one wrapper around learner code, comparisons, the hidden-test toolkit."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from course_utils.checks import (
    CheckFailed,
    assert_close,
    call_quietly,
    check_answer_format,
    check_to_signed,
    check_values,
    compare_modules,
    copy_weights,
    describe,
    expect_error,
    run_learner,
    using,
)


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


def test_a_crash_in_learner_code_becomes_a_message_never_a_traceback():
    def broken(x):
        return x @ torch.ones(5, 5)

    for call in (lambda: run_learner("to_signed", broken, torch.zeros(2, 3)),
                 lambda: call_quietly(broken, torch.zeros(2, 3)),
                 lambda: check_to_signed(broken)):
        with pytest.raises(CheckFailed) as info:
            call()
        message = str(info.value)
        assert ": expected a call with inputs (" in message and "got RuntimeError: " in message, message
        assert "Hint:" in message and "\n" not in message


def test_an_unanswered_exercise_says_so():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match=r"to_signed: expected your code, got NotImplementedError: the exercise is "
                                          r"not answered yet\. Hint: write your code where it says YOUR CODE HERE"):
        check_to_signed(stub)


def test_the_learners_debug_output_on_stderr_goes_to_stdout(capsys):
    def chatty(x):
        print("debugging", file=sys.stderr)
        return x * 2 - 1

    check_to_signed(chatty)
    out, err = capsys.readouterr()
    assert err == "" and "debugging" in out and "all checks passed" in out


def test_expect_error_names_the_case_and_the_missing_mention():
    def no_check(x):
        return x

    def vague(x):
        raise ValueError("bad input")

    expect_error("split_pair", lambda x: (_ for _ in ()).throw(ValueError("width 7 is odd")), (7,), "odd width", "7")
    with pytest.raises(CheckFailed, match="expected a ValueError for odd width, got no error"):
        expect_error("split_pair", no_check, (7,), "odd width", "7")
    with pytest.raises(CheckFailed, match="to mention 7, got the message 'bad input'"):
        expect_error("split_pair", vague, (7,), "odd width", "7")


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

    with pytest.raises(CheckFailed, match=r"missing \['a.bias', 'a.weight'\].*unexpected \['first.bias', "
                                          r"'first.weight'\]"):
        copy_weights(Renamed(), Two(), "two")


def test_using_restores_the_namespace():
    namespace = {"Block": 1}
    with using(namespace, Block=2, Extra=3):
        assert namespace == {"Block": 2, "Extra": 3}
    assert namespace == {"Block": 1}


def test_describe_is_one_short_line_for_nested_inputs():
    batch = (torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8))
    models = {"gen": nn.Linear(2, 2), "disc": nn.Identity()}
    assert describe(batch) == "((1, 3, 8, 8), (1, 3, 8, 8))"
    assert describe(models) == "{'gen': Linear, 'disc': Identity}"
    assert describe([1, 2.5, "AtoB", None]) == "[1, 2.5, 'AtoB', None]"
    with pytest.raises(CheckFailed) as info:
        run_learner("pix2pix_step", lambda *a, **k: 1 / 0, batch, models, lambda_l1=3.0)
    assert str(info.value).startswith("pix2pix_step: expected a call with inputs (((1, 3, 8, 8), (1, 3, 8, 8)), "
                                      "{'gen': Linear, 'disc': Identity}, lambda_l1=3.0) to run, got "
                                      "ZeroDivisionError: division by zero.")


@pytest.mark.parametrize("value", [None, "d", "ab", "", 2, ["a"]])
def test_check_answer_format_refuses_anything_but_one_allowed_letter(value):
    with pytest.raises(CheckFailed, match=r"answer_x: expected one of"):
        check_answer_format("answer_x", value, "abc")


@pytest.mark.parametrize("value", ["a", " B ", "c"])
def test_check_answer_format_accepts_one_allowed_letter_and_says_nothing_of_right_or_wrong(value, capsys):
    check_answer_format("answer_x", value, "abc")
    assert "right form" in capsys.readouterr().out
