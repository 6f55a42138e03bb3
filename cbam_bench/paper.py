"""The CBAM paper's published numbers (Woo et al., ECCV 2018), in one place.

Complexity rows are keyed by the network they describe; the counts we reproduce are computed
from the networks, never read from here — this module is only what we compare against.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComplexityRow:
    """One printed row: Param. in millions (2 decimals) and GFLOPs = G multiply-adds (3 decimals)."""

    table: str
    label: str
    params_m: float
    gflops: float | None


# (backbone, width, attention kind) -> row. Table 4: ImageNet-1K, 224x224, stride on the 1x1.
_T4 = "Table 4"
_T5 = "Table 5"
COMPLEXITY: dict[tuple[str, float, str], ComplexityRow] = {
    ("resnet18", 1.0, "none"): ComplexityRow(_T4, "ResNet18", 11.69, 1.814),
    ("resnet18", 1.0, "se"): ComplexityRow(_T4, "ResNet18 + SE", 11.78, 1.814),
    ("resnet18", 1.0, "cbam"): ComplexityRow(_T4, "ResNet18 + CBAM", 11.78, 1.815),
    ("resnet34", 1.0, "none"): ComplexityRow(_T4, "ResNet34", 21.80, 3.664),
    ("resnet34", 1.0, "se"): ComplexityRow(_T4, "ResNet34 + SE", 21.96, 3.664),
    ("resnet34", 1.0, "cbam"): ComplexityRow(_T4, "ResNet34 + CBAM", 21.96, 3.665),
    ("resnet50", 1.0, "none"): ComplexityRow(_T4, "ResNet50", 25.56, 3.858),
    ("resnet50", 1.0, "se"): ComplexityRow(_T4, "ResNet50 + SE", 28.09, 3.860),
    ("resnet50", 1.0, "cbam"): ComplexityRow(_T4, "ResNet50 + CBAM", 28.09, 3.864),
    ("resnet101", 1.0, "none"): ComplexityRow(_T4, "ResNet101", 44.55, 7.570),
    ("resnet101", 1.0, "se"): ComplexityRow(_T4, "ResNet101 + SE", 49.33, 7.575),
    ("resnet101", 1.0, "cbam"): ComplexityRow(_T4, "ResNet101 + CBAM", 49.33, 7.581),
    ("resnet18", 1.5, "none"): ComplexityRow(_T4, "WideResNet18 (widen=1.5)", 25.88, 3.866),
    ("resnet18", 1.5, "se"): ComplexityRow(_T4, "WideResNet18 (widen=1.5) + SE", 26.07, 3.867),
    ("resnet18", 1.5, "cbam"): ComplexityRow(_T4, "WideResNet18 (widen=1.5) + CBAM", 26.08, 3.868),
    ("resnet18", 2.0, "none"): ComplexityRow(_T4, "WideResNet18 (widen=2.0)", 45.62, 6.696),
    ("resnet18", 2.0, "se"): ComplexityRow(_T4, "WideResNet18 (widen=2.0) + SE", 45.97, 6.696),
    ("resnet18", 2.0, "cbam"): ComplexityRow(_T4, "WideResNet18 (widen=2.0) + CBAM", 45.97, 6.697),
    ("resnext50_32x4d", 1.0, "none"): ComplexityRow(_T4, "ResNeXt50 (32x4d)", 25.03, 3.768),
    ("resnext50_32x4d", 1.0, "se"): ComplexityRow(_T4, "ResNeXt50 (32x4d) + SE", 27.56, 3.771),
    ("resnext50_32x4d", 1.0, "cbam"): ComplexityRow(_T4, "ResNeXt50 (32x4d) + CBAM", 27.56, 3.774),
    ("resnext101_32x4d", 1.0, "none"): ComplexityRow(_T4, "ResNeXt101 (32x4d)", 44.18, 7.508),
    ("resnext101_32x4d", 1.0, "se"): ComplexityRow(_T4, "ResNeXt101 (32x4d) + SE", 48.96, 7.512),
    ("resnext101_32x4d", 1.0, "cbam"): ComplexityRow(_T4, "ResNeXt101 (32x4d) + CBAM", 48.96, 7.519),
    # Table 5: MobileNet (v1); the paper does not say where the modules go. A module after every
    # convolution, depthwise and pointwise, matches its parameter overheads.
    ("mobilenet_v1", 1.0, "none"): ComplexityRow(_T5, "MobileNet (alpha=1)", 4.23, 0.569),
    ("mobilenet_v1", 1.0, "se"): ComplexityRow(_T5, "MobileNet (alpha=1) + SE", 5.07, 0.570),
    ("mobilenet_v1", 1.0, "cbam"): ComplexityRow(_T5, "MobileNet (alpha=1) + CBAM", 5.07, 0.576),
    ("mobilenet_v1", 0.7, "none"): ComplexityRow(_T5, "MobileNet (alpha=0.7)", 2.30, 0.283),
    ("mobilenet_v1", 0.7, "se"): ComplexityRow(_T5, "MobileNet (alpha=0.7) + SE", 2.71, None),
    ("mobilenet_v1", 0.7, "cbam"): ComplexityRow(_T5, "MobileNet (alpha=0.7) + CBAM", 2.71, 0.289),
}

# The paper counted bottlenecks with the stride on their first 1x1 convolution.
PAPER_STRIDE_ON = "1x1"


@dataclass(frozen=True)
class AblationRow:
    """One row of Tables 1-3: ResNet50 on ImageNet-1K, top-1 / top-5 error in percent."""

    label: str
    top1_err: float
    top5_err: float


# What the paper trained Tables 1-3 on, and each table's number and subject.
ABLATION_SETUP = "ResNet50 on ImageNet-1K"
ABLATION_TITLES: dict[str, str] = {
    "channel": "Table 1: channel attention (pooling)",
    "spatial": "Table 2: spatial attention (descriptor and kernel)",
    "arrangement": "Table 3: arrangement of the channel and spatial gates",
}

# Keyed by the attention settings of the row; the baseline (no attention) appears in Table 1.
ABLATIONS: dict[str, list[tuple[dict[str, object], AblationRow]]] = {
    "channel": [
        ({"kind": "none"}, AblationRow("ResNet50 (baseline)", 24.56, 7.50)),
        ({"kind": "se"}, AblationRow("ResNet50 + AvgPool (SE)", 23.14, 6.70)),
        ({"kind": "cbam", "order": "channel-only", "pooling": ["max"]}, AblationRow("ResNet50 + MaxPool", 23.20, 6.83)),
        (
            {"kind": "cbam", "order": "channel-only", "pooling": ["avg", "max"]},
            AblationRow("ResNet50 + AvgPool & MaxPool", 22.80, 6.52),
        ),
    ],
    "spatial": [
        (
            {"kind": "cbam", "descriptor": "conv1x1", "kernel": 3},
            AblationRow("channel + spatial (1x1 conv, k=3)", 22.96, 6.64),
        ),
        (
            {"kind": "cbam", "descriptor": "conv1x1", "kernel": 7},
            AblationRow("channel + spatial (1x1 conv, k=7)", 22.90, 6.47),
        ),
        (
            {"kind": "cbam", "descriptor": "avg+max", "kernel": 3},
            AblationRow("channel + spatial (avg & max, k=3)", 22.68, 6.41),
        ),
        (
            {"kind": "cbam", "descriptor": "avg+max", "kernel": 7},
            AblationRow("channel + spatial (avg & max, k=7)", 22.66, 6.31),
        ),
    ],
    "arrangement": [
        ({"kind": "se"}, AblationRow("ResNet50 + channel (SE)", 23.14, 6.70)),
        ({"kind": "cbam", "order": "channel-spatial"}, AblationRow("ResNet50 + channel + spatial (CBAM)", 22.66, 6.31)),
        ({"kind": "cbam", "order": "spatial-channel"}, AblationRow("ResNet50 + spatial + channel", 22.78, 6.42)),
        ({"kind": "cbam", "order": "parallel"}, AblationRow("ResNet50 + channel & spatial in parallel", 22.95, 6.59)),
    ],
}


@dataclass(frozen=True)
class DetectionRow:
    """One row of Table 6: Faster R-CNN on MS COCO, mAP@[.5:.95] in percent (None: the paper has no such row)."""

    label: str
    map: float | None


# Table 6 compares no attention with CBAM in the detector's ResNet50 backbone; the paper has no SE
# row there, so ours stands without a printed number.
DETECTION_SETUP = "Faster R-CNN with a ResNet50 backbone on MS COCO"
DETECTION_TITLE = "Table 6: attention in a detector's backbone"
DETECTION_ROWS: list[tuple[dict[str, object], DetectionRow]] = [
    ({"kind": "none"}, DetectionRow("ResNet50 (baseline)", 27.0)),
    ({"kind": "se"}, DetectionRow("ResNet50 + SE", None)),
    ({"kind": "cbam"}, DetectionRow("ResNet50 + CBAM", 28.1)),
]
