"""build_model(spec): backbone by name, then attention placed as the spec says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from cbam_bench.errors import SpecError
from cbam_bench.models.catalog import backbone_info
from cbam_bench.models.cifar_resnet import build_cifar_resnet
from cbam_bench.models.mobilenet import build_mobilenet_v1, build_mobilenet_v2, mobilenet_v1_sites, mobilenet_v2_sites
from cbam_bench.models.placement import place_attention
from cbam_bench.models.resnet import build_resnet, resnet_sites
from cbam_bench.models.sites import BlockSite
from cbam_bench.spec import ArchSpec
from cbam_bench.tensor_files import check_tensors, load_tensors

_FAMILIES: dict[str, tuple[Callable[..., nn.Module], Callable[[nn.Module], list[BlockSite]]]] = {
    "resnet": (build_resnet, resnet_sites),
    "cifar_resnet": (build_cifar_resnet, resnet_sites),
    "mobilenet_v1": (build_mobilenet_v1, mobilenet_v1_sites),
    "mobilenet_v2": (build_mobilenet_v2, mobilenet_v2_sites),
}


def block_sites(model: nn.Module, spec: ArchSpec) -> list[BlockSite]:
    """Every block of a model built from `spec`, whether or not it carries attention."""
    return _FAMILIES[backbone_info(spec.backbone).family][1](model)


def build_model(spec: ArchSpec) -> nn.Module:
    """The network `spec` describes, freshly initialised."""
    info = backbone_info(spec.backbone)
    build, sites = _FAMILIES[info.family]
    model = build(
        info, width=spec.width, stride_on=spec.stride_on, num_classes=spec.num_classes, in_channels=spec.in_channels
    )
    place_attention(sites(model), spec)
    return model


def is_attention_key(key: str) -> bool:
    return ".attention." in f".{key}"


def load_backbone_weights(model: nn.Module, path: str | Path) -> None:
    """Load a plain backbone state_dict (torchvision's, say) into a model that may carry attention.

    Attention keeps its fresh initialisation; every backbone weight must be present and fit.
    """
    state = load_tensors(path, f"--weights: {path}")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SpecError("--weights", f"{path}: expected a state_dict (a mapping of names to tensors)")
    check_tensors(state, f"--weights: {path}")
    own = model.state_dict()
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in state and not is_attention_key(k)]
    if unexpected or missing:
        first = (unexpected or missing)[0]
        what = "is not in this model" if unexpected else "is missing from the file"
        raise SpecError(
            "--weights",
            f"{path}: {len(unexpected)} unexpected and {len(missing)} missing backbone keys; first: {first!r} {what}",
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise SpecError(
                "--weights", f"{path}: {key!r} has shape {tuple(value.shape)}, the model needs {tuple(own[key].shape)}"
            )
    model.load_state_dict(state, strict=False)
