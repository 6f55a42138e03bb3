"""The data and training option types shared by several commands, with the defaults their help
shows (TrainSpec's: the one place they are set)."""

from __future__ import annotations

from typing import Annotated

import typer

from cbam_bench.data.catalog import DATASET_NAMES, DEFAULT_DATA_DIR, RECIPES
from cbam_bench.errors import allowed
from cbam_bench.train_spec import DEVICES, FUSED_MODES, TrainSpec

DATA = "Data"
TRAIN = "Training"
_SIZES = ", ".join(f"{recipe.image_size} {name}" for name, recipe in RECIPES.items())
TRAIN_DEFAULTS = TrainSpec()
# train --from-trial takes what these options leave out from the study's stored recipe.
_STUDYS = "; with --from-trial: the study's"

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
