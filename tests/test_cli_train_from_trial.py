"""`cbam-bench train --from-trial STUDY:N`: the stored network and recipe, overrides, re-fitting, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from PIL import Image
from typer.testing import CliRunner

from cbam_bench.checkpoint import load_checkpoint, read_checkpoint
from cbam_bench.cli.app import app
from tests.synthetic_studies import TINY_ARCH, TINY_RECIPE, Fake, make_study, stored_recipe

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A study whose trials hold a real candidate fitted to digits-clutter; the tests only read it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('from-trial') / 'studies.db'}"
    study = make_study(
        [
            Fake(kind="none", accuracy=0.80),  # 0
            Fake(kind="cbam", accuracy=0.88, arch=TINY_ARCH, seed_accuracies=(0.87, 0.88, 0.89)),  # 1
            Fake(kind="cbam", accuracy=0.88, arch=TINY_ARCH, reused_from=1),  # 2
        ],
        storage=url,
        name="tiny",
        train=stored_recipe(TINY_RECIPE),
    )
    study.add_trial(
        optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "OSError: disk full"})
    )  # 3
    return url


def from_trial(storage: str, ref: str, *args: str):
    return invoke("train", "--from-trial", ref, "--storage", storage, "--device", "cpu", *args)


def test_the_stored_network_is_retrained_with_the_studys_recipe(storage: str, tmp_path: Path) -> None:
    save = tmp_path / "confirmed.pt"
    result = from_trial(storage, "tiny:1", "--save", str(save), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["archid"] == TINY_ARCH.archid and doc["arch"] == TINY_ARCH.to_dict()
    assert doc["train"] == {**TINY_RECIPE.to_dict(), "device": "cpu"}
    assert doc["from_trial"] == {
        "study": "tiny",
        "trial": 1,
        "requested": 1,
        "storage": storage,
        "status": "complete",
        "stored_accuracy": pytest.approx(0.88),
        "stored_epochs": 1,
        "stored_seeds": 3,
        "stored_archid": TINY_ARCH.archid,
        "stored_dataset": "digits-clutter",
        "notes": [],
        "refitted": False,
        "weights_from_trial": False,
    }
    assert [h["epoch"] for h in doc["history"]] == [1] and 0 <= doc["accuracy"] <= 1
    assert result.stderr == ""  # a complete trial needs no note
    # The checkpoint rebuilds the same network and remembers which trial it confirms.
    _, arch, _ = load_checkpoint(save)
    assert arch == TINY_ARCH and read_checkpoint(save)["metrics"]["from_trial"]["trial"] == 1


def test_options_given_override_the_stored_recipe_and_nothing_else(storage: str) -> None:
    result = from_trial(storage, "tiny:1", "--lr", "0.1", "--seed", "7", "--batch-size", "16", "--json")
    assert result.exit_code == 0, result.output
    train = json.loads(result.stdout)["train"]
    assert (train["lr"], train["seed"], train["batch_size"]) == (0.1, 7, 16)
    # Everything not given is the study's, not TrainSpec's defaults.
    for key in ("epochs", "weight_decay", "image_size", "train_images", "val_images", "dataset"):
        assert train[key] == getattr(TINY_RECIPE, key), key


REAL_SPACE = """
name: real-tiny
backbone: cifar_resnet20
objectives: [accuracy:max, macs:min]
trials: 1
latency: {warmup: 0, repeats: 2}
train: {epochs: 1, batch_size: 32, train_images: 128, val_images: 64, image_size: 16}
params:
  attention.kind: [cbam]
"""


def test_a_searched_trial_retrained_with_its_recipe_reproduces_its_stored_accuracy(tmp_path: Path) -> None:
    """The round trip through a real search: on the CPU the same recipe and seed give the same bits."""
    from cbam_bench.search import run_search
    from cbam_bench.space import load_space

    (tmp_path / "space.yaml").write_text(REAL_SPACE)
    url = f"sqlite:///{tmp_path / 'search.db'}"
    study = run_search(load_space(tmp_path / "space.yaml"), storage=url, device="cpu", heartbeat_s=2)
    searched = study.trials[0].user_attrs
    result = from_trial(url, "real-tiny:0", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["archid"] == searched["archid"] and doc["arch"] == searched["arch"]
    assert doc["accuracy"] == searched["accuracy"] == doc["from_trial"]["stored_accuracy"]
    assert doc["test_accuracy"] == searched["test_accuracy"] and doc["from_trial"]["stored_epochs"] == 1


def _write_image_folder(root: Path) -> None:
    """Three colour classes of RGB PNGs, four per class in train/ (at least MIN_TRAIN_IMAGES in all) and one in val/."""
    for split, count in (("train", 4), ("val", 1)):
        for name, colour in (("red", (220, 0, 0)), ("green", (0, 220, 0)), ("blue", (0, 0, 220))):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(np.full((10, 10, 3), colour, dtype=np.uint8)).save(folder / f"{i}.png")


def test_another_dataset_refits_the_network_and_keeps_its_attention(storage: str, tmp_path: Path) -> None:
    _write_image_folder(tmp_path / "colours")
    result = from_trial(
        storage,
        "tiny:1",
        "--dataset",
        f"imagefolder:{tmp_path / 'colours'}",
        "--image-size",
        "12",
        "--data-dir",
        str(tmp_path / "cache"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    arch = doc["arch"]
    assert (arch["num_classes"], arch["in_channels"], arch["input_size"]) == (3, 3, 12)
    assert TINY_ARCH.num_classes == 10 and TINY_ARCH.in_channels == 1  # digits-clutter's, before
    assert (
        arch["attention"] == TINY_ARCH.to_dict()["attention"] and arch["placement"] == TINY_ARCH.to_dict()["placement"]
    )
    assert arch["backbone"] == "cifar_resnet20" and arch["width"] == TINY_ARCH.width
    assert doc["archid"] != TINY_ARCH.archid and doc["from_trial"]["refitted"] is True
    # The digits-clutter split sizes do not follow the recipe to another dataset; the rest does.
    assert (doc["train"]["train_images"], doc["train"]["val_images"]) == (None, None)
    assert (doc["train"]["lr"], doc["train"]["weight_decay"]) == (TINY_RECIPE.lr, TINY_RECIPE.weight_decay)


def test_a_reused_trial_retrains_its_original_and_says_so(storage: str) -> None:
    result = from_trial(storage, "tiny:2", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)["from_trial"]
    assert (doc["trial"], doc["requested"]) == (1, 2)
    assert result.stderr.strip() == "note: tiny:2 reused the measures of trial 1 (the same network); retraining tiny:1"


def test_the_table_sets_the_stored_accuracy_beside_the_new_one(storage: str) -> None:
    result = from_trial(storage, "tiny:1")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "this run" in line)
    assert "stored tiny:1" in header
    row = next(line for line in result.stdout.splitlines() if "accuracy (val top-1)" in line)
    assert row.rstrip("│ ").endswith("88.00%")
    text = " ".join(result.stdout.split())  # notes wrap at the terminal's width
    assert "Stored on tiny:1 (complete, in " in text
    assert "): val top-1 88.00% after 1 epoch, mean of 3 seeds; this run " in text


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--from-trial", "tiny"],
            "error: --from-trial: 'tiny' is not allowed; allowed: STUDY:N, a stored trial such as default:12",
        ),
        (
            ["--from-trial", "tinny:1"],
            "error: study 'tinny' not found in {url} (did you mean 'tiny'?); studies there: tiny",
        ),
        (["--from-trial", "tiny:9"], "error: --from-trial: study 'tiny' has no trial 9; trials there: 0-3"),
        (
            ["--from-trial", "tiny:3"],
            "error: --from-trial: tiny:3 is failed and stores no architecture (no candidate was sampled)",
        ),
        (
            ["cifar_resnet20", "--from-trial", "tiny:1"],
            "error: MODEL: 'cifar_resnet20' is not allowed with --from-trial",
        ),
        (
            ["--from-trial", "tiny:1", "-a", "se", "--stages", "all"],
            "error: --attention, --stages: not allowed with --from-trial",
        ),
        (
            ["--from-trial", "tiny:1", "--epochs", "0"],
            "error: --epochs: 0 is not allowed; allowed: an integer in [1, 10000]",
        ),
        (
            ["--from-trial", "tiny:1", "--dataset", "cifar"],
            "error: --dataset: 'cifar' is not allowed (did you mean 'cifar10'?)",
        ),
        ([], "error: MODEL: missing; allowed: a backbone (resnet18, "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(storage: str, args: list[str], needle: str) -> None:
    result = invoke("train", *args, "--storage", storage)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(needle.format(url=storage)), lines


def test_a_missing_database_is_reported_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    result = invoke("train", "--from-trial", "tiny:1", "--storage", f"sqlite:///{path}")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: study 'tiny' not found in sqlite:///{path}; no studies there yet"
    assert not path.exists()


def test_help_shows_the_from_trial_example() -> None:
    result = invoke("train", "--help")
    assert result.exit_code == 0
    assert "cbam-bench train --from-trial default:12 --epochs 30" in result.stdout
