"""Notebook 07 (Pix2PixHD): each visible check rejects the typical mistakes with the right hint; correct alternatives
pass the check and the graded cell, hidden tests included; one broken exercise costs only its own points."""

from __future__ import annotations

import textwrap

import pytest

from course_utils.checks import (
    CheckFailed,
    check_answer_format,
    check_boundary_map,
    check_feature_matching_loss,
    check_local_enhancer,
    check_lsgan_losses,
    check_multiscale_discriminator,
    check_residual_block,
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

NB = read_solution("07_pix2pixhd")
SOLVED = learner_namespace(NB)


def define(source: str, name: str):
    """`name` as defined by `source`, run among the solution notebook's definitions (torch, nn, F, G1, ...)."""
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
# ResidualBlock

BLOCK = "ResidualBlock"
SEVEN = ("nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels), nn.ReLU(), "
         "nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels)")


def residual(layers: str = SEVEN, forward: str = "return x + self.block(x)") -> str:
    return (f"class ResidualBlock(nn.Module):\n    def __init__(self, channels):\n        super().__init__()\n"
            f"        self.block = nn.Sequential({layers})\n\n    def forward(self, x):\n        {forward}\n")


@pytest.mark.parametrize("source, hint", [
    (residual(forward="return self.block(x)"), "the skip connection"),
    (residual(forward="return torch.relu(x + self.block(x))"), "no ReLU after the addition"),
    (residual(forward="return self.block(x) - x"), "the skip connection"),
    (residual(SEVEN.replace("nn.InstanceNorm2d(channels)", "nn.BatchNorm2d(channels)")), "not batch norm"),
    (residual(SEVEN.replace("nn.InstanceNorm2d(channels)", "nn.InstanceNorm2d(channels, affine=True)")), "affine off"),
    (residual(SEVEN.replace("3)", "3, bias=False)")), "convolutions with a bias"),
    (residual(SEVEN.replace("3)", "3, padding=1)")), "the reflection pad does the padding"),
    (residual("nn.Conv2d(channels, channels, 3, padding=1), nn.InstanceNorm2d(channels), nn.ReLU(), "
              "nn.Conv2d(channels, channels, 3, padding=1), nn.InstanceNorm2d(channels)"), "seven layers"),
    (residual(SEVEN.replace("nn.InstanceNorm2d(channels), nn.ReLU()", "nn.ReLU(), nn.InstanceNorm2d(channels)", 1)),
     "seven layers"),
    (residual(SEVEN.replace("ReflectionPad2d(1)", "ReflectionPad2d(2)").replace("3)", "3, dilation=2)")),
     "pad 1 pixel"),
], ids=["no_skip", "relu_after_add", "minus", "batch_norm", "affine", "no_bias", "double_padding", "zero_padding",
        "relu_before_norm", "pad_2"])
def test_residual_block_check_rejects(source, hint):
    rejects_call(check_residual_block, hint, define(source, BLOCK))


RESIDUAL_ALTERNATIVES = [
    residual(SEVEN.replace("nn.ReLU()", "nn.ReLU(inplace=True)"), "out = self.block(x)\n        return out + x"),
    residual(SEVEN.replace("3)", "kernel_size=3, padding=0, bias=True)"), "return torch.add(x, self.block(x))"),
    """
    class ResidualBlock(nn.Module):
        def __init__(self, channels):
            super().__init__()
            layers = []
            for last in (False, True):
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels)]
                if not last:
                    layers.append(nn.ReLU())
            self.block = nn.Sequential(*layers)

        def forward(self, x):
            return self.block(x) + x
    """,
]


@pytest.mark.parametrize("source", RESIDUAL_ALTERNATIVES, ids=["inplace_relu", "keywords_add", "loop"])
def test_residual_block_alternatives_pass(source):
    check_residual_block(define(source, BLOCK))
    passes_graded_cell("hd07_residual_code", source, "hd07_residual_test")


# ---------------------------------------------------------------------------------------------------------
# LocalEnhancer.forward

def enhancer(body: str) -> str:
    return with_body("hd07_enhancer_code", body)


@pytest.mark.parametrize("body, hint", [
    ("coarse = self.global_generator.features(self.downsample(x))\n"
     "return self.back(torch.cat([self.front(x), coarse], 1))", "add the maps element-wise"),
    ("return self.back(self.front(x) + self.global_generator.features(x))", "have the same shape"),
    ("return self.back(self.front(x) + self.global_generator(self.downsample(x)))", "not G1's 3-channel image"),
    ("return self.back(self.front(x) + self.global_generator.features(F.avg_pool2d(x, 2)))",
     "give it self.downsample(x)"),
    ("return self.front(x) + self.global_generator.features(self.downsample(x))", "end with self.back"),
    ("return self.back(self.front(x))", "give it self.downsample(x)"),
    ("coarse = self.global_generator.features(self.downsample(x))\n"
     "return self.back(coarse) + self.back(self.front(x))", "end with self.back"),
], ids=["concatenated", "g1_full_size", "g1_image", "own_pool", "no_back", "no_g1", "back_twice"])
def test_local_enhancer_check_rejects(body, hint):
    rejects_call(check_local_enhancer, hint, define(enhancer(body), "LocalEnhancer"))


@pytest.mark.parametrize("body", [
    "return self.back(torch.add(self.front(x), self.global_generator.features(self.downsample(x))))",
    "small = self.downsample(x)\ncoarse = self.global_generator.body(small)\nfine = self.front(x)\n"
    "return self.back(fine + coarse)",
], ids=["torch_add", "body_directly"])
def test_local_enhancer_alternatives_pass(body):
    check_local_enhancer(define(enhancer(body), "LocalEnhancer"))
    passes_graded_cell("hd07_enhancer_code", enhancer(body), "hd07_enhancer_test")


# ---------------------------------------------------------------------------------------------------------
# boundary_map

CHECKED = """
if instances.dim() != 4 or instances.shape[1] != 1:
    raise ValueError(f"got {tuple(instances.shape)}")
"""


def boundary(body: str, checked: bool = True) -> str:
    return with_body("hd07_boundary_code", (CHECKED if checked else "") + textwrap.dedent(body))


@pytest.mark.parametrize("body, hint, checked", [
    ("e = torch.zeros_like(instances, dtype=torch.bool)\n"
     "e[..., :, :-1] |= instances[..., :, 1:] != instances[..., :, :-1]\n"
     "e[..., :-1, :] |= instances[..., 1:, :] != instances[..., :-1, :]\nreturn e.float()", "mark both pixels", True),
    ("p = F.pad(instances.float(), (1, 1, 1, 1), mode='replicate')\n"
     "H, W = instances.shape[-2:]\n"
     "e = sum((p[..., 1 + dy:1 + dy + H, 1 + dx:1 + dx + W] != instances).float()\n"
     "        for dy in (-1, 0, 1) for dx in (-1, 0, 1))\nreturn (e > 0).float()", "no diagonals", True),
    ("e = torch.zeros_like(instances, dtype=torch.bool)\n"
     "for shift, dim in [(1, -1), (-1, -1), (1, -2), (-1, -2)]:\n"
     "    e |= torch.roll(instances, shift, dim) != instances\nreturn e.float()", "no wrapping", True),
    ("e = torch.zeros_like(instances, dtype=torch.bool)\nd = instances[..., :, 1:] != instances[..., :, :-1]\n"
     "e[..., :, 1:] |= d\ne[..., :, :-1] |= d\nv = instances[..., 1:, :] != instances[..., :-1, :]\n"
     "e[..., 1:, :] |= v\ne[..., :-1, :] |= v\nreturn e", "convert it with .float()", True),
    ("e = torch.zeros_like(instances)\nd = instances[..., :, 1:] != instances[..., :, :-1]\n"
     "e[..., :, 1:] |= d\ne[..., :, :-1] |= d\nv = instances[..., 1:, :] != instances[..., :-1, :]\n"
     "e[..., 1:, :] |= v\ne[..., :-1, :] |= v\nreturn e", "convert it with .float()", True),
    ("e = torch.zeros_like(instances, dtype=torch.bool)\nd = instances[..., :, 1:] != instances[..., :, :-1]\n"
     "e[..., :, 1:] |= d\ne[..., :, :-1] |= d\nreturn e.float()", "up AND down", True),
    ("e = torch.zeros_like(instances, dtype=torch.bool)\nd = instances[..., :, 1:] != instances[..., :, :-1]\n"
     "e[..., :, 1:] |= d\ne[..., :, :-1] |= d\nv = instances[..., 1:, :] != instances[..., :-1, :]\n"
     "e[..., 1:, :] |= v\ne[..., :-1, :] |= v\nreturn e.float()", "a ValueError for a map of shape (4, 4)", False),
], ids=["one_sided", "diagonals", "roll_wraps", "bool", "int", "horizontal_only", "no_shape_check"])
def test_boundary_map_check_rejects(body, hint, checked):
    rejects_call(check_boundary_map, hint, define(boundary(body, checked), "boundary_map"))


BOUNDARY_ALTERNATIVES = [
    """
    p = F.pad(instances.float(), (1, 1, 1, 1), mode="replicate")
    H, W = instances.shape[-2:]
    shifted = [p[..., 1 + dy:1 + dy + H, 1 + dx:1 + dx + W] for dy, dx in [(0, 1), (0, -1), (1, 0), (-1, 0)]]
    return torch.stack([s != instances.float() for s in shifted]).any(0).float()
    """,
    """
    dx = torch.diff(instances, dim=-1) != 0
    dy = torch.diff(instances, dim=-2) != 0
    zeros_x = torch.zeros_like(instances[..., :1], dtype=torch.bool)
    zeros_y = torch.zeros_like(instances[..., :1, :], dtype=torch.bool)
    e = torch.cat([dx, zeros_x], -1) | torch.cat([zeros_x, dx], -1)
    e = e | torch.cat([dy, zeros_y], -2) | torch.cat([zeros_y, dy], -2)
    return e.to(torch.float32)
    """,
]


@pytest.mark.parametrize("body", BOUNDARY_ALTERNATIVES, ids=["replicate_pad", "diff"])
def test_boundary_map_alternatives_pass(body):
    check_boundary_map(define(boundary(body), "boundary_map"))
    passes_graded_cell("hd07_boundary_code", boundary(body), "hd07_boundary_test")


# ---------------------------------------------------------------------------------------------------------
# MultiscaleDiscriminator

INIT = """
self.discriminators = nn.ModuleList([PatchDiscriminator(in_channels, base_channels, n_layers) for _ in range(num_d)])
self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
"""
FORWARD = """
pair = torch.cat([condition, image], 1)
outputs = []
for index, discriminator in enumerate(self.discriminators):
    if index > 0:
        pair = self.downsample(pair)
    outputs.append(discriminator(pair))
return outputs
"""


def multiscale(init: str = INIT, forward: str = FORWARD) -> str:
    source = with_body("hd07_multiscale_code", init)
    return replace_solution(source, textwrap.dedent(forward))


@pytest.mark.parametrize("init, forward, hint", [
    (INIT.replace(", count_include_pad=False", ""), FORWARD, "count_include_pad off"),
    (INIT, FORWARD.replace("[condition, image]", "[image, condition]"), "condition first"),
    (INIT, FORWARD.replace("return outputs", "return outputs[::-1]"), "the full-size scale first"),
    (INIT, FORWARD.replace("    if index > 0:\n        pair", "    pair"), "downsample after it"),
    (INIT.replace("nn.ModuleList(", "list("), FORWARD, "an nn.ModuleList"),
    (INIT.replace("nn.ModuleList([PatchDiscriminator(in_channels, base_channels, n_layers) for _ in range(num_d)])",
                  "nn.ModuleList([PatchDiscriminator(in_channels, base_channels, n_layers)] * num_d)"), FORWARD,
     "its own discriminator"),
    (INIT, FORWARD.replace("discriminator(pair))", "discriminator(pair)[-1])"), "whole output"),
    (INIT, "pair = torch.cat([condition, image], 1)\n"
           "return [d(F.avg_pool2d(pair, 2 ** i) if i else pair) for i, d in enumerate(self.discriminators)]",
     "from the one before"),
    (INIT.replace("PatchDiscriminator(in_channels, base_channels, n_layers)", "PatchDiscriminator(in_channels)"),
     FORWARD, "pass in_channels, base_channels and n_layers on"),
], ids=["pad_counted", "image_first", "coarse_first", "pool_first", "plain_list", "shared_weights", "logits_only",
        "pool_from_original", "defaults"])
def test_multiscale_check_rejects(init, forward, hint):
    rejects_call(check_multiscale_discriminator, hint, define(multiscale(init, forward), "MultiscaleDiscriminator"))


MULTISCALE_ALTERNATIVES = [
    (INIT.replace("self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)", "pass"),
     """
     outputs = []
     for discriminator in self.discriminators:
         outputs.append(list(discriminator(torch.cat((condition, image), dim=1))))
         condition = F.avg_pool2d(condition, 3, 2, 1, count_include_pad=False)
         image = F.avg_pool2d(image, 3, 2, 1, count_include_pad=False)
     return outputs
     """),
    (INIT, """
     pairs = [torch.cat([condition, image], 1)]
     while len(pairs) < len(self.discriminators):
         pairs.append(self.downsample(pairs[-1]))
     return [d(p) for d, p in zip(self.discriminators, pairs)]
     """),
]


@pytest.mark.parametrize("init, forward", MULTISCALE_ALTERNATIVES, ids=["pool_each_functional", "pyramid_first"])
def test_multiscale_alternatives_pass(init, forward):
    source = multiscale(init, forward)
    check_multiscale_discriminator(define(source, "MultiscaleDiscriminator"))
    passes_graded_cell("hd07_multiscale_code", source, "hd07_multiscale_test")


# ---------------------------------------------------------------------------------------------------------
# The LSGAN losses

MSE_D = ("real = sum(F.mse_loss(o[-1], torch.ones_like(o[-1])) for o in real_outputs)\n"
         "fake = sum(F.mse_loss(o[-1], torch.zeros_like(o[-1])) for o in fake_outputs)\nreturn 0.5 * (real + fake)")
MSE_G = "return sum(F.mse_loss(o[-1], torch.ones_like(o[-1])) for o in fake_outputs)"


def lsgan(d_body: str = MSE_D, g_body: str = MSE_G) -> str:
    source = with_body("hd07_lsgan_code", d_body)
    return replace_solution(source, g_body)


def check_lsgan_source(source: str) -> None:
    check_lsgan_losses(define(source, "discriminator_lsgan_loss"), define(source, "generator_lsgan_loss"))


BCE = "F.binary_cross_entropy_with_logits"


@pytest.mark.parametrize("d_body, g_body, hint", [
    (MSE_D.replace("F.mse_loss", BCE), MSE_G, "no BCE"),
    (MSE_D, MSE_G.replace("F.mse_loss", BCE), "no BCE"),
    (MSE_D.replace("0.5 * ", ""), MSE_G, "halve the sum"),
    (MSE_D.replace("sum(", "sum(").replace("return 0.5 * (real + fake)",
                                           "return 0.5 * (real + fake) / len(real_outputs)"), MSE_G,
     "do not average them"),
    (MSE_D.replace("o[-1]", "o[0]"), MSE_G, "only the last map of each scale counts"),
    (MSE_D, MSE_G.replace("ones_like", "zeros_like"), "the target is 1"),
    (MSE_D.replace("ones_like", "TMP").replace("zeros_like", "ones_like").replace("TMP", "zeros_like"), MSE_G,
     "real against 1, fake against 0"),
    (MSE_D.replace("F.mse_loss", "F.l1_loss"), MSE_G, "squared error"),
    (MSE_D, MSE_G.replace("return sum(", "return float(sum(") + ")", "no .item()"),
], ids=["bce_d", "bce_g", "not_halved", "mean_over_scales", "first_map", "g_target_0", "d_targets_swapped", "l1",
        "g_float"])
def test_lsgan_check_rejects(d_body, g_body, hint):
    with pytest.raises(CheckFailed) as info:
        check_lsgan_source(lsgan(d_body, g_body))
    assert hint in str(info.value), str(info.value)


@pytest.mark.parametrize("d_body, g_body", [
    ("terms = [((r[-1] - 1) ** 2).mean() + (f[-1] ** 2).mean() for r, f in zip(real_outputs, fake_outputs)]\n"
     "return torch.stack(terms).sum() / 2",
     "return torch.stack([((f[-1] - 1) ** 2).mean() for f in fake_outputs]).sum()"),
    ("mse = nn.MSELoss()\nloss = 0\nfor r in real_outputs:\n    loss = loss + mse(r[-1], torch.ones_like(r[-1]))\n"
     "for f in fake_outputs:\n    loss = loss + mse(f[-1], torch.zeros_like(f[-1]))\nreturn loss * 0.5",
     "loss = 0\nfor f in fake_outputs:\n    loss = loss + (f[-1] - 1).pow(2).mean()\nreturn loss"),
], ids=["stacked", "loops"])
def test_lsgan_alternatives_pass(d_body, g_body):
    source = lsgan(d_body, g_body)
    check_lsgan_source(source)
    passes_graded_cell("hd07_lsgan_code", source, "hd07_lsgan_test")


# ---------------------------------------------------------------------------------------------------------
# The feature-matching loss

FM = """
total = 0.0
for real_features, fake_features in zip(real_outputs, fake_outputs):
    weight = 1.0 / len(real_outputs) * 4.0 / (len(real_features) - 1)
    for real, fake in zip(real_features[:-1], fake_features[:-1]):
        total = total + weight * F.l1_loss(fake, real.detach())
return lambda_fm * total
"""


def matching(body: str) -> str:
    return with_body("hd07_feature_matching_code", body)


@pytest.mark.parametrize("body, hint", [
    (FM.replace("zip(real_features[:-1], fake_features[:-1])", "zip(real_features, fake_features)"),
     "leave out the last map"),
    (FM.replace("real.detach()", "real"), "detach them"),
    (FM.replace("1.0 / len(real_outputs) * ", ""), "1 / num_d"),
    (FM.replace(" * 4.0 / (len(real_features) - 1)", ""), "4 / (n_layers + 1)"),
    (FM.replace("(len(real_features) - 1)", "len(real_features)"), "every map but the logits"),
    (FM.replace("F.l1_loss", "F.mse_loss"), "ABSOLUTE"),
    (FM.replace("return lambda_fm * total", "return total"), "multiply by lambda_fm"),
    (FM.replace("return lambda_fm * total", "return 10.0 * total"), "the lambda_fm argument"),
    (FM.replace("F.l1_loss(fake, real.detach())", "F.l1_loss(fake.detach(), real.detach())"), "do not detach the fake"),
    (FM.replace("F.l1_loss(fake, real.detach())", "(fake - real.detach()).abs().sum()"), "the mean |fake - real|"),
], ids=["logits_included", "real_not_detached", "no_scale_weight", "no_layer_weight", "layer_weight_off_by_one",
        "mse", "no_lambda", "lambda_hard_coded", "fake_detached", "summed"])
def test_feature_matching_check_rejects(body, hint):
    rejects_call(check_feature_matching_loss, hint, define(matching(body), "feature_matching_loss"))


@pytest.mark.parametrize("body", [
    """
    num_d = len(fake_outputs)
    terms = [(f - r.detach()).abs().mean() * 4 / (len(fs) - 1) / num_d
             for rs, fs in zip(real_outputs, fake_outputs) for r, f in zip(rs[:-1], fs[:-1])]
    return lambda_fm * torch.stack(terms).sum()
    """,
    """
    n_layers = len(real_outputs[0]) - 2
    loss = torch.zeros(())
    for i in range(len(real_outputs)):
        for j in range(n_layers + 1):
            real = real_outputs[i][j].detach()
            loss = loss + nn.L1Loss()(fake_outputs[i][j], real) * (4.0 / (n_layers + 1)) / len(real_outputs)
    return loss * lambda_fm
    """,
], ids=["comprehension", "indices"])
def test_feature_matching_alternatives_pass(body):
    check_feature_matching_loss(define(matching(body), "feature_matching_loss"))
    passes_graded_cell("hd07_feature_matching_code", matching(body), "hd07_feature_matching_test")


# ---------------------------------------------------------------------------------------------------------
# The think item: the visible check judges the form only, the graded cell the answer

@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("b)", "a single letter"), (2, "a single letter")])
def test_coarsest_answer_format_rejects(value, hint):
    rejects_call(lambda v: check_answer_format("answer_coarsest", v, "abc"), hint, value)


@pytest.mark.parametrize("answer, match", [
    ('"a"', "one patch covers about 280 x 280"),
    ('"c"', "Same network, different zoom"),
    ('"d"', 'expected one of "a", "b", "c"'),
])
def test_a_wrong_coarsest_answer_fails_its_graded_cell(answer, match):
    namespace = learner_namespace(NB, {"hd07_coarsest_answer": f"answer_coarsest = {answer}"})
    with pytest.raises(CheckFailed, match=match):
        run_graded_cell(NB, "hd07_coarsest_test", namespace)


@pytest.mark.parametrize("answer", ['"b"', '" B "'])
def test_the_right_coarsest_answer_passes(answer):
    passes_graded_cell("hd07_coarsest_answer", f"answer_coarsest = {answer}", "hd07_coarsest_test")


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


def test_the_points_add_up_to_eleven():
    assert sum(nbgrader_meta(c)["points"] for c in graded_cells(NB)) == 11


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)
