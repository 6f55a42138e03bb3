"""Backbones build the published shapes, and placement puts modules where the spec says."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import resnet18 as tv_resnet18
from torchvision.models import resnet50 as tv_resnet50

from cbam_bench.attention.cbam import CBAM
from cbam_bench.attention.channel import ChannelGate
from cbam_bench.errors import SpecError
from cbam_bench.models.build import block_sites, build_model, load_backbone_weights
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec

CBAM_SPEC = AttentionSpec(kind="cbam")


def _attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if n.endswith(".attention")}


def test_resnet50_all_stages_residual_gets_16_modules_256_to_2048_channels() -> None:
    model = build_model(ArchSpec("resnet50", attention=CBAM_SPEC))
    modules = _attention_modules(model)
    assert len(modules) == 16
    assert all(isinstance(m, CBAM) for m in modules.values())
    widths = [m.channel.mlp[0].in_features for m in modules.values()]
    assert widths == [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3


def test_pre_position_uses_the_block_input_width() -> None:
    spec = ArchSpec(
        "resnet50", attention=AttentionSpec(kind="se"), placement=PlacementSpec(position="pre", blocks="first")
    )
    widths = [m.mlp[0].in_features for m in _attention_modules(build_model(spec)).values()]
    assert widths == [64, 256, 512, 1024]


class _Recorder(nn.Module):
    """Identity that remembers the tensor it saw, standing in for attention."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return x * 2  # visible effect, so we can tell where it acted


def _branch(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The residual branch computed with .forward, which bypasses the placement hooks."""
    out = block.relu.forward(block.bn1.forward(block.conv1.forward(x)))
    return block.bn2.forward(block.conv2.forward(out))


def _block_with_recorder(position: str):
    spec = ArchSpec(
        "resnet18",
        attention=AttentionSpec(kind="se"),
        placement=PlacementSpec(stages=(1,), blocks="first", position=position),
    )
    model = build_model(spec).eval()
    block = model.layer1[0]
    recorder = _Recorder()
    block.attention.forward = recorder.forward  # keep the hook, swap what it does
    return block, recorder


def test_residual_position_acts_before_the_add() -> None:
    block, rec = _block_with_recorder("residual")
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        y = block(x)
        branch = _branch(block, x)
    torch.testing.assert_close(rec.seen, branch)  # the hook saw bn2's output ...
    torch.testing.assert_close(y, torch.relu(2 * branch + x))  # ... and doubled it before the add


def test_post_add_position_acts_on_the_block_output() -> None:
    block, rec = _block_with_recorder("post-add")
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        y = block(x)
        branch = _branch(block, x)
    torch.testing.assert_close(y, 2 * torch.relu(branch + x))


def test_pre_position_acts_on_the_residual_branch_only() -> None:
    block, rec = _block_with_recorder("pre")
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        y = block(x)
        branch = _branch(block, 2 * x)
    torch.testing.assert_close(rec.seen, x)
    torch.testing.assert_close(y, torch.relu(branch + x))  # the shortcut saw the raw input


def test_stride_on_1x1_moves_the_downsampling() -> None:
    default = build_model(ArchSpec("resnet50"))
    paper = build_model(ArchSpec("resnet50", stride_on="1x1"))
    assert default.layer2[0].conv2.stride == (2, 2) and default.layer2[0].conv1.stride == (1, 1)
    assert paper.layer2[0].conv2.stride == (1, 1) and paper.layer2[0].conv1.stride == (2, 2)
    x = torch.randn(1, 3, 64, 64)
    assert paper.eval()(x).shape == default.eval()(x).shape == (1, 1000)


def test_width_multiplier_scales_stages_not_stem() -> None:
    model = build_model(ArchSpec("resnet18", width=1.5))
    assert model.conv1.out_channels == 64
    assert [getattr(model, f"layer{i}")[0].conv1.out_channels for i in (1, 2, 3, 4)] == [96, 192, 384, 768]
    assert model.fc.in_features == 768


@pytest.mark.parametrize(
    "name, params",
    [
        # He et al. 2016, table 6: 0.27M, 0.46M, 0.85M (option A shortcuts, 10 classes)
        ("cifar_resnet20", 269_722),
        ("cifar_resnet32", 464_154),
        ("cifar_resnet56", 853_018),
    ],
)
def test_cifar_resnets_have_the_published_sizes(name, params) -> None:
    model = build_model(ArchSpec(name))
    assert sum(p.numel() for p in model.parameters()) == params
    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    "name, blocks", [("mobilenet_v1", 27), ("mobilenet_v2", 17), ("cifar_resnet56", 27), ("resnet101", 33)]
)
def test_every_block_can_carry_attention(name, blocks) -> None:
    spec = ArchSpec(name, attention=AttentionSpec(kind="cbam", reduction=8), input_size=64)
    model = build_model(spec)
    assert len(block_sites(model, spec)) == blocks
    assert len(_attention_modules(model)) == blocks
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, spec.num_classes)


def test_one_channel_input() -> None:
    spec = ArchSpec("cifar_resnet20", in_channels=1, attention=CBAM_SPEC)
    assert build_model(spec).eval()(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_torchvision_weights_load_and_attention_stays_fresh(tmp_path) -> None:
    path = tmp_path / "resnet18.pth"
    reference = tv_resnet18()
    torch.save(reference.state_dict(), path)
    model = build_model(ArchSpec("resnet18", attention=CBAM_SPEC))
    fresh = {k: v.clone() for k, v in model.state_dict().items() if ".attention." in k}
    load_backbone_weights(model, path)
    own = model.state_dict()
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(own[key], value)
    for key, value in fresh.items():
        torch.testing.assert_close(own[key], value)


def test_torchvision_bottleneck_weights_load_into_either_stride_layout(tmp_path) -> None:
    path = tmp_path / "resnet50.pth"
    torch.save(tv_resnet50().state_dict(), path)
    load_backbone_weights(build_model(ArchSpec("resnet50", stride_on="1x1", attention=AttentionSpec(kind="se"))), path)


def test_mismatched_weights_name_the_first_bad_key(tmp_path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(tv_resnet18().state_dict(), path)
    with pytest.raises(SpecError, match=r"unexpected and .* missing backbone keys"):
        load_backbone_weights(build_model(ArchSpec("resnet50")), path)
    with pytest.raises(SpecError, match=r"'fc.weight' has shape \(1000, 512\), the model needs \(10, 512\)"):
        load_backbone_weights(build_model(ArchSpec("resnet18", num_classes=10)), path)
    with pytest.raises(SpecError, match="no such file"):
        load_backbone_weights(build_model(ArchSpec("resnet18")), tmp_path / "missing.pth")


def test_files_that_are_not_state_dicts_are_refused(tmp_path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(
        SpecError, match=r"notes.txt: not loadable \(UnpicklingError: not a file torch.save wrote, or a damaged one\)$"
    ):
        load_backbone_weights(build_model(ArchSpec("resnet18")), text)
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(SpecError, match=r"list.pth: expected a state_dict \(a mapping of names to tensors\)"):
        load_backbone_weights(build_model(ArchSpec("resnet18")), listed)


def test_weights_whose_values_are_not_tensors_name_the_first_such_key(tmp_path) -> None:
    state = tv_resnet18().state_dict()
    keys = list(state)
    state[keys[2]], state[keys[7]] = "oops", [1, 2]
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(SpecError) as info:
        load_backbone_weights(build_model(ArchSpec("resnet18")), path)
    assert str(info.value) == (
        f"--weights: {path}: {keys[2]!r} is of type str, not a tensor; allowed: a state_dict mapping parameter names to tensors"
    )


def test_a_state_dict_nested_under_state_dict_loads(tmp_path) -> None:
    path = tmp_path / "wrapped.pth"
    reference = tv_resnet18()
    torch.save({"state_dict": reference.state_dict(), "epoch": 90}, path)
    model = build_model(ArchSpec("resnet18"))
    load_backbone_weights(model, path)
    torch.testing.assert_close(model.fc.weight, reference.fc.weight)


def test_channel_only_cbam_is_a_bare_channel_gate() -> None:
    spec = ArchSpec("cifar_resnet20", attention=AttentionSpec(kind="cbam", order="channel-only"))
    assert all(type(m) is ChannelGate for m in _attention_modules(build_model(spec)).values())


@pytest.mark.parametrize("stride_on", ["1x1", "3x3"])
def test_resnet50_stage_outputs_for_a_feature_pyramid(stride_on) -> None:
    model = build_model(ArchSpec("resnet50", stride_on=stride_on, attention=CBAM_SPEC))
    assert model.stage_info() == [("layer1", 256, 4), ("layer2", 512, 8), ("layer3", 1024, 16), ("layer4", 2048, 32)]


@pytest.mark.parametrize(
    "name, stages",
    [
        ("cifar_resnet20", [("layer1", 16, 1), ("layer2", 32, 2), ("layer3", 64, 4)]),
        ("resnet18", [("layer1", 64, 4), ("layer2", 128, 8), ("layer3", 256, 16), ("layer4", 512, 32)]),
        # Howard et al. 2017, table 1: 64 at 112, 128 at 56, 256 at 28, 512 at 14, 1024 at 7 (224 input)
        (
            "mobilenet_v1",
            [("stage1", 64, 2), ("stage2", 128, 4), ("stage3", 256, 8), ("stage4", 512, 16), ("stage5", 1024, 32)],
        ),
        # Sandler et al. 2018, table 2: one row per (t, c, n, s), tapped at its last block
        (
            "mobilenet_v2",
            [
                ("features.1", 16, 2),
                ("features.3", 24, 4),
                ("features.6", 32, 8),
                ("features.10", 64, 16),
                ("features.13", 96, 16),
                ("features.16", 160, 32),
                ("features.17", 320, 32),
            ],
        ),
    ],
)
def test_stage_outputs_of_the_other_families(name, stages) -> None:
    assert build_model(ArchSpec(name)).stage_info() == stages
    stage = build_model(ArchSpec(name, width=2.0)).stage_info()[0]
    assert stage.channels == 2 * stages[0][1] and stage.stride == stages[0][2]
