"""Notebook 03 (Pix2Pix generator): each visible check rejects the typical mistakes with the right hint; correct
alternatives pass the check and the graded cell, hidden tests included; one broken exercise costs only its own points.

The generator's constructor is the learner's design: its check must name the block that is wrong (its layout, read
with stand-in blocks, and its parameter count), at four sizes including the paper's 54,413,955-parameter generator.
"""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from course_utils.checks import (
    CheckFailed,
    check_answer_format,
    check_decoder_block,
    check_encoder_block,
    check_unet_generator,
    reference,
)
from helpers import (
    assert_broken_exercise_costs_only_its_own_cells,
    exercises,
    learner_namespace,
    nbgrader_meta,
    read_solution,
    rejects,
    run_graded_cell,
)

NB = read_solution("03_pix2pix_generator")
REF = reference("03_pix2pix_generator")


def define(source: str, name: str):
    """What the learner's cell `source` defines under `name`, with the notebook's imports and the reference blocks."""
    namespace = {"torch": torch, "nn": nn, "EncoderBlock": REF.EncoderBlock, "DecoderBlock": REF.DecoderBlock}
    exec(textwrap.dedent(source), namespace)
    return namespace[name]


def passes_check_and_graded_cell(check, name: str, grade_id: str, source: str, test_id: str) -> None:
    check(define(source, name))
    namespace = learner_namespace(NB, {grade_id: textwrap.dedent(source)})
    run_graded_cell(NB, test_id, namespace)


def test_the_paper_generator_has_the_reference_implementation_count():
    """54,413,955: counted on junyanz/pytorch-CycleGAN-and-pix2pix's UnetGenerator(3, 3, 8, ngf=64, BatchNorm2d)."""
    with torch.device("meta"):
        model = REF.UNetGenerator(3, 3, 64, 8)
    assert sum(p.numel() for p in model.parameters()) == 54_413_955


# ---------------------------------------------------------------------------------------------------------
# EncoderBlock

ENCODER = """
class EncoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, use_norm=True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size={k}, stride=2, padding=1, bias={bias})
        self.norm = {norm}
        self.act = {act}

    def forward(self, x):
        return {body}
"""


def encoder(k="4", bias="False", norm="nn.BatchNorm2d(out_channels) if use_norm else nn.Identity()",
            act="nn.LeakyReLU(0.2)", body="self.act(self.norm(self.conv(x)))") -> str:
    return ENCODER.format(k=k, bias=bias, norm=norm, act=act, body=body)


@pytest.mark.parametrize("source, hint", [
    (encoder(act="nn.ReLU()"), "negative values are multiplied by 0.2"),
    (encoder(act="nn.LeakyReLU()"), "negative values are multiplied by 0.2"),
    (encoder(body="self.norm(self.act(self.conv(x)))"), "the LeakyReLU last"),
    (encoder(norm="nn.BatchNorm2d(out_channels)"), "with use_norm=False set self.norm"),
    (encoder(bias="True"), "a bias would do nothing"),
    (encoder(k="3"), "a 4x4 kernel with stride 2 and padding 1"),
    (encoder(norm="nn.InstanceNorm2d(out_channels) if use_norm else nn.Identity()"), "batch norm normalises"),
], ids=["relu", "default_slope", "act_before_norm", "norm_always", "bias", "kernel_3", "instance_norm"])
def test_encoder_block_check_rejects(source, hint):
    rejects(check_encoder_block, define(source, "EncoderBlock"), hint)


ENCODER_ALTERNATIVES = [
    """
    class EncoderBlock(nn.Module):
        def __init__(self, in_channels, out_channels, use_norm=True):
            super().__init__()
            self.act = nn.LeakyReLU(negative_slope=0.2, inplace=True)
            self.norm = nn.BatchNorm2d(out_channels) if use_norm else nn.Identity()
            self.conv = nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=False)

        def forward(self, x):
            x = self.conv(x)
            x = self.norm(x)
            return self.act(x)
    """,
    """
    class EncoderBlock(nn.Module):
        def __init__(self, in_channels, out_channels, use_norm=True):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, out_channels, (4, 4), (2, 2), (1, 1), bias=False)
            self.norm = nn.Identity()
            if use_norm:
                self.norm = nn.BatchNorm2d(num_features=out_channels, eps=1e-5, momentum=0.1)
            self.act = nn.LeakyReLU(0.2)

        def forward(self, x):
            return torch.nn.functional.leaky_relu(self.norm(self.conv(x)), 0.2)
    """,
]


@pytest.mark.parametrize("source", ENCODER_ALTERNATIVES, ids=["inplace_other_order", "functional"])
def test_encoder_block_alternatives_pass(source):
    passes_check_and_graded_cell(check_encoder_block, "EncoderBlock", "p2pgen_encoder_code", source,
                                 "p2pgen_encoder_test")


# ---------------------------------------------------------------------------------------------------------
# DecoderBlock

DECODER = """
class DecoderBlock(nn.Module):
    def __init__(self, in_channels, out_channels, use_dropout=False):
        super().__init__()
        self.conv = nn.{conv}(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias={bias})
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = {act}
        self.dropout = {dropout}

    def forward(self, x):
        return {body}
"""


def decoder(conv="ConvTranspose2d", bias="False", act="nn.ReLU()",
            dropout="nn.Dropout(0.5) if use_dropout else nn.Identity()",
            body="self.dropout(self.act(self.norm(self.conv(x))))") -> str:
    return DECODER.format(conv=conv, bias=bias, act=act, dropout=dropout, body=body)


@pytest.mark.parametrize("source, hint", [
    (decoder(act="nn.LeakyReLU(0.2)"), "a plain ReLU (not a leaky one)"),
    (decoder(body="self.dropout(self.act(self.conv(x)))"), "the order is conv, norm, ReLU"),
    (decoder(dropout="nn.Dropout(0.5)"), "only blocks built with use_dropout=True may drop values"),
    (decoder(dropout="nn.Dropout(0.2) if use_dropout else nn.Identity()"), "use nn.Dropout(0.5)"),
    (decoder(dropout="nn.Identity()"), "add nn.Dropout(0.5) after the ReLU"),
    (decoder(bias="True"), "a bias would do nothing"),
    (decoder(conv="Conv2d"), "`conv` to be an nn.ConvTranspose2d"),
    (decoder(body="torch.nn.functional.dropout(self.act(self.norm(self.conv(x))), 0.5 if self.use_dropout else 0.0)")
     .replace("self.dropout = nn.Dropout(0.5) if use_dropout else nn.Identity()",
              "self.dropout, self.use_dropout = nn.Identity(), use_dropout"), "no dropout in eval mode"),
], ids=["leaky", "no_norm", "dropout_always", "rate_0_2", "dropout_never", "bias", "conv2d", "dropout_in_eval"])
def test_decoder_block_check_rejects(source, hint):
    rejects(check_decoder_block, define(source, "DecoderBlock"), hint)


DECODER_ALTERNATIVES = [
    """
    class DecoderBlock(nn.Module):
        def __init__(self, in_channels, out_channels, use_dropout=False):
            super().__init__()
            self.conv = nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)
            self.norm = nn.BatchNorm2d(out_channels)
            self.act = nn.ReLU(inplace=True)
            self.dropout = nn.Dropout(p=0.5) if use_dropout else nn.Identity()

        def forward(self, x):
            return self.act(self.dropout(self.norm(self.conv(x))))  # dropout before the ReLU: the same numbers
    """,
    """
    class DecoderBlock(nn.Module):
        def __init__(self, in_channels, out_channels, use_dropout=False):
            super().__init__()
            self.use_dropout = use_dropout
            self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=False)
            self.norm = nn.BatchNorm2d(out_channels)
            self.act = nn.ReLU()
            self.dropout = nn.Dropout(0.5) if use_dropout else nn.Identity()

        def forward(self, x):
            x = torch.relu(self.norm(self.conv(x)))
            return torch.nn.functional.dropout(x, 0.5, self.training) if self.use_dropout else x
    """,
]


@pytest.mark.parametrize("source", DECODER_ALTERNATIVES, ids=["dropout_first", "functional_dropout"])
def test_decoder_block_alternatives_pass(source):
    passes_check_and_graded_cell(check_decoder_block, "DecoderBlock", "p2pgen_decoder_code", source,
                                 "p2pgen_decoder_test")


# ---------------------------------------------------------------------------------------------------------
# UNetGenerator.__init__ (forward given)

FORWARD = """
    def forward(self, x):
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
        x = skips.pop()
        for decoder in self.decoders:
            x = torch.cat([decoder(x), skips.pop()], dim=1)
        return self.out(x)
"""

GENERATOR = """
class UNetGenerator(nn.Module):
    def __init__(self, in_channels=3, out_channels=3, base_channels=64, levels=8):
        super().__init__()
        self.levels = levels
        widths = {widths}
        self.encoders = nn.ModuleList(
            EncoderBlock(in_channels if i == 0 else widths[i - 1], widths[i], use_norm={norm})
            for i in range(levels))
        self.decoders = nn.ModuleList(
            DecoderBlock({dec_in}, widths[levels - 2 - i], use_dropout={drop})
            for i in range(levels - 1))
        self.out = nn.Sequential(
            nn.ConvTranspose2d({out_in}, out_channels, kernel_size=4, stride=2, padding=1){tanh})
""" + FORWARD


def generator(widths="[base_channels * min(2 ** i, 8) for i in range(levels)]", norm="0 < i < levels - 1",
              dec_in="widths[-1] if i == 0 else 2 * widths[levels - 1 - i]", drop="i < 3",
              out_in="2 * base_channels", tanh=", nn.Tanh()") -> str:
    return GENERATOR.format(widths=widths, norm=norm, dec_in=dec_in, drop=drop, out_in=out_in, tanh=tanh)


GENERATOR_MISTAKES = [
    (generator(dec_in="widths[levels - 1 - i]"), "decoders[1] = DecoderBlock(1024, 512", "count the channels of both"),
    (generator(drop="i >= levels - 4"), "decoders[0] = DecoderBlock(512, 512, use_dropout=True)",
     "dropout in the first three decoder blocks"),
    (generator(drop="True"), "decoders[3] = DecoderBlock(1024, 512, use_dropout=False)",
     "dropout in the first three decoder blocks"),
    (generator(norm="True"), "encoders[0] = EncoderBlock(3, 64, use_norm=False)", "no batch norm in the first block"),
    (generator(norm="i > 0"), "encoders[7] = EncoderBlock(512, 512, use_norm=False)", "nor in the innermost"),
    (generator(widths="[base_channels * 2 ** i for i in range(levels)]"), "encoders[4] = EncoderBlock(512, 512",
     "stop growing at 8 x base_channels"),
    (generator(out_in="base_channels"), "self.out's transposed conv from 128 to 3 channels",
     "joined with the first encoder's output"),
    (generator(tanh=""), "self.out: one transposed conv, then tanh", "then tanh"),
    (generator(dec_in="widths[-1] if i == 0 else 2 * widths[levels - 2 - i]"),
     "decoders[4] = DecoderBlock(1024, 256", "count the channels of both"),
]


@pytest.mark.parametrize("source, expected, hint", GENERATOR_MISTAKES,
                         ids=["no_concat_channels", "dropout_last_three", "dropout_everywhere", "norm_everywhere",
                              "norm_on_bottleneck", "widths_uncapped", "out_without_skip", "no_tanh",
                              "skip_of_wrong_level"])
def test_unet_generator_check_names_the_wrong_block(source, expected, hint):
    with pytest.raises(CheckFailed) as info:
        check_unet_generator(define(source, "UNetGenerator"))
    assert expected in str(info.value) and hint in str(info.value), str(info.value)


@pytest.mark.parametrize("source, match", [
    (GENERATOR_MISTAKES[0][0], "count the channels"),
    (GENERATOR_MISTAKES[1][0], "dropout in the first three"),
    (GENERATOR_MISTAKES[4][0], "innermost"),
], ids=["no_concat_channels", "dropout_last_three", "norm_on_bottleneck"])
def test_the_graded_cell_rejects_the_same_mistakes(source, match):
    namespace = learner_namespace(NB, {"p2pgen_generator_code": source})
    with pytest.raises(CheckFailed, match=match):
        run_graded_cell(NB, "p2pgen_generator_test", namespace)


def test_a_generator_that_bypasses_the_blocks_is_named():
    source = generator().replace("EncoderBlock(in_channels if i == 0", "REF_ENCODER(in_channels if i == 0")
    namespace = {"torch": torch, "nn": nn, "EncoderBlock": REF.EncoderBlock, "DecoderBlock": REF.DecoderBlock,
                 "REF_ENCODER": REF.EncoderBlock}
    exec(source, namespace)
    rejects(check_unet_generator, namespace["UNetGenerator"], "from the notebook's EncoderBlock class")


GENERATOR_ALTERNATIVES = [
    # Loops and appends, the decoders built from the bottleneck up with the skip widths read off a reversed list.
    """
    class UNetGenerator(nn.Module):
        def __init__(self, in_channels=3, out_channels=3, base_channels=64, levels=8):
            super().__init__()
            self.levels = levels
            self.encoders, self.decoders = nn.ModuleList(), nn.ModuleList()
            width, previous = base_channels, in_channels
            widths = []
            for level in range(levels):
                self.encoders.append(EncoderBlock(previous, width, use_norm=level not in (0, levels - 1)))
                widths.append(width)
                previous, width = width, min(2 * width, 8 * base_channels)
            skips = widths[-2::-1]  # the skips, deepest first
            incoming = widths[-1]
            for i, skip in enumerate(skips):
                self.decoders.append(DecoderBlock(incoming, skip, i < 3))
                incoming = 2 * skip
            self.out = nn.Sequential(nn.ConvTranspose2d(incoming, out_channels, 4, 2, 1, bias=True), nn.Tanh())
    """ + FORWARD,
    # Channel counts from a table of multipliers, blocks keyword-built.
    """
    class UNetGenerator(nn.Module):
        def __init__(self, in_channels=3, out_channels=3, base_channels=64, levels=8):
            super().__init__()
            self.levels = levels
            mult = [1, 2, 4] + [8] * max(levels - 3, 0)
            ch = [base_channels * m for m in mult[:levels]]
            self.encoders = nn.ModuleList([EncoderBlock(in_channels=([in_channels] + ch)[i], out_channels=ch[i],
                                                        use_norm=(i != 0 and i != levels - 1)) for i in range(levels)])
            ins = [ch[-1]] + [2 * c for c in reversed(ch[1:-1])]
            outs = list(reversed(ch[:-1]))
            self.decoders = nn.ModuleList([DecoderBlock(in_channels=a, out_channels=b, use_dropout=k <= 2)
                                           for k, (a, b) in enumerate(zip(ins, outs))])
            self.out = nn.Sequential()
            self.out.append(nn.ConvTranspose2d(2 * ch[0], out_channels, kernel_size=4, stride=2, padding=1))
            self.out.append(nn.Tanh())
    """ + FORWARD,
]


@pytest.mark.parametrize("source", GENERATOR_ALTERNATIVES, ids=["loops", "multiplier_table"])
def test_unet_generator_alternatives_pass(source):
    source = textwrap.dedent(source.split("    def forward")[0]) + FORWARD
    passes_check_and_graded_cell(check_unet_generator, "UNetGenerator", "p2pgen_generator_code", source,
                                 "p2pgen_generator_test")


# ---------------------------------------------------------------------------------------------------------
# The think item: the visible check judges the form only, the graded cell the answer

@pytest.mark.parametrize("value, hint", [(None, "no answer yet"), ("b)", "a single letter"), (["b"], "a single letter"),
                                         ("bc", "a single letter")])
def test_bottleneck_answer_format_rejects(value, hint):
    rejects(lambda v: check_answer_format("answer_bottleneck", v, "abc"), value, hint)


@pytest.mark.parametrize("answer, match", [('"a"', "the 4 x 4 conv maps 2 x 2 to"),
                                           ('"c"', "what every middle encoder block does")])
def test_a_wrong_bottleneck_answer_fails_its_graded_cell(answer, match):
    namespace = learner_namespace(NB, {"p2pgen_bottleneck_answer": f"answer_bottleneck = {answer}"})
    with pytest.raises(CheckFailed, match=match):
        run_graded_cell(NB, "p2pgen_bottleneck_test", namespace)


@pytest.mark.parametrize("answer", ['"b"', '" B"'])
def test_the_right_bottleneck_answer_passes(answer):
    namespace = learner_namespace(NB, {"p2pgen_bottleneck_answer": f"answer_bottleneck = {answer}"})
    run_graded_cell(NB, "p2pgen_bottleneck_test", namespace)


# ---------------------------------------------------------------------------------------------------------
# One broken exercise costs its own graded cells only


@pytest.mark.parametrize("cell_index, own_tests", exercises(NB),
                         ids=[nbgrader_meta(NB.cells[i])["grade_id"] for i, _ in exercises(NB)])
def test_a_broken_exercise_costs_only_its_own_cells(cell_index, own_tests):
    assert_broken_exercise_costs_only_its_own_cells(NB, cell_index, own_tests)
