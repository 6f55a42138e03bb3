"""`cbam-bench ablate detection`: none / SE / CBAM detectors as a grid study with seeds, read back
with 95% intervals; the CLI with the stand-in trainer on a tiny backbone, the reading on hand-made
records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import fake_training
import pytest
from typer.testing import CliRunner

from cbam_bench.ablate import plan_ablation, tables_named
from cbam_bench.ablate_detection import DetectionAblation, match_detection_rows, verdict_lines
from cbam_bench.cli.app import app
from cbam_bench.detection.recipe import DetectSpec
from cbam_bench.errors import SpecError
from cbam_bench.metrics import Objective
from cbam_bench.paper import DETECTION_ROWS
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.report.ablation_detection import detection_ablation_table
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.trial_attrs import TrialAttrs

runner = CliRunner()
T_975_1 = 12.706204736  # Student's t, 97.5th percentile, one degree of freedom (two seeds)


def _trial(number: int, kind: str, maps: list[float]) -> TrialRecord:
    arch = ArchSpec("resnet18", width=0.5, attention=AttentionSpec(kind=kind))
    attrs = TrialAttrs(
        map=sum(maps) / len(maps),
        map50=sum(maps) / len(maps) + 0.2,
        seed_maps={"map": maps, "map50": [m + 0.2 for m in maps]},
        seeds=len(maps),
        arch=arch.to_dict(),
        archid=arch.archid,
        params=1000,
        macs=2000,
        latency_ms=1.5,
        feasible=True,
    )
    return TrialRecord(number, "complete", (attrs.map, 2000.0), attrs=attrs)


def test_rows_carry_each_seeds_map_and_a_t_interval_of_the_mean() -> None:
    study = StudyRecords(
        "paper-detection",
        (Objective("map", "max"), Objective("macs", "min")),
        (_trial(0, "none", [0.20, 0.22]), _trial(1, "cbam", [0.30, 0.34])),
        task="detection",
    )
    rows = match_detection_rows(study)
    assert [r.attention.kind for r in rows] == ["none", "se", "cbam"] and rows[1].trial is None
    iv = rows[2].interval("map")
    assert iv.mean == pytest.approx(0.32) and iv.high - iv.mean == pytest.approx(T_975_1 * 0.04 / 2)
    assert rows[2].interval("map50").mean == pytest.approx(0.52)
    # cbam - none = 0.11; Welch with equal n = 2: se = sqrt((0.02^2/2 + 0.04^2/2) / 2); df from Welch-Satterthwaite
    diff = rows[2].versus(rows[0])
    va, vb = 0.04**2 / 2 / 2, 0.02**2 / 2 / 2
    assert diff.estimate == pytest.approx(0.11) and diff.df == pytest.approx((va + vb) ** 2 / (va**2 + vb**2))
    assert verdict_lines(rows) == [
        "Row 2 (se): no complete trial yet.",
        f"cbam vs none: +11.00 mAP points [{100 * diff.low:+.2f}, {100 * diff.high:+.2f}], "
        f"{'resolved' if diff.excludes_zero else 'not resolved (includes 0)'}; the paper: +1.1.",
    ]


def test_the_detection_table_is_its_own_choice_and_plans_the_shipped_detection_space() -> None:
    assert tables_named("detection") == ("detection",)
    assert "detection" not in tables_named("all")  # "all" stays the paper's Tables 1-3
    plan = plan_ablation("detection", epochs=1, seeds=2)
    assert plan.space.task == "detection" and isinstance(plan.space.train, DetectSpec)
    assert plan.study == "paper-detection-1ep-2seeds" and plan.space.params["attention.kind"] == ("none", "se", "cbam")
    with pytest.raises(SpecError, match="--backbone: 'mobilenet_v1' is not allowed for the detection table"):
        plan_ablation("detection", backbone="mobilenet_v1")
    with pytest.raises(SpecError, match=r"^--dataset: 'digits-clutter' is not allowed; allowed: digits-detect"):
        plan_ablation("detection", dataset="digits-clutter")


def _invoke(tmp: Path, *args: str):
    env = {"COLUMNS": "160", "CBAM_BENCH_TRAINER": "fake_training"}
    return runner.invoke(app, ["ablate", *args, "--storage", f"sqlite:///{tmp / 'db.sqlite'}"], env=env)


@pytest.mark.slow
def test_ablate_detection_trains_every_row_with_its_seeds(tmp_path: Path) -> None:
    """With the stand-in trainer on cifar_resnet20 (3 detectors counted and timed: ~6 s, slow)."""
    result = _invoke(tmp_path, "detection", "--backbone", "cifar_resnet20", "--epochs", "1", "--seeds", "2", "--json")
    assert result.exit_code == 0, result.output
    (table,) = json.loads(result.stdout)["tables"]
    assert table["table"] == "detection" and table["study"] == "paper-detection-cifar_resnet20-1ep-2seeds"
    assert table["counts"]["complete"] == 3 and table["seeds"] == 2
    for row, (fields, paper) in zip(table["rows"], DETECTION_ROWS, strict=True):
        spec = DetectSpec(image_size=96)
        arch = fake_training.detect_fit_arch(
            ArchSpec("cifar_resnet20", width=0.5, attention=AttentionSpec(**fields)), spec
        )
        maps = [fake_training.final_map(arch, seed) for seed in (0, 1)]
        assert row["seed_maps"]["map"] == pytest.approx(maps) and row["paper_map"] == paper.map
        mean, half = sum(maps) / 2, T_975_1 * abs(maps[0] - maps[1]) / 2
        ci = row["map_ci95"]
        assert (ci["mean"], ci["low"], ci["high"]) == pytest.approx((mean, mean - half, mean + half))
        assert row["map50_ci95"]["mean"] == pytest.approx(mean + 0.2)
        assert row["params"] > 0 and row["macs"] > 0 and row["latency_ms"] > 0
        assert (row["map_vs_none_ci95"] is None) == (fields["kind"] == "none")
    shown = _invoke(tmp_path, "detection", "--backbone", "cifar_resnet20", "--epochs", "1", "--seeds", "2")
    assert shown.exit_code == 0 and "mAP@.5 (%)" in shown.stdout and "cbam vs none: " in shown.stdout


def test_ablate_detection_refuses_a_backbone_a_detector_cannot_take(tmp_path: Path) -> None:
    result = _invoke(tmp_path, "detection", "--backbone", "mobilenet_v2")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --backbone: 'mobilenet_v2' is not allowed for the detection table; allowed: a ResNet or ResNeXt backbone"
    )
    assert not (tmp_path / "db.sqlite").exists()


def test_the_table_renders_untrained_rows_as_dashes() -> None:
    study = StudyRecords("s", (Objective("map", "max"),), (_trial(0, "none", [0.25]),), task="detection")
    plan = plan_ablation("detection")
    table = detection_ablation_table(DetectionAblation(plan, study, tuple(match_detection_rows(study))))
    cells = [list(col.cells) for col in table.columns]
    assert cells[4] == ["25.00", "-", "-"]  # one seed: a mean without an interval
    assert cells[-1] == ["27.0", "-", "28.1"] and not math.isnan(float(cells[5][0]))
