"""CIFAR ResNets (He et al., CVPR 2016, section 4.2): three stages of 16/32/64 channels for 32x32 inputs.

Shortcuts that change shape subsample and zero-pad (the paper's option A), so the
parameter counts match the paper's (0.27M for ResNet-20).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cbam_bench.models.catalog import BackboneInfo
from cbam_bench.models.resnet import BasicBlock, init_resnet_weights, resnet_sites
from cbam_bench.models.sites import StageInfo, stage_outputs

BASE_WIDTHS = (16, 32, 64)


class PadShortcut(nn.Module):
    """Identity shortcut that subsamples by `stride` and zero-pads the new channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        before = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, before, self.extra - before))


class CifarResNet(nn.Module):
    """3x3 stem, three stages of basic blocks, global pooling and a linear classifier."""

    def __init__(self, depths: tuple[int, ...], *, width: float = 1.0, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        widths = [max(1, int(round(w * width))) for w in BASE_WIDTHS]
        self.conv1 = nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = widths[0]
        for i, (planes, depth) in enumerate(zip(widths, depths)):
            blocks = []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                shortcut = PadShortcut(inplanes, planes, stride) if stride != 1 or inplanes != planes else None
                blocks.append(BasicBlock(inplanes, planes, stride, shortcut))
                inplanes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_stages = len(depths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        init_resnet_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def stage_info(self) -> list[StageInfo]:
        """Each stage's output (layer1 ... layer3): what a detector's feature pyramid taps."""
        return stage_outputs(resnet_sites(self), self.conv1.stride[0], lambda stage, last: f"layer{stage}")


def build_cifar_resnet(
    info: BackboneInfo, *, width: float, num_classes: int, in_channels: int, **_: object
) -> CifarResNet:
    return CifarResNet(info.depths, width=width, num_classes=num_classes, in_channels=in_channels)
