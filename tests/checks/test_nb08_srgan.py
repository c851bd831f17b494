"""Notebook 08 (SRGAN): each visible check rejects the typical mistakes with the right hint; correct alternatives pass
the check and the graded cell, hidden tests included; one broken exercise costs only its own points."""

from __future__ import annotations

import textwrap

import pytest

from course_utils.checks import (
    CheckFailed,
    check_answer_format,
    check_bicubic_downsample,
    check_sr_residual_block,
    check_srgan_generator_loss,
    check_subpixel_block,
)
from helpers import (
    assert_broken_exercise_costs_only_its_own_cells,
    cell_by_id,
    exercises,
    graded_cells,
    learner_namespace,
    nbgrader_meta,
    read_solution,
    rejects_call,
    replace_solution,
    run_graded_cell,
)

NB = read_solution("08_srgan")
SOLVED = learner_namespace(NB)


def define(source: str, name: str):
    """`name` as defined by `source`, run among the solution notebook's definitions (torch, nn, F, SRResNet, ...)."""
    namespace = dict(SOLVED)
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


def passes_graded_cell(code_id: str, source: str, test_id: str) -> None:
    """`source` as the learner's answer cell passes its graded cell, hidden tests included."""
    namespace = learner_namespace(NB, {code_id: textwrap.dedent(source)})
    run_graded_cell(NB, test_id, namespace)


def with_body(code_id: str, body: str) -> str:
    """The solution cell `code_id` with its first solution block replaced by `body` (the next call: the second)."""
    return replace_solution(cell_by_id(NB, code_id).source, textwrap.dedent(body))


# ---------------------------------------------------------------------------------------------------------
# bicubic_downsample

CHECKED = """
if hr.dim() != 4 or hr.shape[-2] % scale or hr.shape[-1] % scale:
    raise ValueError(f"got {tuple(hr.shape)}")
"""


def downsample(body: str, checked: bool = True) -> str:
    return with_body("sr08_downsample_code", (CHECKED if checked else "") + textwrap.dedent(body))


BICUBIC = "F.interpolate(hr, scale_factor=1 / scale, mode='bicubic', antialias=True, align_corners=False)"


@pytest.mark.parametrize("body, hint, checked", [
    (f"return {BICUBIC}", "clip the result", True),
    (f"return {BICUBIC.replace('True', 'False', 1)}.clamp(-1, 1)", "switch antialiasing on", True),
    ("return F.interpolate(hr, scale_factor=1 / scale, mode='nearest')", "not nearest", True),
    (f"return {BICUBIC.replace('bicubic', 'bilinear')}.clamp(-1, 1)", "not bilinear", True),
    ("return F.avg_pool2d(hr, scale)", "not an average of each block", True),
    (f"return {BICUBIC.replace('1 / scale', '0.25')}.clamp(-1, 1)", "use the `scale` argument", True),
    (f"return {BICUBIC}.clamp(-1, 1)", "a ValueError for a (1, 3, 18, 16) image", False),
    (f"return {BICUBIC.replace('1 / scale', 'scale')}.clamp(-1, 1)", "divide the height and the width", True),
], ids=["no_clamp", "no_antialias", "nearest", "bilinear", "area", "fixed_scale", "no_shape_check", "upsampled"])
def test_downsample_check_rejects(body, hint, checked):
    rejects_call(check_bicubic_downsample, hint, define(downsample(body, checked), "bicubic_downsample"))


DOWNSAMPLE_ALTERNATIVES = [
    "size = (hr.shape[-2] // scale, hr.shape[-1] // scale)\n"
    "out = F.interpolate(hr, size=size, mode='bicubic', antialias=True)\nreturn torch.clamp(out, min=-1.0, max=1.0)",
    "from torchvision.transforms import InterpolationMode\nfrom torchvision.transforms.functional import resize\n"
    "size = [hr.shape[-2] // scale, hr.shape[-1] // scale]\n"
    "return resize(hr, size, InterpolationMode.BICUBIC, antialias=True).clip(-1, 1)",
]


@pytest.mark.parametrize("body", DOWNSAMPLE_ALTERNATIVES, ids=["size_keyword", "torchvision_resize"])
def test_downsample_alternatives_pass(body):
    check_bicubic_downsample(define(downsample(body), "bicubic_downsample"))
    passes_graded_cell("sr08_downsample_code", downsample(body), "sr08_downsample_test")


# ---------------------------------------------------------------------------------------------------------
# SubPixelBlock

SUB_INIT = """
self.conv = nn.Conv2d(channels, channels * scale ** 2, kernel_size=3, padding=1)
self.shuffle = nn.PixelShuffle(scale)
self.act = nn.PReLU()
"""
SUB_FORWARD = "return self.act(self.shuffle(self.conv(x)))"


def subpixel(init: str = SUB_INIT, forward: str = SUB_FORWARD) -> str:
    return replace_solution(with_body("sr08_subpixel_code", init), textwrap.dedent(forward))


@pytest.mark.parametrize("init, forward, hint", [
    (SUB_INIT.replace("nn.PixelShuffle(scale)", "nn.ConvTranspose2d(channels, channels, 3, stride=2, padding=1, "
                                                "output_padding=1)"), SUB_FORWARD, "uneven overlaps"),
    ("self.conv = nn.Conv2d(channels // scale ** 2, channels, kernel_size=3, padding=1)\n"
     "self.shuffle = nn.PixelShuffle(scale)\nself.act = nn.PReLU()", "return self.act(self.conv(self.shuffle(x)))",
     "the convolution makes them"),
    (SUB_INIT.replace("nn.PReLU()", "nn.ReLU()"), SUB_FORWARD, "PReLU learns the slope"),
    (SUB_INIT.replace("nn.PReLU()", "nn.PReLU(channels)"), SUB_FORWARD, "one slope shared by every channel"),
    (SUB_INIT.replace("channels * scale ** 2", "channels * scale"), SUB_FORWARD, "r * r channels"),
    (SUB_INIT, "return self.shuffle(self.conv(x))", "end with the PReLU"),
    (SUB_INIT.replace("padding=1", "padding=0"), SUB_FORWARD, "padding 1"),
    (SUB_INIT, "return self.shuffle(self.conv(self.act(x)))", "the convolution first"),
    (SUB_INIT.replace("nn.PixelShuffle(scale)", "nn.Upsample(scale_factor=scale)"), SUB_FORWARD,
     "rearranges scale * scale channels"),
], ids=["transposed_conv", "shuffle_first", "relu", "prelu_per_channel", "too_few_channels", "no_act", "no_padding",
        "act_first", "upsample"])
def test_subpixel_check_rejects(init, forward, hint):
    rejects_call(check_subpixel_block, hint, define(subpixel(init, forward), "SubPixelBlock"))


SUBPIXEL_ALTERNATIVES = [
    (SUB_INIT, "return self.shuffle(self.act(self.conv(x)))"),  # a scalar PReLU commutes with the shuffle
    (SUB_INIT.replace("kernel_size=3, padding=1", "3, 1, 1, bias=True"),
     "y = self.conv(x)\ny = F.pixel_shuffle(y, self.shuffle.upscale_factor)\nreturn F.prelu(y, self.act.weight)"),
]


@pytest.mark.parametrize("init, forward", SUBPIXEL_ALTERNATIVES, ids=["act_before_shuffle", "functional"])
def test_subpixel_alternatives_pass(init, forward):
    source = subpixel(init, forward)
    check_subpixel_block(define(source, "SubPixelBlock"))
    passes_graded_cell("sr08_subpixel_code", source, "sr08_subpixel_test")


# ---------------------------------------------------------------------------------------------------------
# ResidualBlock

FIVE = ("nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.PReLU(), "
        "nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)")


def residual(layers: str = FIVE, forward: str = "return x + self.block(x)") -> str:
    return (f"class ResidualBlock(nn.Module):\n    def __init__(self, channels):\n        super().__init__()\n"
            f"        self.block = nn.Sequential({layers})\n\n    def forward(self, x):\n        {forward}\n")


@pytest.mark.parametrize("source, hint", [
    (residual(forward="return self.block(x)"), "the skip"),
    (residual(FIVE.replace("nn.PReLU()", "nn.ReLU()")), "PReLU learns the slope"),
    (residual("nn.Conv2d(channels, channels, 3, padding=1), nn.PReLU(), nn.Conv2d(channels, channels, 3, padding=1)"),
     "batch norm after each convolution"),
    (residual(FIVE.replace("nn.BatchNorm2d(channels)", "nn.InstanceNorm2d(channels)")),
     "batch norm after each convolution"),
    (residual(FIVE.replace("nn.PReLU()", "nn.PReLU(channels)")), "one slope shared by every channel"),
    (residual(FIVE + ", nn.PReLU()"), "five layers"),
    (residual(FIVE.replace("padding=1", "padding=0")), "padding 1"),
    (residual(FIVE.replace("padding=1)", "padding=1, bias=False)")), "padding 1, with a bias"),
    (residual(FIVE.replace("nn.BatchNorm2d(channels)", "nn.BatchNorm2d(channels, affine=False)")),
     "learned scale and shift"),
    (residual(forward="return F.prelu(x + self.block(x), self.block[2].weight)"), "no activation after the addition"),
], ids=["no_skip", "relu", "no_bn", "instance_norm", "prelu_per_channel", "prelu_after_add", "no_padding", "no_bias",
        "bn_not_affine", "prelu_on_sum"])
def test_residual_check_rejects(source, hint):
    rejects_call(check_sr_residual_block, hint, define(source, "ResidualBlock"))


RESIDUAL_ALTERNATIVES = [
    residual(FIVE.replace("3, padding=1", "kernel_size=3, stride=1, padding=1, bias=True"),
             "out = self.block(x)\n        return out + x"),
    """
    class ResidualBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            layers = []
            for last in (False, True):
                layers += [nn.Conv2d(channels, channels, 3, padding="same"), nn.BatchNorm2d(channels)]
                if not last:
                    layers.append(nn.PReLU(num_parameters=1, init=0.25))
            self.block = nn.Sequential(*layers)

        def forward(self, x):
            return torch.add(x, self.block(x))
    """,
]


@pytest.mark.parametrize("source", RESIDUAL_ALTERNATIVES, ids=["keywords", "loop_same_padding"])
def test_residual_alternatives_pass(source):
    check_sr_residual_block(define(source, "ResidualBlock"))
    passes_graded_cell("sr08_residual_code", source, "sr08_residual_test")


# ---------------------------------------------------------------------------------------------------------
# generator_loss

LOSS = """
content = F.mse_loss(features(fake), features(real).detach())
judged = discriminator(fake)
adversarial = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))
return content + adversarial_weight * adversarial
"""


def loss(body: str) -> str:
    return with_body("sr08_loss_code", body)


@pytest.mark.parametrize("body, hint", [
    (LOSS.replace("torch.ones_like", "torch.zeros_like"), "the target is 1, not 0"),
    (LOSS.replace("adversarial = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))",
                  "adversarial = -F.binary_cross_entropy_with_logits(judged, torch.zeros_like(judged))"),
     "not log(1 - D(G(x)))"),
    (LOSS.replace("F.binary_cross_entropy_with_logits(judged,", "F.binary_cross_entropy(judged,"),
     "BCE with logits"),
    (LOSS.replace("return content + adversarial_weight * adversarial", "return content + 1e-3 * adversarial"),
     "the adversarial_weight argument"),
    (LOSS.replace("return content + adversarial_weight * adversarial",
                  "return adversarial_weight * content + adversarial"), "the default adversarial_weight is 1e-3"),
    (LOSS.replace("F.mse_loss(features(fake), features(real).detach())", "F.mse_loss(fake, real)"),
     "not the pixels"),
    (LOSS.replace("F.mse_loss", "F.l1_loss"), "SQUARED"),
    (LOSS.replace("F.mse_loss(features(fake), features(real).detach())",
                  "((features(fake) - features(real).detach()) ** 2).sum()"), "not their sum"),
    (LOSS.replace("judged = discriminator(fake)", "judged = discriminator(fake.detach())"),
     "not a detached copy"),
    (LOSS.replace("features(fake), features(real).detach()", "features(fake).detach(), features(real)"),
     "do not detach the fake"),
    (LOSS.replace("features(real).detach()", "features(real)"), "detach them"),
    (LOSS.replace("return content + adversarial_weight * adversarial",
                  "return (content + adversarial_weight * adversarial).item()"), "a torch.Tensor"),
], ids=["target_0", "saturating", "probabilities", "weight_hard_coded", "weight_on_content", "pixel_content", "l1",
        "summed", "fake_detached_for_d", "fake_detached_for_content", "real_not_detached", "item"])
def test_loss_check_rejects(body, hint):
    rejects_call(check_srgan_generator_loss, hint, define(loss(body), "generator_loss"))


@pytest.mark.parametrize("default", ["1e-2", "1.0", "0.0"])
def test_loss_check_rejects_another_default_weight(default):
    source = loss(LOSS).replace("adversarial_weight: float = 1e-3", f"adversarial_weight: float = {default}")
    rejects_call(check_srgan_generator_loss, "the default adversarial_weight is 1e-3", define(source, "generator_loss"))


LOSS_ALTERNATIVES = [
    """
    with torch.no_grad():
        target = features(real)
    content = ((features(fake) - target) ** 2).mean()
    p = torch.sigmoid(discriminator(fake))
    return content + adversarial_weight * F.binary_cross_entropy(p, torch.ones_like(p))
    """,
    """
    content = nn.MSELoss()(features(fake), features(real).detach())
    adversarial = -F.logsigmoid(discriminator(fake)).mean()
    return adversarial_weight * adversarial + content
    """,
]


@pytest.mark.parametrize("body", LOSS_ALTERNATIVES, ids=["no_grad_sigmoid_bce", "logsigmoid"])
def test_loss_alternatives_pass(body):
    check_srgan_generator_loss(define(loss(body), "generator_loss"))
    passes_graded_cell("sr08_loss_code", loss(body), "sr08_loss_test")


# ---------------------------------------------------------------------------------------------------------
# The think items: the visible check judges the form only, the graded cell the answer

@pytest.mark.parametrize("name", ["answer_checkerboard", "answer_psnr"])
@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("b)", "a single letter"), (2, "a single letter"),
                                         ("ab", "a single letter"), (["b"], "a single letter")])
def test_answer_format_rejects(name, value, hint):
    rejects_call(lambda v: check_answer_format(name, v, "abc"), hint, value)


@pytest.mark.parametrize("code_id, test_id, name, answer, match", [
    ("sr08_checkerboard_answer", "sr08_checkerboard_test", "answer_checkerboard", '"a"', "uneven"),
    ("sr08_checkerboard_answer", "sr08_checkerboard_test", "answer_checkerboard", '"c"', "1, 2 / 2, 4"),
    ("sr08_checkerboard_answer", "sr08_checkerboard_test", "answer_checkerboard", '"d"', 'expected one of "a"'),
    ("sr08_checkerboard_answer", "sr08_checkerboard_test", "answer_checkerboard", "None", "no answer yet"),
    ("sr08_checkerboard_answer", "sr08_checkerboard_test", "answer_checkerboard", '"bc"', "a single letter"),
    ("sr08_psnr_answer", "sr08_psnr_test", "answer_psnr", '"a"', "PSNR rewards the safe blur"),
    ("sr08_psnr_answer", "sr08_psnr_test", "answer_psnr", '"c"', "SRGAN gives some of it up"),
    ("sr08_psnr_answer", "sr08_psnr_test", "answer_psnr", '"e"', 'expected one of "a"'),
    ("sr08_psnr_answer", "sr08_psnr_test", "answer_psnr", "None", "no answer yet"),
    ("sr08_psnr_answer", "sr08_psnr_test", "answer_psnr", "3", "a single letter"),
])
def test_a_wrong_answer_fails_its_graded_cell(code_id, test_id, name, answer, match):
    namespace = learner_namespace(NB, {code_id: f"{name} = {answer}"})
    with pytest.raises(CheckFailed, match=match):
        run_graded_cell(NB, test_id, namespace)


@pytest.mark.parametrize("code_id, test_id, source", [
    ("sr08_checkerboard_answer", "sr08_checkerboard_test", 'answer_checkerboard = "b"'),
    ("sr08_checkerboard_answer", "sr08_checkerboard_test", 'answer_checkerboard = " B "'),
    ("sr08_psnr_answer", "sr08_psnr_test", 'answer_psnr = "b"'),
    ("sr08_psnr_answer", "sr08_psnr_test", "answer_psnr = 'B'"),
])
def test_the_right_answer_passes(code_id, test_id, source):
    passes_graded_cell(code_id, source, test_id)


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


def test_the_points_add_up_to_ten():
    assert sum(nbgrader_meta(c)["points"] for c in graded_cells(NB)) == 10


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)
