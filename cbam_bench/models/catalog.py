"""What each backbone is, without building it: names, stage depths and defaults.

Kept free of torch so specs can be validated and hashed cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

from cbam_bench.errors import check_choice


@dataclass(frozen=True)
class BackboneInfo:
    """Static facts about one backbone variant."""

    name: str
    family: str  # "resnet", "cifar_resnet", "mobilenet_v1", "mobilenet_v2"
    depths: tuple[int, ...]  # blocks per stage, in order
    input_size: int
    num_classes: int
    bottleneck: bool = False  # only bottlenecks care about stride_on
    groups: int = 1
    width_per_group: int = 64


_RESNETS = (
    BackboneInfo("resnet18", "resnet", (2, 2, 2, 2), 224, 1000),
    BackboneInfo("resnet34", "resnet", (3, 4, 6, 3), 224, 1000),
    BackboneInfo("resnet50", "resnet", (3, 4, 6, 3), 224, 1000, bottleneck=True),
    BackboneInfo("resnet101", "resnet", (3, 4, 23, 3), 224, 1000, bottleneck=True),
    BackboneInfo("resnet152", "resnet", (3, 8, 36, 3), 224, 1000, bottleneck=True),
    BackboneInfo("resnext50_32x4d", "resnet", (3, 4, 6, 3), 224, 1000, True, 32, 4),
    BackboneInfo("resnext101_32x4d", "resnet", (3, 4, 23, 3), 224, 1000, True, 32, 4),
)
_CIFAR_RESNETS = tuple(BackboneInfo(f"cifar_resnet{6 * n + 2}", "cifar_resnet", (n, n, n), 32, 10) for n in (3, 5, 9))
# MobileNetV1: every convolution is its own block; stages group them by output resolution.
_MOBILENETS = (
    BackboneInfo("mobilenet_v1", "mobilenet_v1", (3, 4, 4, 12, 4), 224, 1000),
    # torchvision's inverted-residual settings: one stage per (t, c, n, s) row.
    BackboneInfo("mobilenet_v2", "mobilenet_v2", (1, 2, 3, 4, 3, 3, 1), 224, 1000),
)

BACKBONES: dict[str, BackboneInfo] = {b.name: b for b in _RESNETS + _CIFAR_RESNETS + _MOBILENETS}


def backbone_info(name: str) -> BackboneInfo:
    """Look a backbone up, or raise SpecError listing the known ones."""
    check_choice("backbone", name, BACKBONES)
    return BACKBONES[name]
