"""Notebook 06 (training): each graded exercise rejects its typical mistakes, visibly and in the graded cell, and
accepts other correct answers."""

from __future__ import annotations

import pytest
import torch

from course_utils import checks
from course_utils.checks import CheckFailed
from course_utils.environment import solutions_dir
from helpers import (
    assert_broken_exercise_costs_only_its_own_cells,
    exercises,
    learner_namespace,
    nbgrader_meta,
    read_solution,
    run_graded_cell,
)


@pytest.fixture(autouse=True)
def solutions_env(monkeypatch):
    # notebook 06 loads notebooks 03-05 with import_notebook, which falls back to $COURSE_SOLUTIONS
    monkeypatch.setenv("COURSE_SOLUTIONS", str(solutions_dir()))


@pytest.fixture(scope="module")
def nb():
    return read_solution("06_train_pix2pix")


def graded(nb, code_id: str, test_id: str, source: str) -> None:
    """Run the graded cell `test_id` with the answer cell `code_id` replaced by `source`."""
    namespace = learner_namespace(nb, {code_id: source})
    run_graded_cell(nb, test_id, namespace)


_BASE: dict = {}


def defined(source: str, name: str):
    """`name` from `source`, run in a learner's namespace (the solution notebook's setup and answers)."""
    if not _BASE:
        _BASE.update(learner_namespace(read_solution("06_train_pix2pix")))
    namespace = dict(_BASE)
    exec(source, namespace)
    return namespace[name]


# ---------------------------------------------------------------------------------------------------------
# make_optimizers

OPT_HEAD = "def make_optimizers(models):\n"
WRONG_OPTIMIZERS = {
    "SGD": "    return {k: torch.optim.SGD(m.parameters(), lr=2e-4, momentum=0.5) for k, m in models.items()}",
    "Adam's default betas": "    return {k: torch.optim.Adam(m.parameters(), lr=2e-4) for k, m in models.items()}",
    "Adam's default lr": "    return {k: torch.optim.Adam(m.parameters(), betas=(0.5, 0.999)) "
                         "for k, m in models.items()}",
    "AdamW's weight decay": "    return {k: torch.optim.AdamW(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) "
                            "for k, m in models.items()}",
    "one optimizer for both": "    params = [p for m in models.values() for p in m.parameters()]\n"
                              "    opt = torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))\n"
                              "    return {k: opt for k in models}",
    "swapped": "    names = list(models)[::-1]\n"
               "    return {k: torch.optim.Adam(models[n].parameters(), lr=2e-4, betas=(0.5, 0.999)) "
               "for k, n in zip(models, names)}",
    "fixed keys": "    return {'gen': torch.optim.Adam(models['gen'].parameters(), lr=2e-4, betas=(0.5, 0.999)),\n"
                  "            'disc': torch.optim.Adam(models['disc'].parameters(), lr=2e-4, betas=(0.5, 0.999))}",
    "a tuple": "    return tuple(torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) "
               "for m in models.values())",
    "other keys": "    return {k.upper(): torch.optim.Adam(m.parameters(), lr=2e-4, betas=(0.5, 0.999)) "
                  "for k, m in models.items()}",
}
RIGHT_OPTIMIZERS = {
    "loop": "    optimizers = {}\n"
            "    for name in models:\n"
            "        optimizers[name] = torch.optim.Adam(params=list(models[name].parameters()), lr=0.0002,\n"
            "                                            betas=[0.5, 0.999], eps=1e-8)\n"
            "    return optimizers",
    "param groups, AdamW without decay": "    return {k: torch.optim.AdamW([{'params': m.parameters()}], lr=2e-4, "
                                         "betas=(0.5, 0.999), weight_decay=0.0) for k, m in models.items()}",
}


@pytest.mark.parametrize("mistake", WRONG_OPTIMIZERS)
def test_make_optimizers_rejects(mistake):
    fn = defined(OPT_HEAD + WRONG_OPTIMIZERS[mistake], "make_optimizers")
    with pytest.raises(CheckFailed, match="make_optimizers: expected"):
        checks.check_make_optimizers(fn)


def test_make_optimizers_hints():
    cases = {"SGD": "Adam", "Adam's default betas": "beta1", "Adam's default lr": "learning rate",
             "one optimizer for both": "own optimizer", "swapped": "D's step must not move G",
             "fixed keys": "generator only", "AdamW's weight decay": "weight decay"}
    for mistake, hint in cases.items():
        with pytest.raises(CheckFailed, match=hint):
            checks.check_make_optimizers(defined(OPT_HEAD + WRONG_OPTIMIZERS[mistake], "make_optimizers"))


@pytest.mark.parametrize("mistake", ["SGD", "Adam's default betas", "swapped", "fixed keys"])
def test_make_optimizers_graded_cell_rejects(nb, mistake):
    with pytest.raises(CheckFailed):
        graded(nb, "train_optimizers_code", "train_optimizers_test", OPT_HEAD + WRONG_OPTIMIZERS[mistake])


@pytest.mark.parametrize("answer", RIGHT_OPTIMIZERS)
def test_make_optimizers_accepts(nb, answer):
    source = OPT_HEAD + RIGHT_OPTIMIZERS[answer]
    checks.check_make_optimizers(defined(source, "make_optimizers"))
    graded(nb, "train_optimizers_code", "train_optimizers_test", source)


# ---------------------------------------------------------------------------------------------------------
# pix2pix_step

STEP_HEAD = "def pix2pix_step(batch, models, optimizers, lambda_l1=100.0):\n"
BCE = "torch.nn.functional.binary_cross_entropy_with_logits"


def body(*lines: str) -> str:
    return STEP_HEAD + "".join(f"    {line}\n" for line in lines)


D_STEP = ('optimizers["disc"].zero_grad()', 'd_loss = discriminator_loss(models["disc"], condition, real, fake)',
          "d_loss.backward()", 'optimizers["disc"].step()')
G_STEP = ('optimizers["gen"].zero_grad()',
          'g_loss = generator_loss(models["disc"], condition, real, fake, lambda_l1)',
          "g_loss.backward()", 'optimizers["gen"].step()')
START = ("condition, real = batch", 'fake = models["gen"](condition)')
RETURN = ('return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}',)

WRONG_STEPS = {
    "G step before D step": body(*START, *G_STEP, *D_STEP, *RETURN),
    "no zero_grad": body(*START, *D_STEP[1:], *G_STEP[1:], *RETURN),
    "ignores lambda_l1": body(*START, *D_STEP, *G_STEP[:1],
                              'g_loss = generator_loss(models["disc"], condition, real, fake)', *G_STEP[2:], *RETURN),
    "no detach (both zeroed first)": body(
        *START, 'optimizers["gen"].zero_grad()', 'optimizers["disc"].zero_grad()', 'disc = models["disc"]',
        "pr, pf = disc(condition, real), disc(condition, fake)",
        f"d_loss = ({BCE}(pr, torch.ones_like(pr)) + {BCE}(pf, torch.zeros_like(pf))) / 2",
        "d_loss.backward(retain_graph=True)", 'optimizers["disc"].step()', *G_STEP[1:], *RETURN),
    "D's labels swapped": body(
        *START, 'optimizers["disc"].zero_grad()', 'disc = models["disc"]',
        "pr, pf = disc(condition, real), disc(condition, fake.detach())",
        f"d_loss = ({BCE}(pr, torch.zeros_like(pr)) + {BCE}(pf, torch.ones_like(pf))) / 2",
        "d_loss.backward()", 'optimizers["disc"].step()', *G_STEP, *RETURN),
    "G's label zeros": body(
        *START, *D_STEP, 'optimizers["gen"].zero_grad()', 'pf = models["disc"](condition, fake)',
        f"g_loss = {BCE}(pf, torch.zeros_like(pf)) + lambda_l1 * (fake - real).abs().mean()",
        *G_STEP[2:], *RETURN),
    "L1 weight missing": body(
        *START, *D_STEP, 'optimizers["gen"].zero_grad()', 'pf = models["disc"](condition, fake)',
        f"g_loss = {BCE}(pf, torch.ones_like(pf)) + (fake - real).abs().mean()", *G_STEP[2:], *RETURN),
    "generates twice": body(*START, *D_STEP, 'fake = models["gen"](condition)', *G_STEP, *RETURN),
    "G loss on a detached fake": body(
        *START, *D_STEP, G_STEP[0], 'g_loss = generator_loss(models["disc"], condition, real, fake.detach(), '
        'lambda_l1)', *G_STEP[2:], *RETURN),
    "d_loss after D's update": body(
        *START, *D_STEP, 'd_loss = discriminator_loss(models["disc"], condition, real, fake)', *G_STEP, *RETURN),
    "returns tensors": body(*START, *D_STEP, *G_STEP, 'return {"d_loss": d_loss, "g_loss": g_loss}'),
}
RIGHT_STEPS = {
    "both zeroed first, set_to_none=False": body(
        "condition, real = batch", "gen, disc = models['gen'], models['disc']",
        "opt_g, opt_d = optimizers['gen'], optimizers['disc']",
        "opt_g.zero_grad(set_to_none=False)", "opt_d.zero_grad(set_to_none=False)", "fake = gen(condition)",
        "loss_d = discriminator_loss(disc, condition, real, fake)", "loss_d.backward()", "opt_d.step()",
        "loss_g = generator_loss(disc, condition, real, fake, lambda_l1=lambda_l1)", "loss_g.backward()",
        "opt_g.step()", "return dict(d_loss=float(loss_d), g_loss=float(loss_g))"),
    "model.zero_grad and detach by hand": body(
        "condition, real = batch[0], batch[1]", 'fake = models["gen"](condition)',
        'models["disc"].zero_grad()', 'd_loss = discriminator_loss(models["disc"], condition, real, fake.detach())',
        "d_loss.backward()", 'optimizers["disc"].step()', 'models["gen"].zero_grad()',
        'g_loss = generator_loss(models["disc"], condition, real, fake, lambda_l1)', "g_loss.backward()",
        'optimizers["gen"].step()', 'return {"g_loss": g_loss.item(), "d_loss": d_loss.item()}'),
}


@pytest.mark.parametrize("mistake", WRONG_STEPS)
def test_pix2pix_step_check_rejects(mistake):
    with pytest.raises(CheckFailed, match="pix2pix_step: expected"):
        checks.check_pix2pix_step(defined(WRONG_STEPS[mistake], "pix2pix_step"))


def test_pix2pix_step_hints():
    cases = {"G step before D step": "after its update", "no zero_grad": "gradients left from earlier",
             "ignores lambda_l1": "lambda_l1 you were given", "D's labels swapped": "discriminator_loss",
             "G's label zeros": "generator_loss", "L1 weight missing": "generator_loss",
             "generates twice": "generate the fake once", "d_loss after D's update": "before its update",
             "returns tensors": "plain numbers"}
    for mistake, hint in cases.items():
        with pytest.raises(CheckFailed, match=hint):
            checks.check_pix2pix_step(defined(WRONG_STEPS[mistake], "pix2pix_step"))


@pytest.mark.parametrize("mistake", ["G step before D step", "generates twice", "no zero_grad", "ignores lambda_l1"])
def test_pix2pix_step_graded_cell_rejects(nb, mistake):
    with pytest.raises(CheckFailed):
        graded(nb, "train_step_code", "train_step_test", WRONG_STEPS[mistake])


@pytest.mark.parametrize("answer", RIGHT_STEPS)
def test_pix2pix_step_accepts(nb, answer):
    checks.check_pix2pix_step(defined(RIGHT_STEPS[answer], "pix2pix_step"))
    graded(nb, "train_step_code", "train_step_test", RIGHT_STEPS[answer])


# ---------------------------------------------------------------------------------------------------------
# The three questions

QUESTIONS = {"train_detach": ("answer_detach", "b"), "train_curves": ("answer_curves", "b"),
             "train_eval": ("answer_eval", "a")}


@pytest.mark.parametrize("question", QUESTIONS)
def test_questions_grade_the_letter(nb, question):
    name, right = QUESTIONS[question]
    graded(nb, f"{question}_answer", f"{question}_test", f'{name} = " {right.upper()} "')
    for wrong in sorted(set("abc") - {right}):
        with pytest.raises(CheckFailed, match="expected"):
            graded(nb, f"{question}_answer", f"{question}_test", f'{name} = "{wrong}"')
    with pytest.raises(CheckFailed, match="single letter"):
        checks.check_answer_format(name, "ab", "abc")


def test_compare_optimizer_steps_sees_what_the_settings_do():
    ref = defined(OPT_HEAD + RIGHT_OPTIMIZERS["loop"], "make_optimizers")

    def models():
        torch.manual_seed(0)
        return {"gen": torch.nn.Linear(3, 2), "disc": torch.nn.Conv2d(2, 1, 3)}

    checks.compare_optimizer_steps(ref, ref, models, "make_optimizers")
    too_fast = defined(OPT_HEAD + "    return {k: torch.optim.Adam(m.parameters(), lr=2e-3, betas=(0.5, 0.999)) "
                                  "for k, m in models.items()}", "make_optimizers")
    with pytest.raises(CheckFailed, match="to move as with the paper's Adam"):
        checks.compare_optimizer_steps(too_fast, ref, models, "make_optimizers")
    with pytest.raises(CheckFailed, match="expected a dict with the keys"):
        checks.compare_optimizer_steps(lambda m: list(ref(m).values()), ref, models, "make_optimizers")


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only

NB = read_solution("06_train_pix2pix")


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)
