"""`cbam-bench train` through typer's CliRunner: the JSON contract, --save, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cbam_bench.checkpoint import load_checkpoint
from cbam_bench.cli.app import app

runner = CliRunner()
QUICK = ["--epochs", "1", "--train-images", "128", "--image-size", "16", "--batch-size", "32", "--device", "cpu"]


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def test_json_has_the_contract_keys_and_nothing_else_on_stdout(tmp_path: Path) -> None:
    save = tmp_path / "out" / "se.pt"
    result = invoke(
        "train", "cifar_resnet20", "--attention", "se", "--width", "0.5", *QUICK, "--save", str(save), "--json"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {
        "accuracy",
        "top5",
        "params",
        "macs",
        "latency_ms",
        "images_per_s",
        "wall_s",
        "arch",
        "archid",
        "env",
        "test_accuracy",
        "test_top5",
        "history",
        "train",
    } <= set(doc)
    assert 0 <= doc["accuracy"] <= doc["top5"] <= 1 and 0 <= doc["test_accuracy"] <= 1
    assert isinstance(doc["params"], int) and isinstance(doc["macs"], int) and doc["params"] > 0
    assert doc["latency_ms"] > 0 and doc["latency_ms"] <= doc["latency_p90_ms"] and doc["images_per_s"] > 0
    assert (
        doc["arch"]["in_channels"] == 1 and doc["arch"]["input_size"] == 16 and doc["arch"]["attention"]["kind"] == "se"
    )
    assert [h["epoch"] for h in doc["history"]] == [1] and doc["history"][0]["val_accuracy"] == doc["accuracy"]
    assert doc["env"]["device"] == "cpu" and doc["env"]["torch"] == torch.__version__
    assert doc["train"]["train_images"] == 128 and doc["saved"] == str(save)
    assert doc["train"]["fused"] == "auto"  # CBAM's fused mode, recorded with the run
    # The saved file rebuilds the trained network, with the specs that made it.
    model, arch, spec = load_checkpoint(save)
    assert arch.archid == doc["archid"] and spec.epochs == 1 and spec.image_size == 16
    assert sum(p.numel() for p in model.parameters()) == doc["params"]


def test_summary_table_for_people() -> None:
    result = invoke("train", "cifar_resnet20", "--width", "0.5", "--attention", "se", "--stages", "3", *QUICK)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("train cifar_resnet20 + se avg r16 @ 3/all/residual\n")  # what and where
    for label in (
        "accuracy (val top-1)",
        "top-5 (val)",
        "test accuracy",
        "params",
        "MACs (paper)",
        "latency",
        "training images/s",
        "wall time",
    ):
        assert label in result.stdout
    assert "epoch 1/1" not in result.stderr  # no progress when stderr is not a terminal


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--dataset", "cifar"],
            "--dataset: 'cifar' is not allowed (did you mean 'cifar10'?); allowed: digits-clutter, digits-clutter:hard, cifar10, cifar100, imagefolder:PATH",
        ),
        (
            ["--dataset", "digits-clutter:easy"],
            "--dataset: 'digits-clutter:easy' is not allowed (digits-clutter's presets: digits-clutter:hard); allowed:",
        ),
        (["--epochs", "0"], "--epochs: 0 is not allowed; allowed: an integer in [1, 10000]"),
        (["--lr", "0"], "--lr: 0.0 is not allowed; allowed: a finite number > 0"),
        (["--lr", "nan"], "--lr: nan is not allowed; allowed: a finite number > 0"),
        (["--lr", "inf"], "--lr: inf is not allowed; allowed: a finite number > 0"),
        (["--train-images", "1"], "--train-images: 1 is not allowed; allowed: an integer in [10, 100000000]"),
        (["--seed", str(2**32)], "--seed: 4294967296 is not allowed; allowed: an integer in [0, 4294967295]"),
        (["--reduction", str(10**30)], f"--reduction: {10**30} is not allowed; allowed: an integer in [1, 4096]"),
        (["--device", "tpu"], "--device: 'tpu' is not allowed (did you mean 'cpu'?); allowed: auto, cpu, cuda"),
        (["--attention", "cbma"], "--attention: 'cbma' is not allowed (did you mean 'cbam'?)"),
        (["--fused", "fast"], "--fused: 'fast' is not allowed; allowed: auto, on, off"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    result = invoke("train", "cifar_resnet20", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_missing_cifar_files_exit_2_and_write_nothing(tmp_path: Path) -> None:
    save = tmp_path / "never.pt"
    result = invoke("train", "cifar_resnet20", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--save", str(save))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"dataset cifar10: {tmp_path}/cifar-10-batches-py/data_batch_1 not found; run with --download" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_cuda_without_a_gpu_is_bad_input() -> None:
    result = invoke("train", "cifar_resnet20", "--device", "cuda", "--json")
    if torch.cuda.is_available():
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["env"]["cuda"] is not None
    else:
        assert result.exit_code == 2
        assert (
            result.stderr.strip()
            == "error: --device: 'cuda' is not available here (no GPU visible to torch); allowed: auto, cpu"
        )


def test_save_to_a_folder_is_refused_before_training(tmp_path: Path) -> None:
    result = invoke("train", "cifar_resnet20", "--save", str(tmp_path))
    assert result.exit_code == 2 and "--save: " in result.stderr and "is a folder" in result.stderr


def test_a_diverged_run_exits_1_with_one_line_and_saves_nothing(tmp_path: Path) -> None:
    save = tmp_path / "diverged.pt"
    args = ["--width", "0.5", "--epochs", "1", "--train-images", "256", "--image-size", "16", "--batch-size", "64"]
    result = invoke("train", "cifar_resnet20", *args, "--lr", "1e6", "--device", "cpu", "--save", str(save), "--json")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: TrainingError: training loss exploded to ")
    assert "in epoch 1 (more than 10 x ln(10 classes) = 23, 10 times a uniform guess's loss)" in lines[0]
    assert "try a lower --lr than 1e+06" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_help_has_examples() -> None:
    result = invoke("train", "--help")
    assert result.exit_code == 0
    assert "cbam-bench train cifar_resnet20 --attention cbam --dataset digits-clutter" in result.stdout
