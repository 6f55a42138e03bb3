"""Bad files and paths are refused before training starts: one line naming the option, file or key,
exit 2, and nothing created or changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import resnet18 as tv_resnet18
from typer.testing import CliRunner

import cbam_bench.train
from cbam_bench.cli.app import app

runner = CliRunner()
QUICK = ["--epochs", "1", "--image-size", "16", "--device", "cpu"]


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root with its bytes: equal snapshots mean nothing was created or changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_refused(result, line: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [line]
    assert result.stdout == "" and "Traceback" not in result.output


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trainer must not be reached: a refusal comes first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(cbam_bench.train, "train_model", refuse)


class _RunsCode:
    """Unpickling this calls os.mkdir: what a malicious weights file would do with a worse function."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


# --- --save -------------------------------------------------------------------------------------


def test_save_under_a_file_is_refused_before_training(tmp_path: Path, no_training: None) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    before = snapshot(tmp_path)
    for target in (blocker / "model.pt", blocker / "deeper" / "model.pt"):
        result = invoke("train", "cifar_resnet20", *QUICK, "--save", str(target))
        assert_refused(
            result,
            f"error: --save: {str(target)!r}: {blocker} is not a folder; "
            "allowed: a path whose folders exist or can be created",
        )
    assert snapshot(tmp_path) == before


def test_save_into_a_folder_that_cannot_be_written_is_refused_before_training(no_training: None) -> None:
    # /proc/self refuses new files even to root, so this holds whoever runs the tests.
    result = invoke("train", "cifar_resnet20", *QUICK, "--save", "/proc/self/model.pt")
    assert_refused(
        result,
        "error: --save: '/proc/self/model.pt': cannot write into /proc/self; allowed: a file in a folder you can write",
    )


def test_save_onto_a_folder_is_refused_before_training(tmp_path: Path, no_training: None) -> None:
    result = invoke("train", "cifar_resnet20", *QUICK, "--save", str(tmp_path))
    assert_refused(result, f"error: --save: {str(tmp_path)!r} is a folder; allowed: a file path")
    assert list(tmp_path.iterdir()) == []


# --- image folders ------------------------------------------------------------------------------


def _image_folder(root: Path, classes: tuple[str, ...], per_class: int) -> Path:
    for split in ("train", "val"):
        for index, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = np.full((10, 10, 3), 40 * index + i, dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_an_image_folder_with_one_class_is_refused(tmp_path: Path, no_training: None) -> None:
    folder = _image_folder(tmp_path / "one", ("cat",), 20)
    before = snapshot(tmp_path)
    result = invoke(
        "train", "cifar_resnet20", *QUICK, "--dataset", f"imagefolder:{folder}", "--data-dir", str(tmp_path / "cache")
    )
    assert_refused(
        result,
        f"error: dataset imagefolder:{folder}: {folder / 'train'} has one class folder (cat); "
        "allowed: at least 2 class folders",
    )
    assert snapshot(tmp_path) == before and not (tmp_path / "cache").exists()


def test_an_image_folder_of_a_handful_of_images_is_refused_before_decoding(tmp_path: Path, no_training: None) -> None:
    folder = _image_folder(tmp_path / "few", ("cat", "dog"), 2)
    before = snapshot(tmp_path)
    result = invoke(
        "train", "cifar_resnet20", *QUICK, "--dataset", f"imagefolder:{folder}", "--data-dir", str(tmp_path / "cache")
    )
    assert_refused(
        result, f"error: dataset imagefolder:{folder}: {folder / 'train'} holds 4 images; allowed: at least 10"
    )
    assert snapshot(tmp_path) == before and not (tmp_path / "cache").exists()  # no decoded cache either


def test_a_batch_larger_than_the_training_set_warns_in_one_line_and_takes_the_whole_set() -> None:
    result = invoke(
        "train", "cifar_resnet20", "--width", "0.25", *QUICK, "--train-images", "16", "--batch-size", "64", "--json"
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "warning: --batch-size 64 is more than the 16 training images; each step trains on the whole set (batch 16)"
    ]
    run = json.loads(result.stdout)["run"]
    assert (run["batch_size"], run["train_images"], run["steps_per_epoch"]) == (16, 16, 1)


def test_a_batch_that_fits_gives_no_warning(no_training: None) -> None:
    # Reaching the (refusing) trainer means every check before it passed without a word.
    result = invoke("train", "cifar_resnet20", *QUICK, "--train-images", "64", "--batch-size", "64")
    assert result.exit_code == 1 and result.stderr.startswith("error: AssertionError: training started")
    assert "warning" not in result.stderr


# --- --weights ----------------------------------------------------------------------------------


def test_weights_with_a_value_that_is_not_a_tensor_name_the_first_such_key(tmp_path: Path) -> None:
    state = tv_resnet18().state_dict()
    keys = list(state)
    state[keys[4]], state[keys[9]] = 0.5, "zeros"
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    before = snapshot(tmp_path)
    result = invoke("profile", "resnet18", "--weights", str(path))
    assert_refused(
        result,
        f"error: --weights: {path}: {keys[4]!r} is of type float, not a tensor; "
        "allowed: a state_dict mapping parameter names to tensors",
    )
    assert snapshot(tmp_path) == before


def test_weights_holding_executable_objects_are_one_line_and_never_run(tmp_path: Path) -> None:
    path, marker, save = tmp_path / "evil.pth", tmp_path / "ran", tmp_path / "out.pt"
    torch.save({"conv1.weight": _RunsCode(marker)}, path)
    before = snapshot(tmp_path)
    result = invoke(
        "train", "cifar_resnet20", *QUICK, "--train-images", "64", "--weights", str(path), "--save", str(save)
    )
    assert_refused(
        result,
        f"error: --weights: {path}: not a weights-only checkpoint: it holds executable objects "
        f"({os.mkdir.__module__}.mkdir); refused",
    )
    assert not marker.exists() and not save.exists() and snapshot(tmp_path) == before


def test_debug_keeps_torchs_explanation_of_the_refusal(tmp_path: Path) -> None:
    path, marker = tmp_path / "evil.pth", tmp_path / "ran"
    torch.save({"conv1.weight": _RunsCode(marker)}, path)
    result = runner.invoke(app, ["--debug", "profile", "resnet18", "--weights", str(path)])
    assert result.exit_code != 0 and not marker.exists()
    assert "not a weights-only checkpoint" in str(result.exception)
    assert "Weights only load failed" in str(result.exception.__cause__)
