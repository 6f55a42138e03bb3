"""Detection's side of the training contract a search calls (cbam_bench.search.trainer): the same
three calls as classification's, taking a DetectSpec.

`train` scores validation mAP after every epoch, so a search's stored curve and its early stopping
follow the detection score as they follow top-1 for a classifier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from cbam_bench.data.catalog import DatasetInfo
from cbam_bench.data.detect_catalog import DIGITS_DETECT
from cbam_bench.detection.recipe import DetectSpec
from cbam_bench.detection.train import DetectEpoch, DetectResult
from cbam_bench.spec import ArchSpec

DIGITS_CLASSES, DIGITS_CHANNELS = 10, 1
COCO_CHANNELS = 3  # COCO folders are read as RGB


def dataset_info(spec: DetectSpec) -> DatasetInfo:
    """Object classes, channels and canvas side of spec's dataset; DataError for a malformed COCO folder."""
    if spec.dataset == DIGITS_DETECT:
        return DatasetInfo(spec.dataset, DIGITS_CLASSES, DIGITS_CHANNELS, spec.image_size)
    from cbam_bench.data.coco import coco_path, read_coco

    splits = read_coco(coco_path(spec.dataset))
    return DatasetInfo(spec.dataset, len(splits["train"].categories), COCO_CHANNELS, spec.image_size)


def fit_arch(arch: ArchSpec, spec: DetectSpec) -> ArchSpec:
    """`arch` with the detector's classes, input channels and canvas side: what its measures count."""
    info = dataset_info(spec)
    return dataclasses.replace(
        arch, num_classes=info.num_classes, in_channels=info.in_channels, input_size=info.image_size
    )


def train(arch: ArchSpec, spec: DetectSpec, *, on_epoch: Callable[[DetectEpoch], None] | None = None) -> DetectResult:
    """Train and score `arch`'s detector on the device spec names, val scored every epoch."""
    from cbam_bench.detection.train import train_detector
    from cbam_bench.device import resolve_device

    _, result = train_detector(arch, spec, device=resolve_device(spec.device), on_epoch=on_epoch, score_epochs=True)
    return result
