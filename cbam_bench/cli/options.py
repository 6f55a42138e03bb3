"""Option types shared by several commands, defined once, and the spec they build."""

from __future__ import annotations

from typing import Annotated

import typer

from cbam_bench.data.catalog import DATASET_NAMES, DEFAULT_DATA_DIR, RECIPES
from cbam_bench.errors import CbamBenchError, SpecError, allowed
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.storage import DEFAULT_STORAGE
from cbam_bench.spec import (
    ATTENTION_KINDS,
    DESCRIPTORS,
    DEVICES,
    KERNELS,
    ORDERS,
    POOLINGS,
    POSITIONS,
    STRIDE_ON,
    ArchSpec,
    AttentionSpec,
    PlacementSpec,
    TrainSpec,
)

ARCH = "Architecture"
ATT = "Attention"
PLACE = "Placement"
DATA = "Data"
TRAIN = "Training"
_SIZES = ", ".join(f"{recipe.image_size} {name}" for name, recipe in RECIPES.items())
# The training defaults shown in --help come from TrainSpec, the one place they are set.
TRAIN_DEFAULTS = TrainSpec()

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
SpaceEpochsOpt = Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs per candidate (default: the space's).", rich_help_panel=TRAIN, show_default=False)]
SpaceSeedsOpt = Annotated[int | None, typer.Option("--seeds", min=1, help="Train each candidate this many times: accuracy is the mean, its std is stored (default: the space's).", rich_help_panel=TRAIN, show_default=False)]
SpaceDeviceOpt = Annotated[str | None, typer.Option("--device", help="Training device: auto, cpu or cuda (default: the space's).", rich_help_panel=TRAIN, show_default=False)]
SpaceDataDirOpt = Annotated[str | None, typer.Option("--data-dir", help="Folder holding dataset files (CIFAR batches, image folders).", rich_help_panel=TRAIN, show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
StorageOpt = Annotated[str, typer.Option("--storage", help=f"Optuna storage URL (default {DEFAULT_STORAGE}; PostgreSQL for many machines).", show_default=False)]
StudyOpt = Annotated[str | None, typer.Option("--study", help="Study name in the storage.", show_default=False)]
StudyArg = Annotated[str, typer.Argument(help="Study name in the storage.", show_default=False)]

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help=f"Dataset: {allowed(DATASET_NAMES)} (PATH holds train/CLASS/* and val/CLASS/*).", rich_help_panel=DATA)]
DataDirOpt = Annotated[str | None, typer.Option("--data-dir", help=f"Folder of downloaded datasets and decoded caches (default ./{DEFAULT_DATA_DIR}).", rich_help_panel=DATA, show_default=False)]
DownloadOpt = Annotated[bool, typer.Option("--download", help="Fetch CIFAR into --data-dir first if it is not there (needs the network).", rich_help_panel=DATA)]
ImageSizeOpt = Annotated[int | None, typer.Option("--image-size", help=f"Image side in pixels (default: {_SIZES}).", rich_help_panel=DATA, show_default=False)]
TrainImagesOpt = Annotated[int | None, typer.Option("--train-images", help="Training images: how many digits-clutter generates, or at most this many of another dataset.", rich_help_panel=DATA, show_default=False)]
EpochsOpt = Annotated[int, typer.Option("--epochs", "-e", help="Passes over the training split.", rich_help_panel=TRAIN)]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", "-b", help="Training batch size.", rich_help_panel=TRAIN)]
LrOpt = Annotated[float, typer.Option("--lr", help="Peak learning rate of SGD (after warm-up).", rich_help_panel=TRAIN)]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of initialisation, batch order and augmentation.", rich_help_panel=TRAIN)]
DeviceOpt = Annotated[str, typer.Option("--device", help=f"Where to train and time: {allowed(DEVICES)} (auto: the GPU if there is one).", rich_help_panel=TRAIN)]

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
    "train.dataset": "--dataset",
    "train.data_dir": "--data-dir",
    "train.image_size": "--image-size",
    "train.train_images": "--train-images",
    "train.epochs": "--epochs",
    "train.batch_size": "--batch-size",
    "train.lr": "--lr",
    "train.seed": "--seed",
    "train.device": "--device",
}


def as_flag(exc: CbamBenchError) -> CbamBenchError:
    """The same error with its leading spec key (train.lr) replaced by the option the user typed (--lr)."""
    text = str(exc)
    key = text.split(":", 1)[0]
    flag = _FLAG_OF_KEY.get(key)
    return type(exc)(flag + text[len(key) :]) if flag else exc


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
        raise as_flag(exc) from None


def train_spec_from_options(
    *,
    dataset: str,
    data_dir: str | None,
    image_size: int | None,
    train_images: int | None,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
) -> TrainSpec:
    """The TrainSpec the options describe, other fields at their defaults; errors name the option."""
    try:
        return TrainSpec(
            dataset=dataset,
            data_dir=data_dir,
            image_size=image_size,
            train_images=train_images,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=device,
        )
    except SpecError as exc:
        raise as_flag(exc) from None
