"""Attention is a real child that blocks call: tracers, feature extractors and export keep every module."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from cbam_bench.models.build import build_model
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.spec import POSITIONS, ArchSpec, AttentionSpec, PlacementSpec


def small_spec(backbone: str, position: str) -> ArchSpec:
    """Every backbone with CBAM in every block, narrow and at a small input so tracing stays cheap."""
    family = BACKBONES[backbone].family
    width = {"resnet": 0.25, "mobilenet_v1": 0.25, "mobilenet_v2": 0.5}.get(family, 1.0)
    return ArchSpec(
        backbone,
        width=width,
        input_size=32 if family == "cifar_resnet" else 64,
        num_classes=5,
        attention=AttentionSpec(kind="cbam", reduction=4),
        placement=PlacementSpec(position=position),
    )


def attention_params(model: nn.Module) -> set[str]:
    return {n for n, _ in model.named_parameters() if ".attention." in n}


def params_used(graph: torch.fx.Graph, root: nn.Module) -> set[str]:
    """Qualified names of the parameters a traced graph reads, directly or through a called module."""
    used = set()
    for node in graph.nodes:
        if node.op == "get_attr":
            used.add(node.target)
        elif node.op == "call_module":
            used |= {f"{node.target}.{n}" for n, _ in root.get_submodule(node.target).named_parameters()}
    return used


# The deepest backbones trace for seconds each: marked slow, still run in CI.
CASES = [
    pytest.param(b, p, marks=[pytest.mark.slow] if sum(info.depths) > 20 else [])
    for b, info in BACKBONES.items()
    for p in POSITIONS
]


@pytest.mark.parametrize("backbone, position", CASES)
def test_fx_trace_and_feature_extractor_keep_every_attention_module(backbone, position) -> None:
    spec = small_spec(backbone, position)
    model = build_model(spec).eval()
    wanted = attention_params(model)
    assert len({n.split(".attention.")[0] for n in wanted}) == len(spec.sites())

    traced = torch.fx.symbolic_trace(model)
    assert wanted <= params_used(traced.graph, model)
    x = torch.randn(2, 3, spec.input_size, spec.input_size)
    with torch.no_grad():
        # Eagerly, CBAM runs fused and the spatial convolution compiled: the same maths, rounded
        # in another order; the traced graph records the plain formula. Rounding scales with the
        # outputs' size (a deep ResNet's logits reach the hundreds), so the tolerance does too.
        eager = model(x)
        torch.testing.assert_close(traced(x), eager, rtol=1e-5, atol=1e-5 * max(1.0, float(eager.abs().max())))

    stages = model.stage_info()
    extractor = create_feature_extractor(model, {s.name: s.name for s in stages})
    assert wanted <= params_used(extractor.graph, model)  # the last stage's output depends on every block
    with torch.no_grad():
        features = extractor(x)
    for stage in stages:
        assert features[stage.name].shape == (
            2,
            stage.channels,
            spec.input_size // stage.stride,
            spec.input_size // stage.stride,
        )


def test_torch_export_keeps_every_convolution_of_resnet18_with_cbam() -> None:
    model = build_model(ArchSpec("resnet18", input_size=64, attention=AttentionSpec(kind="cbam"))).eval()
    x = torch.randn(1, 3, 64, 64)
    exported = torch.export.export(model, (x,))
    convs = [n for n in exported.graph.nodes if n.op == "call_function" and "conv" in str(n.target)]
    # 1 stem + 16 in blocks + 3 downsampling shortcuts, and the 8 blocks' 7x7 spatial convolutions
    assert len(convs) == 20 + 8
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x))


def test_a_hook_on_the_spatial_conv_fires_in_train_and_eval_on_the_cpu() -> None:
    model = build_model(ArchSpec("cifar_resnet20", attention=AttentionSpec(kind="cbam")))
    seen: list[str] = []
    conv = model.layer1[0].attention.spatial.conv
    conv.register_forward_hook(lambda module, inputs, output: seen.append(type(output.grad_fn).__name__))
    model.train()(torch.randn(8, 3, 32, 32)).sum().backward()
    assert len(seen) == 1 and "MapConv" in seen[0]  # the fast CPU backward still ran, inside the module
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, 32, 32))
    assert seen[1:] == ["NoneType"]


def _conv_macs_by_hooks(model: nn.Module, size: int) -> tuple[int, int]:
    """What thop-style counters see: a hook on each nn.Conv2d adds out elements x in_ch/groups x k x k."""
    macs, params, handles = [0], [0], []

    def count(module: nn.Conv2d, inputs: tuple, output: torch.Tensor) -> None:
        kh, kw = module.kernel_size
        macs[0] += output.numel() * (module.in_channels // module.groups) * kh * kw
        params[0] += module.weight.numel()

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(count))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return macs[0], params[0]


@pytest.mark.slow
def test_hook_counters_see_the_spatial_convolutions_of_resnet50() -> None:
    plain = _conv_macs_by_hooks(build_model(ArchSpec("resnet50")), 224)
    cbam = _conv_macs_by_hooks(build_model(ArchSpec("resnet50", attention=AttentionSpec(kind="cbam"))), 224)
    # 16 blocks, one 7x7 conv over 2 maps (98 MACs per output position) on 3 blocks at 56x56,
    # 4 at 28x28, 6 at 14x14, 3 at 7x7: 98 * (9408 + 3136 + 1176 + 147) = 98 * 13867
    assert cbam[0] - plain[0] == 98 * (3 * 56**2 + 4 * 28**2 + 6 * 14**2 + 3 * 7**2) == 1_358_966
    assert cbam[1] - plain[1] == 16 * 98 == 1_568  # the conv weights; the channel MLP has no Conv2d
