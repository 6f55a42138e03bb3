"""Search for detection: a `task: detection` space searched with the stand-in trainer (tests/
fake_training.py, detect_*) and once for real on a tiny digits-detect; report and export show the
mAPs; a key or score of the other task is bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import fake_training
import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from cbam_bench.cli.app import app
from cbam_bench.records import load_records
from cbam_bench.search.run import run_search
from cbam_bench.search.trainer import Trainer, default_trainer
from cbam_bench.space import load_space
from cbam_bench.spec import ArchSpec

runner = CliRunner()
# Three candidates (none; CBAM in stage 4 or everywhere) of a ResNet-18 detector at width 1/4 on 32 px.
SPACE = """
task: detection
backbone: resnet18
dataset: digits-detect
objectives: [map:max, macs:min]
sampler: grid
early_stop: false
latency: {warmup: 0, repeats: 2}
train: {epochs: 2, image_size: 32, train_images: 8, val_images: 4, batch_size: 4, warmup_steps: 1}
params:
  backbone.width: 0.25
  attention.kind: [none, cbam]
  placement.stages: [[4], [1, 2, 3, 4]]
"""
FAKE = Trainer(fake_training.detect_train, fake_training.detect_fit_arch, fake_training.detect_dataset_info)


def _space(tmp_path: Path, text: str = SPACE) -> Path:
    path = tmp_path / "det.yaml"
    path.write_text(text)
    return path


# The stand-in study's three detectors are each counted (traced) and timed beside their plain
# twin before the stand-in "trains" them: ~8 s in all on two loaded cores, so its tests are slow.
SLOW = pytest.mark.slow


@pytest.fixture(scope="module")
def fake_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[optuna.Study, str]:
    tmp = tmp_path_factory.mktemp("det")
    storage = f"sqlite:///{tmp / 'db.sqlite'}"
    return run_search(load_space(_space(tmp)), storage=storage, trainer=FAKE, keep_weights="none"), storage


@SLOW
def test_a_detection_trial_stores_the_mean_maps_every_seeds_and_the_map_curve(fake_study) -> None:
    study, _ = fake_study
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 3 and study.metric_names == ["map", "macs"] and study.user_attrs["task"] == "detection"
    for t in done:
        arch = ArchSpec.from_dict(t.user_attrs["arch"])
        assert (arch.num_classes, arch.in_channels, arch.input_size) == (10, 1, 32)
        final = fake_training.final_map(arch, 0)
        assert t.user_attrs["map"] == pytest.approx(final)
        assert t.user_attrs["map50"] == pytest.approx(final + 0.2)
        assert t.user_attrs["seed_maps"] == {"map": [pytest.approx(final)], "map50": [pytest.approx(final + 0.2)]}
        assert t.user_attrs["curve"] == [pytest.approx(final / 2), pytest.approx(final)]  # val mAP per epoch
        assert t.values == [t.user_attrs["map"], t.user_attrs["macs"]]
        assert "accuracy" not in t.user_attrs


@SLOW
def test_detection_cheap_measures_count_the_whole_detector(fake_study) -> None:
    """MACs and params are the detector's (profile --task detection), not the classifier's."""
    from cbam_bench.detection.cost import profile_detector

    study, _ = fake_study
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        arch = ArchSpec.from_dict(t.user_attrs["arch"])
        cost = profile_detector(arch, (32, 32), 10)["total"]
        assert (t.user_attrs["params"], t.user_attrs["macs"]) == (cost.params, cost.macs)
        assert t.user_attrs["latency_ratio"] > 0 and t.user_attrs["latency_setup"]["batch"] == 1


@SLOW
def test_report_and_export_of_a_detection_study_show_map_and_map50(fake_study, tmp_path: Path) -> None:
    study, storage = fake_study
    name = study.study_name
    assert load_records(storage, name).task == "detection"
    env = {"COLUMNS": "120"}
    shown = runner.invoke(app, ["report", name, "--storage", storage], env=env)
    assert shown.exit_code == 0, shown.output
    assert "mAP (%)" in shown.stdout and "mAP@.5 (%)" in shown.stdout and "Acc." not in shown.stdout
    doc = json.loads(runner.invoke(app, ["report", name, "--storage", storage, "--json"], env=env).stdout)
    best = max(study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: t.user_attrs["map"])
    assert doc["front"][0]["map"] == pytest.approx(best.user_attrs["map"])
    assert doc["front"][0]["map50"] == pytest.approx(best.user_attrs["map50"])
    out = tmp_path / "det.csv"
    assert runner.invoke(app, ["export", name, "--storage", storage, "-o", str(out)], env=env).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert sorted(float(r["map"]) for r in rows) == pytest.approx(sorted(t.user_attrs["map"] for t in study.trials))
    md = tmp_path / "det.md"
    assert runner.invoke(app, ["export", name, "--storage", storage, "-f", "md", "-o", str(md)], env=env).exit_code == 0
    header = md.read_text().splitlines()[0]
    assert "mAP (%)" in header and "mAP@.5 (%)" in header and "Acc." not in header


@pytest.mark.slow
def test_a_detection_study_trains_for_real_on_a_tiny_digits_detect(tmp_path: Path) -> None:
    """The real trainer (detection.contract): one epoch on 8 canvases, COCOeval on 4; slow (~10 s:
    two detectors, each trained and scored)."""
    text = SPACE.replace("epochs: 2", "epochs: 1").replace(
        "placement.stages: [[4], [1, 2, 3, 4]]", "placement.stages: [4]"
    )
    text += "  # none and CBAM in stage 4\n"
    study = run_search(
        load_space(_space(tmp_path, text)),
        storage=f"sqlite:///{tmp_path / 'db.sqlite'}",
        trainer=default_trainer("detection"),
        device="cpu",
        keep_weights="none",
    )
    done = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(done) == 2
    for t in done:
        assert 0.0 <= t.user_attrs["map"] <= t.user_attrs["map50"] <= 1.0
        assert t.user_attrs["curve"] == [pytest.approx(t.user_attrs["map"])]
        assert t.user_attrs["epochs"] == 1 and t.user_attrs["images_per_s"] > 0


def _search(tmp_path: Path, text: str, *args: str):
    env = {"COLUMNS": "200", "CBAM_BENCH_TRAINER": "fake_training"}
    path = _space(tmp_path, text)
    storage = tmp_path / "db.sqlite"
    result = runner.invoke(app, ["search", str(path), "--storage", f"sqlite:///{storage}", *args], env=env)
    return result, path, storage


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            ("objectives: [map:max, macs:min]", "objectives: [accuracy:max, macs:min]"),
            "objectives: 'accuracy' is a classification score, not one a detection space measures; allowed: map, "
            "map50, macs, params, latency_ms, latency_ratio, elementwise_ops",
        ),
        (
            ("batch_size: 4,", "batch_size: 4, label_smoothing: 0.1,"),
            "train.label_smoothing: applies to classification only, not to a detection space; allowed: ",
        ),
        (
            ("backbone: resnet18", "backbone: mobilenet_v1"),
            "backbone: 'mobilenet_v1' is not allowed in a detection space; allowed: a ResNet or ResNeXt backbone",
        ),
        (
            ("dataset: digits-detect", "dataset: digits-clutter"),
            "dataset: 'digits-clutter' is not allowed; allowed: digits-detect, coco:PATH",
        ),
        (
            ("task: detection", "task: segmentation"),
            "task: 'segmentation' is not allowed; allowed: classification, detection",
        ),
    ],
)
def test_a_key_or_score_of_the_other_task_is_bad_input(tmp_path: Path, change: tuple[str, str], line: str) -> None:
    result, path, storage = _search(tmp_path, SPACE.replace(*change))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(f"error: {path}: {line}")
    assert len(result.stderr.strip().splitlines()) <= 2  # the line, and at most a hint
    assert not storage.exists()


def test_a_detection_score_in_a_classification_space_is_bad_input(tmp_path: Path) -> None:
    text = "backbone: cifar_resnet20\nobjectives: [map50:max]\nparams:\n  attention.kind: [none, se]\n"
    result, path, storage = _search(tmp_path, text)
    assert result.exit_code == 2
    assert f"{path}: objectives: 'map50' is a detection score, not one a classification space measures" in result.stderr
    assert not storage.exists()
    result, path, storage = _search(tmp_path, text.replace("map50:max", "accuracy:max") + "train: {warmup_steps: 5}\n")
    assert result.exit_code == 2
    assert f"{path}: train.warmup_steps: applies to detection only, not to a classification space" in result.stderr


def test_an_option_of_classification_training_is_refused_for_a_detection_space(tmp_path: Path) -> None:
    result, path, storage = _search(tmp_path, SPACE, "--fused", "off")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"error: --fused: does not apply to a detection space ({path}: task)")
    assert not storage.exists()


@SLOW
def test_compare_reads_a_detection_study_by_map_against_its_no_attention_trial(fake_study) -> None:
    study, storage = fake_study
    result = runner.invoke(app, ["compare", study.study_name, "--storage", storage, "--json"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    by_kind = {ArchSpec.from_dict(t.user_attrs["arch"]).attention.kind: t for t in study.trials}
    base = [r for r in rows if r["is_baseline"]]
    assert [r["map"] for r in base] == [pytest.approx(by_kind["none"].user_attrs["map"])]
    for row in rows:
        if not row["is_baseline"]:
            assert row["delta"]["map"] == pytest.approx(row["map"] - base[0]["map"]) and "accuracy" not in row["delta"]
    table = runner.invoke(app, ["compare", study.study_name, "--storage", storage], env={"COLUMNS": "120"})
    assert "Δ mAP (pp)" in table.stdout and "Acc." not in table.stdout


@SLOW
def test_confirm_retrains_detection_members_by_map(fake_study) -> None:
    from cbam_bench.search.confirm import run_confirm

    study, storage = fake_study
    confirmation = run_confirm(storage, study.study_name, top=1, epochs=1, seeds=2, trainer=FAKE)
    assert confirmation.confirmed
    for member in confirmation.confirmed:
        arch = ArchSpec.from_dict(member.trial.arch)
        assert member.runs == {s: pytest.approx(fake_training.final_map(arch, s)) for s in (0, 1)}


@SLOW
def test_train_from_a_detection_trial_is_refused_naming_the_study(fake_study) -> None:
    study, storage = fake_study
    ref = f"{study.study_name}:0"
    result = runner.invoke(app, ["train", "--from-trial", ref, "--storage", storage], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(
        f"error: --from-trial: study {study.study_name!r} is a detection study; train retrains classifiers"
    )
