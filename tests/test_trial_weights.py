"""Trials keep their weights as Optuna artifacts: stored, kept over a resumed study, and read back by `inspect STUDY:N` and `train --from-trial --weights-from-trial`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import fake_training
import optuna
import pytest
import torch
from optuna.artifacts import get_all_artifact_meta
from typer.testing import CliRunner

from cbam_bench.checkpoint import load_checkpoint
from cbam_bench.cli.app import app
from cbam_bench.errors import SpecError
from cbam_bench.models.build import build_model
from cbam_bench.records import records_from_study
from cbam_bench.search.run import SearchObserver, run_search
from cbam_bench.search.trainer import Trainer
from cbam_bench.space import load_space
from cbam_bench.spec import ArchSpec
from cbam_bench.trial_weights import artifacts_folder

optuna.logging.set_verbosity(optuna.logging.WARNING)
# Slow: each study is a real search (params, MACs and latency measured on real networks) that
# uploads real weights; 2-4 s each on an idle 2-core machine, more when it is busy.
pytestmark = pytest.mark.slow
runner = CliRunner()
# Two trials over the space's three networks (a search never trains a network twice); a resumed
# study trains the third.
SPACE = """
backbone: cifar_resnet20
objectives: [accuracy:max, macs:min]
sampler: grid
trials: 2
latency: {warmup: 0, repeats: 2}
train: {epochs: 1, image_size: 16, train_images: 32, val_images: 24, batch_size: 16}
params:
  attention.kind: [none, se, cbam]
  backbone.width: [0.25]
"""


def initial_state(arch: ArchSpec, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return build_model(arch).state_dict()


TRAINED_SEED = 1000  # the "trained" weights: a build at another seed than any fresh start here


def train_with_state(arch: ArchSpec, spec: Any, *, on_epoch: Any = None) -> Any:
    """The fake trainer's result, with a real network's weights, unlike those it starts from."""
    result = fake_training.train(arch, spec, on_epoch=on_epoch)
    return dataclasses.replace(
        result, state=initial_state(fake_training.fit_arch(arch, spec), TRAINED_SEED + spec.seed)
    )


class Notes(SearchObserver):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


def search(folder: Path, trials: int = 2, **kwargs: Any) -> tuple[optuna.Study, Notes]:
    path = folder / "space.yaml"
    path.write_text(SPACE)
    notes = Notes()
    trainer = Trainer(train=train_with_state, fit_arch=fake_training.fit_arch, dataset_info=fake_training.dataset_info)
    study = run_search(
        load_space(path),
        trials=trials,
        storage=f"sqlite:///{folder / 'db.sqlite'}",
        study_name="w",
        trainer=trainer,
        observer=notes,
        **kwargs,
    )
    return study, notes


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, optuna.Study, Notes]:
    folder = tmp_path_factory.mktemp("weights")
    made, notes = search(folder)
    return folder, made, notes


def test_each_trained_trial_stores_its_first_seeds_weights(study) -> None:  # noqa: ANN001
    folder, made, notes = study
    records = {t.number: t for t in records_from_study(made).trials if t.status != "duplicate"}
    assert [records[n].status for n in (0, 1)] == ["complete", "complete"]
    first, second = (records[n].attrs for n in (0, 1))
    assert first.weights_artifact and second.weights_artifact and first.weights_artifact != second.weights_artifact
    # Optuna itself knows the artifact (optuna-dashboard lists it), in the folder beside the database.
    frozen = made.trials[0]
    assert [m.artifact_id for m in get_all_artifact_meta(frozen, storage=made._storage)] == [first.weights_artifact]
    stored = folder / "artifacts" / first.weights_artifact
    assert artifacts_folder(f"sqlite:///{folder / 'db.sqlite'}") == folder / "artifacts"
    assert stored.stat().st_size == first.weights_bytes
    # A plain weights-only load, and the rebuilt network holds exactly the trained weights.
    payload = torch.load(stored, weights_only=True)
    arch = ArchSpec.from_dict(payload["arch"])
    expected = initial_state(arch, TRAINED_SEED)
    assert set(payload["state_dict"]) == set(expected)
    assert all(torch.equal(payload["state_dict"][k], v) for k, v in expected.items())
    model, _, spec = load_checkpoint(stored)
    assert arch.archid == first.archid and spec.epochs == 1
    # The size is told once per run, not once per trial.
    sizes = [line for line in notes.lines if line.startswith("weights: ")]
    assert len(sizes) == 1 and "MB per trial" in sizes[0] and str(folder / "artifacts") in sizes[0]


def test_artifacts_survive_a_resumed_study(study, tmp_path: Path) -> None:  # noqa: ANN001
    folder, made, _ = study
    before = {t.number: t.user_attrs["weights_artifact"] for t in made.trials}
    resumed, _ = search(folder, trials=3)
    after = {t.number: t.user_attrs.get("weights_artifact") for t in resumed.trials}
    assert {n: after[n] for n in before} == before and len(after) == 3
    for artifact in set(after.values()):
        assert load_checkpoint(folder / "artifacts" / str(artifact))[1].archid


def test_keep_weights_none_stores_nothing_and_a_bad_value_is_refused_first(tmp_path: Path) -> None:
    made, notes = search(tmp_path, trials=2, keep_weights="none")
    assert all("weights_artifact" not in t.user_attrs for t in made.trials) and not (tmp_path / "artifacts").exists()
    assert not any(line.startswith("weights: ") for line in notes.lines)
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(SpecError, match=r"^--keep-weights: 'some' is not allowed; allowed: all, none$"):
        search(other, keep_weights="some")
    assert not (other / "db.sqlite").exists()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def test_inspect_reads_stored_trials_by_study_and_number(study) -> None:  # noqa: ANN001
    folder, made, _ = study
    url = f"sqlite:///{folder / 'db.sqlite'}"
    result = invoke("inspect", "w:0", "w:1", "--storage", url, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [n["summary"] for n in doc["networks"]] == [made.trials[n].user_attrs["summary"] for n in (0, 1)]
    assert doc["images"] == 24 and doc["chance"]["pointing"] == 0.25


def test_trials_without_weights_are_refused_in_one_line(tmp_path: Path) -> None:
    search(tmp_path, trials=1, keep_weights="none")
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    cases = {
        ("inspect", "w:0"): "w:0: the study stored no weights for this trial (it is complete)",
        ("inspect", "w:7"): "w:7: study 'w' has no trial 7; trials there: 0-0",
        ("inspect", "nosuch:0"): "study 'nosuch' not found",
        ("train", "--from-trial", "w:0", "--weights-from-trial"): "w:0: the study stored no weights",
        ("train", "cifar_resnet20", "--weights-from-trial"): "--weights-from-trial: needs --from-trial STUDY:N",
    }
    for args, message in cases.items():
        result = invoke(*args, "--storage", url)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], (args, result.output)


def test_train_from_trial_fine_tunes_from_the_stored_weights(study, tmp_path: Path) -> None:  # noqa: ANN001
    folder, made, _ = study
    url = f"sqlite:///{folder / 'db.sqlite'}"
    save = tmp_path / "tuned.pt"
    result = invoke(
        "train",
        "--from-trial",
        "w:1",
        "--weights-from-trial",
        "--storage",
        url,
        "--device",
        "cpu",
        "--lr",
        "1e-9",
        "--save",
        str(save),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["from_trial"]["weights_from_trial"] is True
    tuned = torch.load(save, weights_only=True)["state_dict"]
    start = torch.load(folder / "artifacts" / made.trials[1].user_attrs["weights_artifact"], weights_only=True)[
        "state_dict"
    ]
    assert tuned["conv1.weight"].shape == start["conv1.weight"].shape
    # At a learning rate of 1e-9 one epoch leaves the start's convolutions where they were.
    assert torch.allclose(tuned["layer3.2.conv2.weight"], start["layer3.2.conv2.weight"], atol=1e-6)
    # Training from scratch would have started here (the recipe's seed 0), far from the stored weights.
    fresh = initial_state(ArchSpec.from_dict(made.trials[1].user_attrs["arch"]), 0)
    assert not torch.allclose(tuned["layer3.2.conv2.weight"], fresh["layer3.2.conv2.weight"], atol=1e-3)
