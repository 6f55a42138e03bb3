"""Faster R-CNN (torchvision's) over any cbam-bench ResNet, with a feature pyramid on its stages.

The backbone is the classification network `build_model` makes, attention included, tapped at the
stages its `stage_info()` names; the classifier head is dropped. Anchors, the pyramid's width and
the heads are sized for small canvases (96 x 96 digits-detect by default): anchor sides are fixed
fractions of the image side, one size per pyramid level, as torchvision sizes them for 800 px.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from cbam_bench.detection.recipe import DETECTION_FAMILIES
from cbam_bench.errors import SpecError
from cbam_bench.models.build import build_model, load_backbone_weights
from cbam_bench.models.catalog import backbone_info
from cbam_bench.spec import ArchSpec

# Anchor side / image side, one per pyramid level from the first tapped stage up (96 px: 12, 24, 48, 96).
ANCHOR_FRACTIONS = (1 / 8, 1 / 4, 1 / 2, 1.0, 1.0)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
ROI_SIZE = 7


@dataclass(frozen=True)
class DetectorSpec:
    """The parts of a detector that are not its backbone: sizes of the pyramid, heads and proposal budgets."""

    num_classes: int  # object classes, background not included
    image_size: tuple[int, int]  # height, width the detector is built for (anchors follow it)
    first_stage: int = 2  # the pyramid taps this stage and the later ones (stage 1, at stride 4, costs most)
    fpn_channels: int = 64
    head_width: int = 128  # TwoMLPHead's representation size (torchvision: 1024 for 800 px images)
    proposals_train: int = 200  # RPN proposals kept after NMS per image, training
    proposals_test: int = 100  # ... and at evaluation (the box head's MACs are counted for these many)
    detections: int = 100  # at most per image: COCO's maxDets


def check_detection_backbone(arch: ArchSpec) -> None:
    """SpecError unless the backbone has the stages a feature pyramid taps (the ResNet families)."""
    if backbone_info(arch.backbone).family not in DETECTION_FAMILIES:
        raise SpecError(
            "MODEL", f"{arch.backbone!r} is not allowed for detection; allowed: a ResNet or ResNeXt backbone"
        )


def detector_backbone(
    arch: ArchSpec, fpn_channels: int, first_stage: int = 1, weights: str | Path | None = None
) -> BackboneWithFPN:
    """The backbone network (attention placed, weights loaded) under a feature pyramid over its stages
    from `first_stage` on (the stages before it still run: they feed the later ones)."""
    check_detection_backbone(arch)
    net = build_model(arch)
    if weights is not None:
        load_backbone_weights(net, weights)
    stages = net.stage_info()[first_stage - 1 :]
    return BackboneWithFPN(
        net,
        return_layers={stage.name: str(i) for i, stage in enumerate(stages)},
        in_channels_list=[stage.channels for stage in stages],
        out_channels=fpn_channels,
        extra_blocks=LastLevelMaxPool(),
    )


def anchor_sizes(image_size: tuple[int, int], levels: int) -> tuple[tuple[int, ...], ...]:
    side = min(image_size)
    return tuple((max(2, round(side * f)),) for f in ANCHOR_FRACTIONS[:levels])


def build_detector(
    arch: ArchSpec, det: DetectorSpec, *, mean: list[float], std: list[float], weights: str | Path | None = None
) -> FasterRCNN:
    """Faster R-CNN with `arch`'s backbone. Images go in as float tensors in [0, 1]; it normalises them."""
    backbone = detector_backbone(arch, det.fpn_channels, det.first_stage, weights)
    levels = len(backbone.body.return_layers) + 1  # + the max-pooled top level
    names = [str(i) for i in range(levels - 1)]
    anchors = AnchorGenerator(anchor_sizes(det.image_size, levels), (ASPECT_RATIOS,) * levels)
    pool = MultiScaleRoIAlign(featmap_names=names, output_size=ROI_SIZE, sampling_ratio=2)
    head = TwoMLPHead(det.fpn_channels * ROI_SIZE**2, det.head_width)
    return FasterRCNN(
        backbone,
        rpn_anchor_generator=anchors,
        box_roi_pool=pool,
        box_head=head,
        box_predictor=FastRCNNPredictor(det.head_width, det.num_classes + 1),
        min_size=min(det.image_size),
        max_size=max(det.image_size),
        image_mean=mean,
        image_std=std,
        rpn_pre_nms_top_n_train=2 * det.proposals_train,
        rpn_post_nms_top_n_train=det.proposals_train,
        rpn_pre_nms_top_n_test=2 * det.proposals_test,
        rpn_post_nms_top_n_test=det.proposals_test,
        rpn_batch_size_per_image=64,
        box_batch_size_per_image=32,  # at most 4 objects a canvas: a quarter of 32 covers them
        box_detections_per_img=det.detections,
        box_score_thresh=0.01,
    )


def with_input_channels(arch: ArchSpec, channels: int) -> ArchSpec:
    return dataclasses.replace(arch, in_channels=channels)


def attention_modules(model: nn.Module) -> list[str]:
    """Qualified names of every attention module in `model` (a backbone's or a detector's)."""
    return [name for name, _ in model.named_modules() if name == "attention" or name.endswith(".attention")]
