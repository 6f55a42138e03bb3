"""The architecture option types shared by several commands, defined once, with the defaults
their help shows; the data and training options are cli/train_options.py.

What the given options build (an ArchSpec, a TrainSpec) is cli/option_specs.py."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cbam_bench.attention.registry import ATTENTION_KINDS
from cbam_bench.errors import allowed, integer_range
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.spec import (
    BETWEEN_STAGES,
    BLOCK_POSITIONS,
    DESCRIPTORS,
    KERNELS,
    ORDERS,
    POOLINGS,
    STRIDE_ON,
    AttentionSpec,
    PlacementSpec,
)

ARCH = "Architecture"
ATT = "Attention"
PLACE = "Placement"
# The architecture options' defaults: a backbone without attention and, for a module that is asked
# for, AttentionSpec's and PlacementSpec's own settings (the paper's CBAM). The options themselves
# default to None, meaning these, so that a command can tell an option given from one left out.
_ATTENTION = AttentionSpec()
_PLACEMENT = PlacementSpec()
ARCH_DEFAULTS: dict[str, Any] = {
    "attention": "none",
    "reduction": _ATTENTION.reduction,
    "min_hidden": _ATTENTION.min_hidden,
    "pooling": ",".join(_ATTENTION.pooling),
    "descriptor": _ATTENTION.descriptor,
    "kernel": _ATTENTION.kernel,
    "order": _ATTENTION.order,
    "bn_momentum": _ATTENTION.bn_momentum,
    "blocks": _PLACEMENT.blocks,
    "position": _PLACEMENT.position,
    "width": 1.0,
}


def ranged(text: str, low: int, high: int) -> str:
    """Help text with the range an integer option allows, in the words of the error that refuses it.

    The range is checked where the value is used (the spec or the plan), not by Typer, whose refusal
    is a box of several lines; --help still shows it.
    """
    return f"{text} Allowed: {integer_range(low, high)}."


ModelArg = Annotated[str, typer.Argument(help=f"Backbone: {allowed(BACKBONES)}.", show_default=False)]
AttentionOpt = Annotated[
    str | None,
    typer.Option(
        "--attention",
        "-a",
        help=f"Module kind: {allowed(ATTENTION_KINDS)} (default: {ARCH_DEFAULTS['attention']}).",
        rich_help_panel=ATT,
        show_default=False,
    ),
]
ReductionOpt = Annotated[
    int | None,
    typer.Option(
        "--reduction",
        "-r",
        help=f"Channel-gate reduction ratio r, hidden = max(floor, C // r) (default: {ARCH_DEFAULTS['reduction']}).",
        rich_help_panel=ATT,
        show_default=False,
    ),
]
MinHiddenOpt = Annotated[
    int | None,
    typer.Option(
        "--min-hidden",
        help=f"Floor of the channel gate's hidden width (default: {ARCH_DEFAULTS['min_hidden']}).",
        rich_help_panel=ATT,
        show_default=False,
    ),
]
PoolingOpt = Annotated[
    str | None,
    typer.Option(
        "--pooling",
        help=f"Channel-gate pooling, a comma list of {allowed(POOLINGS)} (default: {ARCH_DEFAULTS['pooling']}).",
        rich_help_panel=ATT,
        show_default=False,
    ),
]
DescriptorOpt = Annotated[
    str | None,
    typer.Option(
        "--descriptor",
        help=f"Spatial descriptor: {allowed(DESCRIPTORS)} (default: {ARCH_DEFAULTS['descriptor']}).",
        rich_help_panel=ATT,
        show_default=False,
    ),
]
KernelOpt = Annotated[
    int | None,
    typer.Option(
        "--kernel",
        "-k",
        help=f"Spatial kernel size: {allowed(KERNELS)} (default: {ARCH_DEFAULTS['kernel']}).",
        rich_help_panel=ATT,
        show_default=False,
    ),
]
OrderOpt = Annotated[
    str | None,
    typer.Option(
        "--order",
        help=f"Gate arrangement: {allowed(ORDERS)} (default: {ARCH_DEFAULTS['order']}).",
        rich_help_panel=ATT,
        show_default=False,
    ),
]
BnMomentumOpt = Annotated[
    float | None,
    typer.Option(
        "--bn-momentum",
        help=f"Momentum of the spatial gate's BatchNorm statistics, in (0, 1]; the authors' 0.01, PyTorch's default is 0.1 (default: {ARCH_DEFAULTS['bn_momentum']:g}).",
        rich_help_panel=ATT,
        show_default=False,
    ),
]
StagesOpt = Annotated[
    str | None,
    typer.Option(
        "--stages",
        help="Stages that get attention, e.g. 2,3 (default: all).",
        rich_help_panel=PLACE,
        show_default=False,
    ),
]
BlocksOpt = Annotated[
    str | None,
    typer.Option(
        "--blocks",
        help=f"Blocks in a stage: all, first, last or every-K (default: {ARCH_DEFAULTS['blocks']}).",
        rich_help_panel=PLACE,
        show_default=False,
    ),
]
PositionOpt = Annotated[
    str | None,
    typer.Option(
        "--position",
        help=f"Where: in each chosen block {allowed(BLOCK_POSITIONS)}, or {BETWEEN_STAGES} (after each chosen stage's last block; default stages: all but the last) (default: {ARCH_DEFAULTS['position']}).",
        rich_help_panel=PLACE,
        show_default=False,
    ),
]
WidthOpt = Annotated[
    float | None,
    typer.Option(
        "--width",
        help=f"Stage-width multiplier (MobileNet: alpha); 1.5 on resnet18 is WideResNet18 (default: {ARCH_DEFAULTS['width']:g}).",
        rich_help_panel=ARCH,
        show_default=False,
    ),
]
StrideOnOpt = Annotated[
    str | None,
    typer.Option(
        "--stride-on",
        help=f"Bottleneck downsampling conv: {allowed(STRIDE_ON)} (default 3x3, 1x1 under --reference paper).",
        rich_help_panel=ARCH,
        show_default=False,
    ),
]
InputSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--input-size",
        help="Input resolution (default 224 for ImageNet models, 32 for CIFAR ones).",
        rich_help_panel=ARCH,
        show_default=False,
    ),
]
NumClassesOpt = Annotated[
    int | None,
    typer.Option(
        "--num-classes",
        help="Classifier outputs (default 1000 ImageNet, 10 CIFAR).",
        rich_help_panel=ARCH,
        show_default=False,
    ),
]
WeightsOpt = Annotated[
    str | None,
    typer.Option(
        "--weights",
        help="Backbone state_dict file (torchvision's names) to load; attention starts fresh.",
        rich_help_panel=ARCH,
        show_default=False,
    ),
]
