"""Faster R-CNN over our backbones: attention survives, one CPU step trains, counts match FlopCounterMode."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from cbam_bench.detection.cost import detector_cost
from cbam_bench.detection.model import DetectorSpec, attention_modules, build_detector
from cbam_bench.errors import SpecError
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec

CBAM = AttentionSpec(kind="cbam")


def _detector(arch: ArchSpec, size: tuple[int, int] = (64, 64)):
    torch.manual_seed(0)
    return build_detector(arch, DetectorSpec(num_classes=3, image_size=size), mean=[0.5], std=[0.25])


def test_detector_keeps_every_attention_module_and_calls_it():
    arch = ArchSpec("resnet18", width=0.25, in_channels=1, attention=CBAM, placement=PlacementSpec(stages=(2, 3)))
    backbone = attention_modules(build_model(arch))
    det = _detector(arch)
    assert len(backbone) == 4
    assert attention_modules(det) == [f"backbone.body.{name}" for name in backbone]
    called = []
    for name in attention_modules(det):
        det.get_submodule(name).register_forward_hook(lambda m, i, o, name=name: called.append(name))
    det.eval()
    with torch.no_grad():
        det([torch.rand(1, 64, 64)])
    assert called == attention_modules(det)


def test_detector_with_cbam_trains_one_step_on_the_cpu():
    arch = ArchSpec("resnet18", width=0.25, in_channels=1, attention=CBAM)
    det = _detector(arch).train()
    images = [torch.rand(1, 64, 64) for _ in range(2)]
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 30.0, 40.0]]), "labels": torch.tensor([2])}] * 2
    gate = det.backbone.body.layer2[0].attention.channel.mlp[0].weight
    before = gate.detach().clone()
    losses = det(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    torch.optim.SGD(det.parameters(), lr=0.1).zero_grad()
    sum(losses.values()).backward()
    assert gate.grad is not None and gate.grad.abs().sum() > 0
    torch.optim.SGD([gate], lr=0.1).step()
    assert not torch.equal(before, gate.detach())


def test_detector_refuses_a_backbone_without_resnet_stages():
    with pytest.raises(SpecError, match="MODEL: 'mobilenet_v2' is not allowed for detection"):
        _detector(ArchSpec("mobilenet_v2", in_channels=1))


def _flop_counter_macs(det, image: torch.Tensor) -> tuple[int, int, int]:
    """FlopCounterMode's conv + linear FLOPs / 2 of a real forward: total, backbone body, and the box head's rows."""
    rows = []
    det.roi_heads.box_head.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
    det.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        det([image])
    counts = counter.get_flop_counts()
    ops = (torch.ops.aten.convolution, torch.ops.aten.addmm, torch.ops.aten.mm)
    total = sum(v for op, v in counts["Global"].items() if op in ops)
    body = sum(v for op, v in counts["FasterRCNN.backbone.body"].items() if op in ops)
    return total // 2, body // 2, rows[0]


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_detector_macs_agree_with_flop_counter_mode(size):
    arch = ArchSpec("resnet18", width=0.25, in_channels=1, attention=CBAM)
    det = _detector(arch, size)
    total, body, proposals = _flop_counter_macs(det, torch.rand(1, *size))
    cost = detector_cost(det, size, 1, proposals=proposals)
    assert cost["total"].macs == total
    assert cost["backbone"].macs == body
    assert sum(cost[p].macs for p in ("backbone", "fpn", "rpn", "heads")) == total
    assert cost["total"].params == sum(p.numel() for p in det.parameters())
    assert sum(cost[p].params for p in ("backbone", "fpn", "rpn", "heads")) == cost["total"].params


def test_attention_share_is_the_backbones_attention():
    arch = ArchSpec("resnet18", width=0.25, in_channels=1, attention=CBAM)
    det = _detector(arch)
    cost = detector_cost(det, (64, 64), 1)
    attention = sum(p.numel() for n in attention_modules(det) for p in det.get_submodule(n).parameters())
    assert cost["total"].attention_params == cost["backbone"].attention_params == attention > 0
    assert cost["fpn"].attention_params == cost["heads"].attention_params == 0
    # The box head is counted on the evaluation budget: 100 proposals x (64*7*7*128 + 128*128 + 128*(4 + 16)).
    assert cost["heads"].macs == 100 * (64 * 49 * 128 + 128 * 128 + 128 * 4 + 128 * 16)


@pytest.mark.slow  # traces the detector twice through fvcore (JSON and table), a few seconds on 2 cores
def test_profile_task_detection_reports_each_part_and_attentions_share():
    import json

    from typer.testing import CliRunner

    from cbam_bench.cli.app import app

    runner = CliRunner()
    args = [
        "profile",
        "resnet18",
        "--width",
        "0.25",
        "--attention",
        "cbam",
        "--task",
        "detection",
        "--input-size",
        "64,96",
    ]
    result = runner.invoke(app, [*args, "--json"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["input_size"] == [64, 96] and set(doc["parts"]) == {"backbone", "fpn", "rpn", "heads"}
    assert doc["macs"] == sum(p["macs"] for p in doc["parts"].values())
    assert doc["attention_params"] == doc["parts"]["backbone"]["attention_params"] > 0
    arch = ArchSpec("resnet18", width=0.25, attention=CBAM)
    det = build_detector(arch, DetectorSpec(num_classes=10, image_size=(64, 96)), mean=[0.0] * 3, std=[1.0] * 3)
    assert doc["params"] == sum(p.numel() for p in det.parameters())
    table = runner.invoke(app, args, env={"COLUMNS": "120"})
    assert table.exit_code == 0 and "backbone" in table.stdout and "heads" in table.stdout
    bad = runner.invoke(app, ["profile", "resnet18", "--input-size", "64,96"], env={"COLUMNS": "120"})
    assert bad.exit_code == 2 and bad.stderr.strip() == (
        "error: --input-size: '64,96' is not allowed; allowed: one integer (H,W only with --task detection)"
    )


def test_weights_load_into_the_backbone_and_attention_starts_fresh(tmp_path):
    plain = ArchSpec("resnet18", width=0.25, in_channels=1)
    torch.manual_seed(1)
    state = build_model(plain).state_dict()
    torch.save(state, tmp_path / "backbone.pt")
    det = build_detector(
        ArchSpec("resnet18", width=0.25, in_channels=1, attention=CBAM),
        DetectorSpec(num_classes=3, image_size=(64, 64)),
        mean=[0.5],
        std=[0.25],
        weights=tmp_path / "backbone.pt",
    )
    assert torch.equal(det.backbone.body.layer3[1].conv2.weight, state["layer3.1.conv2.weight"])
    assert attention_modules(det)
    with pytest.raises(SpecError, match="--weights: .*'conv1.weight' has shape"):
        build_detector(
            ArchSpec("resnet18", width=0.25, in_channels=3),
            DetectorSpec(3, (64, 64)),
            mean=[0.5] * 3,
            std=[0.25] * 3,
            weights=tmp_path / "backbone.pt",
        )
