"""Parameters and MACs of a Faster R-CNN, per part, in the project's convention (measure/counting.py).

A detector's forward is not one traceable graph (proposals depend on the data), so the counted
network is the detector's dense work laid out as one: the backbone and pyramid on the padded
image, the RPN head on every pyramid level, and the box head and predictor on the evaluation
proposal budget (`proposals`, rpn_post_nms_top_n_test unless given). RoIAlign, anchor decoding and
NMS do no multiply-adds of convolutions or linear layers, so the convention leaves them out.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN

from cbam_bench.measure.counting import Cost, count_cost

PARTS = {
    "backbone": "detector.backbone.body",
    "fpn": "detector.backbone.fpn",
    "rpn": "detector.rpn",
    "heads": "detector.roi_heads",
}


class _DenseWork(nn.Module):
    """The detector's counted work as one forward; `detector` is a child so module names match its own."""

    def __init__(self, detector: FasterRCNN, proposals: int) -> None:
        super().__init__()
        self.detector = detector
        self.proposals = proposals

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        det = self.detector
        maps = list(det.backbone(x).values())
        objectness, deltas = det.rpn.head(maps)
        size = det.roi_heads.box_roi_pool.output_size
        pooled = x.new_zeros(self.proposals, det.backbone.out_channels, *size)  # what RoIAlign hands the head
        scores, boxes = det.roi_heads.box_predictor(det.roi_heads.box_head(pooled))
        return (*maps, *objectness, *deltas, scores, boxes)


def padded_size(detector: FasterRCNN, height: int, width: int) -> tuple[int, int]:
    """The backbone's input for an image of height x width: torchvision pads batches to a multiple of size_divisible."""
    step = detector.transform.size_divisible
    return math.ceil(height / step) * step, math.ceil(width / step) * step


def detector_cost(
    detector: FasterRCNN, image_size: tuple[int, int], in_channels: int, proposals: int | None = None
) -> dict[str, Cost]:
    """Cost of the whole detector (key "total") and of each of PARTS, for one image of image_size (H, W)."""
    budget = detector.rpn._post_nms_top_n["testing"] if proposals is None else proposals
    work = _DenseWork(detector, budget)
    shape = (1, in_channels, *padded_size(detector, *image_size))
    counted = count_cost(work, shape, list(PARTS.values()))
    return {"total": counted[""], **{part: counted[name] for part, name in PARTS.items()}}


def profile_detector(arch, image_size: tuple[int, int], num_classes: int) -> dict[str, Cost]:
    """Counts of the detector `arch`'s backbone makes for images of image_size (H, W) and num_classes classes."""
    from cbam_bench.detection.model import DetectorSpec, build_detector

    channels = arch.in_channels
    detector = build_detector(
        arch, DetectorSpec(num_classes=num_classes, image_size=image_size), mean=[0.0] * channels, std=[1.0] * channels
    )
    return detector_cost(detector, image_size, channels)
