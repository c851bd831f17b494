"""Checks: the visible checks learners run after each exercise, and the toolkit hidden tests use.

    core.py       failures and messages (CheckFailed, fail), the one wrapper around learner code
                  (run_learner, call_quietly), comparisons (assert_close, check_values, ...)
    hidden.py     the hidden-test toolkit: reference(), compare_modules, using, isolate_cell
    standins.py   stand-in models with known outputs (toy discriminators, toy generators)
    nbNN_*.py     the visible checks of notebook NN, imported by that notebook's setup cell
    trusted()     a fresh, private copy of all of the above for hidden tests (see its docstring)

Visible checks test known answers and properties (shapes, ranges, parameter counts) without the
solutions. Hidden tests compare the learner's code with the reference, the solution notebook's own code,
on identical weights and inputs. Every failure says which exercise failed, what was expected, what was
got, and a hint. Every name is importable from `course_utils.checks` itself.

The package imports its parts and the modules it uses (`environment`, `notebooks`) relatively, so that
`trusted()` can load all of them again from their files under a private name.
"""

import importlib
import importlib.util
import itertools
import sys
import types

from ..environment import PACKAGE_DIR
from .core import (
    CheckFailed,
    assert_close,
    assert_equal_arrays,
    call_quietly,
    check_answer,
    check_answer_format,
    check_values,
    describe,
    expect_error,
    expect_number,
    expect_scalar,
    fail,
    grading_device,
    run_learner,
    tolerances,
)
from .hidden import (
    compare_modules,
    copy_weights,
    isolate_cell,
    randomize_batchnorm,
    reference,
    using,
)
from .nb00_welcome import check_to_signed, check_to_uint8
from .nb01_paired_data import (
    check_edge_pair,
    check_random_jitter,
    check_split_pair,
    compare_drawings,
    jitter_load_size,
)
from .nb02_unet import (
    check_contracting_block,
    check_crop,
    check_expanding_block,
    check_unet,
)
from .nb03_pix2pix_generator import (
    check_decoder_block,
    check_encoder_block,
    check_unet_generator,
    generator_layout,
)
from .nb04_patchgan import (
    check_patch_box,
    check_patchgan,
    check_receptive_field,
    compare_in_call_order,
    measured_box,
)
from .nb05_pixel_distance_loss import (
    check_discriminator_loss,
    check_generator_loss,
    check_pixel_distance,
)
from .nb06_train_pix2pix import check_make_optimizers, check_pix2pix_step, compare_optimizer_steps
from .nb07_pix2pixhd import (
    check_boundary_map,
    check_feature_matching_loss,
    check_local_enhancer,
    check_lsgan_losses,
    check_multiscale_discriminator,
    check_residual_block,
    compare_multiscale,
    random_outputs,
)
from .nb08_srgan import (
    check_bicubic_downsample,
    check_sr_residual_block,
    check_srgan_generator_loss,
    check_subpixel_block,
    loss_value,
    random_feature_net,
    shifted_logits,
)
from .nb09_gaugan import (
    check_hinge_losses,
    check_spade,
    check_spade_res_block,
)

_COPIES = itertools.count()


def trusted() -> types.ModuleType:
    """A fresh, private copy of this package, for hidden tests: `_c = trusted()`, then `_c.reference(...)`.

    The checks, `environment` and `notebooks` are loaded anew from their files under a private package
    name, so nothing a learner's cell did to `course_utils.checks` (rebinding `assert_close`, `reference` or
    a visible check to a function that always passes) reaches the copy. Hidden tests take every helper they
    trust from it; the visible check at the top of a graded cell, which the learner could replace, is run
    again from the copy.
    """
    name = f"_course_utils_trusted_{next(_COPIES)}"
    spec = importlib.util.spec_from_file_location(name, PACKAGE_DIR / "__init__.py",
                                                  submodule_search_locations=[str(PACKAGE_DIR)])
    sys.modules[name] = importlib.util.module_from_spec(spec)  # a bare parent for the relative imports: its
    return importlib.import_module(f"{name}.checks")  # __init__ (the public API) is never run


__all__ = [
    "CheckFailed",
    "assert_close",
    "assert_equal_arrays",
    "call_quietly",
    "check_answer",
    "check_answer_format",
    "check_bicubic_downsample",
    "check_boundary_map",
    "check_contracting_block",
    "check_crop",
    "check_decoder_block",
    "check_discriminator_loss",
    "check_edge_pair",
    "check_encoder_block",
    "check_expanding_block",
    "check_feature_matching_loss",
    "check_generator_loss",
    "check_hinge_losses",
    "check_local_enhancer",
    "check_lsgan_losses",
    "check_make_optimizers",
    "check_multiscale_discriminator",
    "check_patch_box",
    "check_patchgan",
    "check_pix2pix_step",
    "check_pixel_distance",
    "check_random_jitter",
    "check_receptive_field",
    "check_residual_block",
    "check_spade",
    "check_spade_res_block",
    "check_split_pair",
    "check_sr_residual_block",
    "check_srgan_generator_loss",
    "check_subpixel_block",
    "check_to_signed",
    "check_to_uint8",
    "check_unet",
    "check_unet_generator",
    "check_values",
    "compare_drawings",
    "compare_in_call_order",
    "compare_modules",
    "compare_multiscale",
    "compare_optimizer_steps",
    "copy_weights",
    "describe",
    "expect_error",
    "expect_number",
    "expect_scalar",
    "fail",
    "generator_layout",
    "grading_device",
    "isolate_cell",
    "jitter_load_size",
    "loss_value",
    "measured_box",
    "random_feature_net",
    "random_outputs",
    "randomize_batchnorm",
    "reference",
    "run_learner",
    "shifted_logits",
    "tolerances",
    "trusted",
    "using",
]
