"""Option types of the commands that run or read studies (search, ablate, confirm, report, export,
compare): the storage, the study, the output form, and the space's training overrides."""

from __future__ import annotations

from typing import Annotated

import typer

from cbam_bench.cli.options import ranged
from cbam_bench.cli.train_options import TRAIN
from cbam_bench.space.model import MAX_SEEDS
from cbam_bench.spec import MAX_EPOCHS
from cbam_bench.storage import DEFAULT_STORAGE

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
StorageOpt = Annotated[
    str,
    typer.Option(
        "--storage",
        help=f"Optuna storage URL (default {DEFAULT_STORAGE}; PostgreSQL for many machines).",
        show_default=False,
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing output file even if it is not of the kind being written (never the study database itself).",
    ),
]
StudyArg = Annotated[str, typer.Argument(help="Study name in the storage.", show_default=False)]
# Training overrides of the commands that run studies (search, ablate): unset keeps the space's value.
SpaceEpochsOpt = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        help=ranged("Training epochs per candidate (default: the space's).", 1, MAX_EPOCHS),
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
SpaceSeedsOpt = Annotated[
    int | None,
    typer.Option(
        "--seeds",
        help=ranged(
            "Train each candidate this many times: accuracy is the mean, its std is stored (default: the space's).",
            1,
            MAX_SEEDS,
        ),
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
SpaceDeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="Training device: auto, cpu or cuda (default: the space's).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
SpaceDataDirOpt = Annotated[
    str | None,
    typer.Option(
        "--data-dir",
        help="Folder holding dataset files (CIFAR batches, image folders).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
