"""The detection command's own training and data options (their defaults are DetectSpec's), and the
DetectSpec they build, with errors named by the option the user typed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cbam_bench.detection.recipe import DEFAULT_WIDTH, DetectSpec
from cbam_bench.errors import SpecError

D = DetectSpec()
TRAIN, DATA = "Training", "Data"

DetectDatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        "-d",
        help=f"digits-detect (built in) or coco:PATH, a folder with annotations/instances_train*.json and instances_val*.json and the images in PATH/train*/ and PATH/val*/ (default: {D.dataset}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DetectImageSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--image-size",
        help=f"Canvas side in pixels; COCO images are resized to it (default: {D.image_size}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DetectTrainImagesOpt = Annotated[
    int | None,
    typer.Option(
        "--train-images",
        help=f"digits-detect training canvases (default: {D.train_images}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DetectValImagesOpt = Annotated[
    int | None,
    typer.Option(
        "--val-images",
        help=f"digits-detect validation and test canvases, each (default: {D.val_images}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DetectEpochsOpt = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        "-e",
        help=f"Passes over the training split (default: {D.epochs}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DetectBatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        "-b",
        help=f"Training batch size (default: {D.batch_size}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DetectLrOpt = Annotated[
    float | None,
    typer.Option(
        "--lr",
        help=f"Peak learning rate of SGD, after warm-up (default: {D.lr:g}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DetectSeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help=f"Seed of initialisation and batch order (default: {D.seed}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DetectDeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device", help=f"auto, cpu or cuda (default: {D.device}).", rich_help_panel=TRAIN, show_default=False
    ),
]
DetectWidthOpt = Annotated[
    float | None,
    typer.Option(
        "--width",
        help=f"Backbone stage-width multiplier (default: {DEFAULT_WIDTH:g} for detection).",
        show_default=False,
    ),
]
_FLAGS = {
    "detect.dataset": "--dataset",
    "detect.image_size": "--image-size",
    "detect.train_images": "--train-images",
    "detect.val_images": "--val-images",
    "detect.epochs": "--epochs",
    "detect.batch_size": "--batch-size",
    "detect.lr": "--lr",
    "detect.seed": "--seed",
    "detect.device": "--device",
}


def detect_spec_from_options(**given: Any) -> DetectSpec:
    """DetectSpec's defaults with the options that were given; errors name the option."""
    try:
        return DetectSpec(**{k: v for k, v in given.items() if v is not None})
    except SpecError as exc:
        raise exc.rekeyed(_FLAGS.get(exc.key, exc.key)) from None
