"""Grad-CAM (Selvaraju et al., ICCV 2017) of a stage's output, as the CBAM paper's Figure shows it.

The CBAM paper visualises the last convolutional outputs of each network; here the layer is a
backbone stage's output (`stage_info()`), so every backbone and attention kind is handled alike.
The attribution itself is captum's LayerGradCam: the gradient of the class score, averaged over
each channel's positions, weights that channel's map; their sum, through a ReLU, is the map.
"""

from __future__ import annotations

import torch
from torch import nn

from cbam_bench.errors import SpecError, allowed

LAST = "last"
BATCH = 256  # images per attribution pass: bounds the memory of the saved activations


def layer_names(model: nn.Module) -> list[str]:
    """What --layer allows for `model`: 'last', then 'stage1' ... 'stageK'."""
    return [LAST] + [f"stage{i}" for i in range(1, len(model.stage_info()) + 1)]  # type: ignore[operator]


def stage_layer(model: nn.Module, layer: str) -> tuple[int, nn.Module]:
    """The 1-based stage number and the module whose output `layer` names ('last' or 'stageK')."""
    stages = model.stage_info()  # type: ignore[operator]
    names = layer_names(model)
    if layer not in names:
        raise SpecError("--layer", f"{layer!r} is not allowed; allowed: {allowed(names)}")
    stage = len(stages) if layer == LAST else int(layer[len("stage") :])
    return stage, model.get_submodule(stages[stage - 1].name)


def grad_cam(model: nn.Module, layer: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Grad-CAM maps for `targets` (N,) over normalised `images` (N, C, H, W): (N, H, W), >= 0.

    Each map is upsampled bilinearly from the layer's resolution to the image's, so it can be
    scored against boxes given in image pixels.
    """
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(model, layer)
    maps = []
    for x, y in zip(images.split(BATCH), targets.split(BATCH)):
        attr = cam.attribute(x, target=y, relu_attributions=True)
        up = LayerAttribution.interpolate(attr.detach(), tuple(x.shape[-2:]), interpolate_mode="bilinear")
        maps.append(up[:, 0])  # bilinear weights are convex: the ReLU'd map stays >= 0
    return torch.cat(maps)


@torch.inference_mode()
def class_scores(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities (N, classes): P of the true class goes under each map."""
    return torch.cat([model(x).float().softmax(dim=1) for x in images.split(BATCH)])
