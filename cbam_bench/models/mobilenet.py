"""MobileNetV1 (Howard et al., 2017) with its width multiplier alpha, and torchvision's MobileNetV2."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import mobilenetv2 as tv

from cbam_bench.models.catalog import BackboneInfo, backbone_info
from cbam_bench.models.sites import BlockSite, StageInfo, stage_outputs
from cbam_bench.models.slot import AttentionSlot

# (output channels, stride) of each depthwise-separable pair after the 32-channel stem.
V1_PAIRS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)) + ((512, 1),) * 5 + ((1024, 2), (1024, 1))
V1_STEM = 32


class ConvUnit(AttentionSlot, nn.Module):
    """Convolution, batch norm, ReLU: MobileNetV1's only building block. With no shortcut, `residual`
    attention acts after the norm (before the ReLU) and `post-add` after the ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.init_slot()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attend(self.bn(self.conv(self.attend(x, "pre"))), "residual")
        return self.attend(self.relu(out), "post-add")


def v1_units(alpha: float, in_channels: int = 3) -> list[ConvUnit]:
    """The 27 convolutions in order: the stem, then a depthwise and a pointwise one per pair."""
    c = int(V1_STEM * alpha)
    units = [ConvUnit(in_channels, c, 3, 2)]
    for out, stride in V1_PAIRS:
        out = int(out * alpha)
        units += [ConvUnit(c, c, 3, stride, groups=c), ConvUnit(c, out, 1, 1)]
        c = out
    return units


class MobileNetV1(nn.Module):
    """Stem, 13 depthwise-separable pairs, global pooling, a linear classifier.

    The units are grouped into stages by output resolution (112, 56, 28, 14, 7 at 224x224).
    """

    def __init__(self, depths: tuple[int, ...], *, alpha: float = 1.0, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        units = v1_units(alpha, in_channels)
        start = 0
        for i, depth in enumerate(depths):
            setattr(self, f"stage{i + 1}", nn.Sequential(*units[start : start + depth]))
            start += depth
        self.num_stages = len(depths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(units[-1].conv.out_channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.num_stages):
            x = getattr(self, f"stage{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def stage_info(self) -> list[StageInfo]:
        """Each stage's output (stage1 ... stage5): what a detector's feature pyramid taps."""
        return stage_outputs(mobilenet_v1_sites(self), 1, lambda stage, last: f"stage{stage}")


def build_mobilenet_v1(
    info: BackboneInfo, *, width: float, num_classes: int, in_channels: int, **_: object
) -> MobileNetV1:
    return MobileNetV1(info.depths, alpha=width, num_classes=num_classes, in_channels=in_channels)


def mobilenet_v1_sites(model: nn.Module) -> list[BlockSite]:
    sites = []
    for stage in range(1, model.num_stages + 1):
        for index, unit in enumerate(getattr(model, f"stage{stage}")):
            sites.append(
                BlockSite(stage, index, f"stage{stage}.{index}", unit, unit.conv, unit.bn, unit.conv.stride[0])
            )
    return sites


class InvertedResidual(AttentionSlot, tv.InvertedResidual):
    """torchvision's inverted residual, with its attention slot in forward."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.init_slot()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.attend(self.conv(self.attend(x, "pre")), "residual")  # the shortcut keeps the raw input
        if self.use_res_connect:
            out = x + out
        return self.attend(out, "post-add")


class MobileNetV2(tv.MobileNetV2):
    """torchvision's MobileNetV2 built from blocks with an attention slot; the same state_dict keys."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(block=InvertedResidual, **kwargs)

    def stage_info(self) -> list[StageInfo]:
        """Each (t, c, n, s) row's output, tapped at its last block (features.1 ... features.17)."""
        stem = self.features[0][0].stride[0]
        return stage_outputs(mobilenet_v2_sites(self), stem, lambda stage, last: last.name)


def build_mobilenet_v2(
    info: BackboneInfo, *, width: float, num_classes: int, in_channels: int, **_: object
) -> MobileNetV2:
    model = MobileNetV2(num_classes=num_classes, width_mult=width)
    if in_channels != 3:
        stem = model.features[0][0]
        model.features[0][0] = nn.Conv2d(
            in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False
        )
    return model


def mobilenet_v2_sites(model: nn.Module) -> list[BlockSite]:
    """The 17 inverted residuals of torchvision's MobileNetV2, one stage per (t, c, n, s) row."""
    depths = backbone_info("mobilenet_v2").depths
    blocks = [(i, m) for i, m in enumerate(model.features) if isinstance(m, tv.InvertedResidual)]
    sites, k = [], 0
    for stage, depth in enumerate(depths, start=1):
        for index in range(depth):
            i, block = blocks[k]
            sites.append(
                BlockSite(stage, index, f"features.{i}", block, block.conv[0][0], block.conv[-1], block.stride)
            )
            k += 1
    return sites
