"""ImageNet ResNets and ResNeXts built from torchvision's blocks, with a width multiplier.

The attribute names match torchvision's, so its state_dicts load as they are.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet as tv

from cbam_bench.models.catalog import BackboneInfo
from cbam_bench.models.sites import BlockSite, StageInfo, stage_outputs
from cbam_bench.models.slot import AttentionSlot

STEM_WIDTH = 64


class BasicBlock(AttentionSlot, tv.BasicBlock):
    """torchvision's basic block, with its attention slot in forward."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.init_slot()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(self.attend(x, "pre"))))  # the shortcut keeps the raw input
        out = self.attend(self.bn2(self.conv2(out)), "residual")
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.attend(self.relu(out), "post-add")


class Bottleneck(AttentionSlot, tv.Bottleneck):
    """torchvision's bottleneck, with its attention slot in forward."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.init_slot()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(self.attend(x, "pre"))))  # the shortcut keeps the raw input
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attend(self.bn3(self.conv3(out)), "residual")
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.attend(self.relu(out), "post-add")


def stage_widths(width: float, stages: int = 4) -> list[int]:
    """Stage base widths 64, 128, 256, 512 scaled by `width` (the stem stays at 64)."""
    return [int(round(STEM_WIDTH * width * 2**i)) for i in range(stages)]


class ResNet(nn.Module):
    """Stem, four stages of residual blocks, global pooling and a linear classifier."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        depths: tuple[int, ...],
        *,
        width: float = 1.0,
        groups: int = 1,
        width_per_group: int = 64,
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, STEM_WIDTH, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_WIDTH)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = STEM_WIDTH
        for i, (planes, depth) in enumerate(zip(stage_widths(width, len(depths)), depths)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(depth):
                downsample = None
                if j == 0 and (stride != 1 or inplanes != planes * block.expansion):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion),
                    )
                kwargs = {"groups": groups, "base_width": width_per_group} if block is Bottleneck else {}
                blocks.append(block(inplanes, planes, stride if j == 0 else 1, downsample, **kwargs))
                inplanes = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.num_stages = len(depths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        init_resnet_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))

    def stage_info(self) -> list[StageInfo]:
        """Each stage's output (layer1 ... layer4): what a detector's feature pyramid taps."""
        stem = self.conv1.stride[0] * self.maxpool.stride
        return stage_outputs(resnet_sites(self), stem, lambda stage, last: f"layer{stage}")


def init_resnet_weights(model: nn.Module) -> None:
    """He-normal convolutions and unit-gain norms, as torchvision initialises its ResNets."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def move_stride_to_1x1(model: nn.Module) -> None:
    """The original ResNet layout the CBAM paper counted: a bottleneck downsamples in its first 1x1."""
    for m in model.modules():
        if isinstance(m, Bottleneck) and m.conv2.stride != (1, 1):
            m.conv1.stride, m.conv2.stride = m.conv2.stride, (1, 1)


def build_resnet(info: BackboneInfo, *, width: float, stride_on: str, num_classes: int, in_channels: int) -> ResNet:
    block = Bottleneck if info.bottleneck else BasicBlock
    model = ResNet(
        block,
        info.depths,
        width=width,
        groups=info.groups,
        width_per_group=info.width_per_group,
        num_classes=num_classes,
        in_channels=in_channels,
    )
    if stride_on == "1x1":
        move_stride_to_1x1(model)
    return model


def resnet_sites(model: nn.Module) -> list[BlockSite]:
    """Every residual block of a ResNet (ImageNet or CIFAR), stage by stage."""
    sites = []
    for stage in range(1, model.num_stages + 1):
        for index, block in enumerate(getattr(model, f"layer{stage}")):
            last_norm = block.bn3 if isinstance(block, Bottleneck) else block.bn2
            sites.append(BlockSite(stage, index, f"layer{stage}.{index}", block, block.conv1, last_norm, block.stride))
    return sites
