"""Grad-CAM through captum on a network whose answer is known, and on every backbone family."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cbam_bench.errors import SpecError
from cbam_bench.inspect.gradcam import class_scores, grad_cam, layer_names, stage_layer
from cbam_bench.inspect.scores import energy_shares, pointing_hits
from cbam_bench.models.build import build_model
from cbam_bench.models.sites import StageInfo
from cbam_bench.spec import ArchSpec, AttentionSpec

SIDE = 16
QUADRANTS = {"top-left": (0, 0), "top-right": (8, 0), "bottom-left": (0, 8), "bottom-right": (8, 8)}


class QuadrantNet(nn.Module):
    """Sees only one quadrant of its input: the rest is zeroed before the first convolution, so the
    features, and the class evidence, exist only there."""

    def __init__(self, x0: int, y0: int) -> None:
        super().__init__()
        mask = torch.zeros(1, 1, SIDE, SIDE)
        mask[..., y0 : y0 + SIDE // 2, x0 : x0 + SIDE // 2] = 1
        self.register_buffer("mask", mask)
        self.features = nn.Sequential(nn.Conv2d(1, 4, 1, stride=2, bias=False), nn.ReLU())
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.features[0].weight.fill_(1.0)
            self.fc.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]]))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x * self.mask).mean(dim=(2, 3)))

    def stage_info(self) -> list[StageInfo]:
        return [StageInfo("features", 4, 2)]


@pytest.mark.parametrize("quadrant", sorted(QUADRANTS))
def test_grad_cam_of_a_one_quadrant_network_lands_in_that_quadrant(quadrant: str) -> None:
    x0, y0 = QUADRANTS[quadrant]
    model = QuadrantNet(x0, y0).eval()
    images = torch.rand(6, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0)) + 0.1
    _, layer = stage_layer(model, "last")
    maps = grad_cam(model, layer, images, torch.zeros(6, dtype=torch.long))
    assert maps.shape == (6, SIDE, SIDE) and (maps >= 0).all()
    box = torch.tensor([[x0, y0, x0 + SIDE // 2, y0 + SIDE // 2]]).repeat(6, 1)
    assert pointing_hits(maps, box).tolist() == [1.0] * 6
    # Bilinear upsampling from 8x8 spreads half a layer pixel (one image pixel) past the edge.
    assert energy_shares(maps, box).min() > 0.85
    # Every other quadrant gets no peak.
    for other, (ox, oy) in QUADRANTS.items():
        if other != quadrant:
            away = torch.tensor([[ox, oy, ox + SIDE // 2, oy + SIDE // 2]]).repeat(6, 1)
            assert pointing_hits(maps, away).sum() == 0 and energy_shares(maps, away).max() < 0.1


def test_the_class_against_the_evidence_gets_an_empty_map() -> None:
    model = QuadrantNet(0, 0).eval()
    images = torch.rand(2, 1, SIDE, SIDE) + 0.1
    maps = grad_cam(model, stage_layer(model, "last")[1], images, torch.ones(2, dtype=torch.long))
    assert maps.abs().max() == 0  # the ReLU keeps only positive evidence, and class 1 has none
    probs = class_scores(model, images)
    assert probs.shape == (2, 2) and torch.allclose(probs.sum(dim=1), torch.ones(2))


@pytest.mark.parametrize(
    ("backbone", "size", "stages"),
    [("cifar_resnet20", 16, 3), ("resnet18", 32, 4), ("mobilenet_v1", 32, 5), ("mobilenet_v2", 32, 7)],
)
def test_every_backbone_family_has_its_stages_as_layers(backbone: str, size: int, stages: int) -> None:
    arch = ArchSpec(
        backbone, width=0.25, num_classes=3, in_channels=1, input_size=size, attention=AttentionSpec(kind="cbam")
    )
    model = build_model(arch).eval()
    assert layer_names(model) == ["last"] + [f"stage{i}" for i in range(1, stages + 1)]
    images = torch.randn(2, 1, size, size)
    for layer in ("last", "stage1"):
        maps = grad_cam(model, stage_layer(model, layer)[1], images, torch.tensor([0, 2]))
        assert maps.shape == (2, size, size) and torch.isfinite(maps).all() and (maps >= 0).all()
    assert stage_layer(model, "last")[0] == stages


def test_an_unknown_layer_names_the_allowed_ones() -> None:
    model = build_model(ArchSpec("cifar_resnet20", width=0.25, num_classes=2, in_channels=1, input_size=16))
    with pytest.raises(SpecError, match=r"^--layer: 'stage4' is not allowed; allowed: last, stage1, stage2, stage3$"):
        stage_layer(model, "stage4")
