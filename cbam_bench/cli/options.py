"""Option types shared by several commands, defined once, with the defaults their help shows.

What the given options build (an ArchSpec, a TrainSpec) is cli/option_specs.py."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cbam_bench.attention.registry import ATTENTION_KINDS
from cbam_bench.data.catalog import DATASET_NAMES, DEFAULT_DATA_DIR, RECIPES
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
from cbam_bench.train_spec import DEVICES, FUSED_MODES, TrainSpec

ARCH = "Architecture"
ATT = "Attention"
PLACE = "Placement"
DATA = "Data"
TRAIN = "Training"
_SIZES = ", ".join(f"{recipe.image_size} {name}" for name, recipe in RECIPES.items())
# The training defaults shown in --help come from TrainSpec, the one place they are set.
TRAIN_DEFAULTS = TrainSpec()
# train --from-trial takes what these options leave out from the study's stored recipe.
_STUDYS = "; with --from-trial: the study's"
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
FusedOpt = Annotated[
    str | None,
    typer.Option(
        "--fused",
        help=f"CBAM's fused gates: {allowed(FUSED_MODES)}; auto: fused where measured faster (the CPU), off: the plain formula (default: {TRAIN_DEFAULTS.fused}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]

DatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        "-d",
        help=f"Dataset: {allowed(DATASET_NAMES)}; PATH holds train/CLASS/* and val/CLASS/* (default: {TRAIN_DEFAULTS.dataset}{_STUDYS}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DataDirOpt = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        help=f"Folder of downloaded datasets and decoded caches (default ./{DEFAULT_DATA_DIR}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DownloadOpt = Annotated[
    bool,
    typer.Option(
        "--download",
        help="Fetch CIFAR into --data-dir first if it is not there (needs the network).",
        rich_help_panel=DATA,
    ),
]
ImageSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--image-size",
        help=f"Image side in pixels (default: {_SIZES}{_STUDYS}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
TrainImagesOpt = Annotated[
    int | None,
    typer.Option(
        "--train-images",
        help=f"Training images: how many digits-clutter generates, or at most this many of another dataset (default: the dataset's{_STUDYS}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
EpochsOpt = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        "-e",
        help=f"Passes over the training split (default: {TRAIN_DEFAULTS.epochs}{_STUDYS}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
BatchSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        "-b",
        help=f"Training batch size (default: {TRAIN_DEFAULTS.batch_size}{_STUDYS}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
LrOpt = Annotated[
    float | None,
    typer.Option(
        "--lr",
        help=f"Peak learning rate of SGD, after warm-up (default: {TRAIN_DEFAULTS.lr:g}{_STUDYS}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help=f"Seed of initialisation, batch order and augmentation (default: {TRAIN_DEFAULTS.seed}{_STUDYS}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        help=f"Where to train and time: {allowed(DEVICES)}; auto: the GPU if there is one (default: {TRAIN_DEFAULTS.device}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
