"""`cbam-bench inspect`: the grid PNG, the scores in --json, and bad networks refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cbam_bench.checkpoint import save_checkpoint
from cbam_bench.cli.app import app
from cbam_bench.data.fit import fit_arch
from cbam_bench.inspect.figure import DPI, PANEL_INCHES, Column, grid_figure
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.train_spec import TrainSpec

runner = CliRunner()
RECIPE = TrainSpec(image_size=16, train_images=32, val_images=24, device="cpu")


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def checkpoint(path: Path, kind: str, recipe: TrainSpec = RECIPE, seed: int = 0, arch: ArchSpec | None = None) -> Path:
    torch.manual_seed(seed)
    arch = arch or fit_arch(ArchSpec("cifar_resnet20", width=0.25, attention=AttentionSpec(kind=kind)), recipe)
    save_checkpoint(path, build_model(arch), arch, recipe)
    return path


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("nets")
    return [checkpoint(folder / f"{kind}.pt", kind, seed=i) for i, kind in enumerate(("none", "se", "cbam"))]


def test_json_scores_every_network_beside_chance_with_deltas_against_the_first(
    nets: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "grid.png"
    result = invoke("inspect", *map(str, nets), "--index", "0,5", "--maps", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["dataset"] == "digits-clutter" and doc["split"] == "val" and doc["images"] == 24
    assert doc["chance"] == {"pointing": 0.25, "energy": 0.25}  # an 8-pixel box on a 16-pixel image
    assert [n["summary"] for n in doc["networks"]] == ["none", "se avg r16", "cbam avg+max r16 k7 c-s"]
    for net in doc["networks"]:
        for key in ("accuracy", "pointing", "energy"):
            e = net[key]
            assert 0 <= e["low"] <= e["value"] <= e["high"] <= 1 and e["level"] == 0.95
        assert net["accuracy"]["method"] == net["pointing"]["method"] == "wilson" and net["energy"]["method"] == "t"
        assert net["baseline"] == str(nets[0])
    assert doc["networks"][0]["delta"] is None
    delta = doc["networks"][2]["delta"]
    first, third = doc["networks"][0], doc["networks"][2]
    assert delta["energy"]["value"] == pytest.approx(third["energy"]["value"] - first["energy"]["value"])
    assert delta["pointing"]["method"] == "paired-t"
    assert doc["out"] == str(out)
    # The PNG: two rows of the input plus (Grad-CAM, Ms, Mc) for each of three networks.
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (round(PANEL_INCHES * 10 * DPI), round(PANEL_INCHES * 2 * 1.15 * DPI))


def test_the_grid_has_one_panel_per_image_and_network() -> None:
    images = torch.zeros(3, 1, 8, 8, dtype=torch.uint8)
    cols = [Column("a", torch.rand(3, 8, 8), torch.rand(3)), Column("b", torch.rand(3, 8, 8), torch.rand(3))]
    assert len(grid_figure(images, ["1", "2", "3"], cols).axes) == 3 * (1 + 2)
    with_maps = grid_figure(images, ["1", "2", "3"], cols, maps=True)
    assert len(with_maps.axes) == 3 * (1 + 2 * 3)
    assert with_maps.axes[0].get_title() == "label 1" and with_maps.axes[1].get_title() == "a"
    assert with_maps.axes[1].get_xlabel().startswith("P = ")


def test_table_output_names_chance(nets: list[Path]) -> None:
    result = invoke("inspect", str(nets[0]), str(nets[2]), "--images", "1")
    assert result.exit_code == 0, result.output
    assert "chance (the box's share of the image): 25.0%" in result.stdout and "cbam avg+max" in result.stdout
    assert "cbam avg+max r16 k7 c-s - none: accuracy " in result.stdout and "(points, 95% paired t)" in result.stdout


def test_bad_networks_and_options_are_refused_in_one_line(nets: list[Path], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    cifar_arch = ArchSpec("cifar_resnet20", width=0.25, num_classes=10, in_channels=3, input_size=16)
    cifar = checkpoint(tmp_path / "cifar.pt", "none", TrainSpec(dataset="cifar10", image_size=16), arch=cifar_arch)
    out = tmp_path / "grid.png"
    cases = {
        (str(tmp_path / "missing.pt"),): "no such file",
        (str(garbage),): "not loadable",
        (
            str(nets[0]),
            str(cifar),
        ): "takes 3-channel images and predicts 10 classes; dataset digits-clutter has 1-channel images and 10",
        (str(nets[0]), "--layer", "stage9"): "--layer: 'stage9' is not allowed; allowed: last, stage1, stage2, stage3",
        (str(nets[0]), "--index", "3,99"): "--index: 99 is not allowed; allowed: 0-23",
        (str(nets[0]), "--split", "train"): "--split: 'train' is not allowed; allowed: val, test",
        (str(nets[0]), "--out", str(tmp_path / "grid.jpg")): "--out:",
        (str(nets[0]), "--out", str(out), "--layer", "bad"): "--layer:",
    }
    for args, message in cases.items():
        result = invoke("inspect", *args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.output)
    assert not out.exists()


def test_weights_that_do_not_fit_their_spec_are_refused(nets: list[Path], tmp_path: Path) -> None:
    payload = torch.load(nets[2], weights_only=True)
    payload["arch"]["attention"]["kind"] = "none"  # cbam weights under a spec without attention
    bad = tmp_path / "mismatched.pt"
    torch.save(payload, bad)
    result = invoke("inspect", str(bad))
    assert result.exit_code == 2 and "the weights do not fit the saved ArchSpec" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_dataset_without_boxes_gets_accuracy_and_the_figure_only(tmp_path: Path) -> None:
    folder = tmp_path / "shapes"
    rng = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for cls in ("a", "b"):
            (folder / split / cls).mkdir(parents=True)
            for i in range(6):
                pixels = torch.randint(0, 256, (16, 16, 3), generator=rng, dtype=torch.uint8).numpy()
                Image.fromarray(pixels).save(folder / split / cls / f"{i}.png")
    recipe = TrainSpec(dataset=f"imagefolder:{folder}", image_size=16, device="cpu", data_dir=str(tmp_path / "data"))
    arch = ArchSpec(
        "cifar_resnet20", width=0.25, num_classes=2, in_channels=3, input_size=16, attention=AttentionSpec(kind="cbam")
    )
    net = checkpoint(tmp_path / "rgb.pt", "cbam", recipe, arch=arch)
    out = tmp_path / "rgb.png"
    result = invoke("inspect", str(net), "--images", "3", "--maps", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["images"] == 12 and doc["chance"] is None
    only = doc["networks"][0]
    assert only["pointing"] is None and only["energy"] is None and 0 <= only["accuracy"]["value"] <= 1
    with Image.open(out) as image:
        assert image.size == (round(PANEL_INCHES * 4 * DPI), round(PANEL_INCHES * 3 * 1.15 * DPI))
