"""Option types shared by several commands, defined once, and the spec they build."""

from __future__ import annotations

from typing import Annotated

import typer

from cbam_bench.errors import SpecError, allowed
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.storage import DEFAULT_STORAGE
from cbam_bench.spec import (
    ATTENTION_KINDS,
    DESCRIPTORS,
    KERNELS,
    ORDERS,
    POOLINGS,
    POSITIONS,
    STRIDE_ON,
    ArchSpec,
    AttentionSpec,
    PlacementSpec,
)

ARCH = "Architecture"
ATT = "Attention"
PLACE = "Placement"

ModelArg = Annotated[str, typer.Argument(help=f"Backbone: {allowed(BACKBONES)}.", show_default=False)]
AttentionOpt = Annotated[str, typer.Option("--attention", "-a", help=f"Module kind: {allowed(ATTENTION_KINDS)}.", rich_help_panel=ATT)]
ReductionOpt = Annotated[int, typer.Option("--reduction", "-r", help="Channel-gate reduction ratio r (hidden = max(floor, C // r)).", rich_help_panel=ATT)]
MinHiddenOpt = Annotated[int, typer.Option("--min-hidden", help="Floor of the channel gate's hidden width.", rich_help_panel=ATT)]
PoolingOpt = Annotated[str, typer.Option("--pooling", help=f"Channel-gate pooling, a comma list of {allowed(POOLINGS)}.", rich_help_panel=ATT)]
DescriptorOpt = Annotated[str, typer.Option("--descriptor", help=f"Spatial descriptor: {allowed(DESCRIPTORS)}.", rich_help_panel=ATT)]
KernelOpt = Annotated[int, typer.Option("--kernel", "-k", help=f"Spatial kernel size: {allowed(KERNELS)}.", rich_help_panel=ATT)]
OrderOpt = Annotated[str, typer.Option("--order", help=f"Gate arrangement: {allowed(ORDERS)}.", rich_help_panel=ATT)]
StagesOpt = Annotated[str | None, typer.Option("--stages", help="Stages that get attention, e.g. 2,3 (default: all).", rich_help_panel=PLACE, show_default=False)]
BlocksOpt = Annotated[str, typer.Option("--blocks", help="Blocks in a stage: all, first, last or every-K.", rich_help_panel=PLACE)]
PositionOpt = Annotated[str, typer.Option("--position", help=f"Where in a block: {allowed(POSITIONS)}.", rich_help_panel=PLACE)]
WidthOpt = Annotated[float, typer.Option("--width", help="Stage-width multiplier (MobileNet: alpha); 1.5 on resnet18 is WideResNet18.", rich_help_panel=ARCH)]
StrideOnOpt = Annotated[str | None, typer.Option("--stride-on", help=f"Bottleneck downsampling conv: {allowed(STRIDE_ON)} (default 3x3, 1x1 under --reference paper).", rich_help_panel=ARCH, show_default=False)]
InputSizeOpt = Annotated[int | None, typer.Option("--input-size", help="Input resolution (default 224 for ImageNet models, 32 for CIFAR ones).", rich_help_panel=ARCH, show_default=False)]
NumClassesOpt = Annotated[int | None, typer.Option("--num-classes", help="Classifier outputs (default 1000 ImageNet, 10 CIFAR).", rich_help_panel=ARCH, show_default=False)]
WeightsOpt = Annotated[str | None, typer.Option("--weights", help="Backbone state_dict file (torchvision's names) to load; attention starts fresh.", rich_help_panel=ARCH, show_default=False)]
# Training overrides of the commands that run studies (search, ablate): unset keeps the space's value.
STUDY_TRAINING = "Training"
SpaceEpochsOpt = Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs per candidate (default: the space's).", rich_help_panel=STUDY_TRAINING, show_default=False)]
SpaceSeedsOpt = Annotated[int | None, typer.Option("--seeds", min=1, help="Train each candidate this many times: accuracy is the mean, its std is stored (default: the space's).", rich_help_panel=STUDY_TRAINING, show_default=False)]
SpaceDeviceOpt = Annotated[str | None, typer.Option("--device", help="Training device: auto, cpu or cuda (default: the space's).", rich_help_panel=STUDY_TRAINING, show_default=False)]
SpaceDataDirOpt = Annotated[str | None, typer.Option("--data-dir", help="Folder holding dataset files (CIFAR batches, image folders).", rich_help_panel=STUDY_TRAINING, show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
StorageOpt = Annotated[str, typer.Option("--storage", help=f"Optuna storage URL (default {DEFAULT_STORAGE}; PostgreSQL for many machines).", show_default=False)]
StudyOpt = Annotated[str | None, typer.Option("--study", help="Study name in the storage.", show_default=False)]
StudyArg = Annotated[str, typer.Argument(help="Study name in the storage.", show_default=False)]

# Spec keys as the user typed them on the command line.
_FLAG_OF_KEY = {
    "backbone": "MODEL",
    "width": "--width",
    "stride_on": "--stride-on",
    "num_classes": "--num-classes",
    "input_size": "--input-size",
    "attention.kind": "--attention",
    "attention.pooling": "--pooling",
    "attention.reduction": "--reduction",
    "attention.min_hidden": "--min-hidden",
    "attention.descriptor": "--descriptor",
    "attention.kernel": "--kernel",
    "attention.order": "--order",
    "placement.stages": "--stages",
    "placement.blocks": "--blocks",
    "placement.position": "--position",
}


def _as_flag(exc: SpecError) -> SpecError:
    text = str(exc)
    key = text.split(":", 1)[0]
    flag = _FLAG_OF_KEY.get(key)
    return SpecError(flag + text[len(key) :]) if flag else exc


def parse_stages(text: str | None) -> tuple[int, ...] | None:
    if text is None or text.strip().lower() == "all":
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SpecError(f"--stages: {text!r} is not allowed; allowed: a comma list of stage numbers such as 2,3") from None


def arch_from_options(
    model: str,
    *,
    attention: str,
    reduction: int,
    min_hidden: int,
    pooling: str,
    descriptor: str,
    kernel: int,
    order: str,
    stages: str | None,
    blocks: str,
    position: str,
    width: float,
    stride_on: str,
    input_size: int | None,
    num_classes: int | None,
    in_channels: int = 3,
) -> ArchSpec:
    """Build the ArchSpec the options describe; errors name the option, not the spec field."""
    try:
        return ArchSpec(
            model,
            width=width,
            stride_on=stride_on,
            num_classes=num_classes,
            input_size=input_size,
            in_channels=in_channels,
            attention=AttentionSpec(
                kind=attention,
                pooling=pooling,
                reduction=reduction,
                min_hidden=min_hidden,
                descriptor=descriptor,
                kernel=kernel,
                order=order,
            ),
            placement=PlacementSpec(stages=parse_stages(stages), blocks=blocks, position=position),
        )
    except SpecError as exc:
        raise _as_flag(exc) from None
