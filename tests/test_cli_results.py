"""`report`, `compare` and `export` through typer's CliRunner: JSON contracts, files and exit codes."""

from __future__ import annotations

import csv
import json
import re

import pytest
from synthetic_studies import MIXED, Fake, make_study
from typer.testing import CliRunner

from cbam_bench.cli.app import app

runner = CliRunner()
T_975_DF4 = 2.7764451


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'studies.db'}"
    make_study(MIXED, storage=url, name="mixed", budgets={"latency_ms": 5.0})
    make_study(
        [
            Fake(accuracy=0.9, macs=40e6),
            Fake(accuracy=0.8, macs=20e6),
            Fake(accuracy=0.85, macs=45e6),
            Fake(status="pruned"),
            Fake(status="infeasible", macs=60e6),
            Fake(accuracy=0.9, macs=40e6, reused_from=0),
        ],
        storage=url,
        name="two",
        objectives=("accuracy:max", "macs:min"),
        budgets={"macs": 50e6},
    )
    make_study(
        [
            Fake(kind="none", accuracy=0.8, latency_ms=3.0),
            Fake(accuracy=0.9, latency_ms=2.0, latency_ratio=1.6),
            Fake(kind="se", accuracy=0.85, latency_ms=4.0, latency_ratio=1.1),
        ],
        storage=url,
        name="ratio",
        objectives=("accuracy:max", "latency_ratio:min"),
    )
    return url


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def one_line_error(result, needle: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


# --- report -----------------------------------------------------------------------------------


def test_report_json_contract(db) -> None:
    result = invoke("report", "two", "--storage", db, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [item["trial"] for item in doc["front"]] == [0, 1]
    assert doc["front"][0]["accuracy"] == 0.9 and doc["front"][0]["macs"] == 40_000_000
    assert doc["front"][0]["arch"]["attention"]["kind"] == "cbam" and doc["front"][0]["rank"] == 1
    assert doc["counts"] == {
        "total": 6,
        "complete": 3,
        "reused": 1,
        "infeasible": 1,
        "pruned": 1,
        "failed": 0,
        "duplicate": 0,
        "running": 0,
    }
    # 0.9 * (50M - 40M) + 0.8 * (40M - 20M) against the study's MACs budget and accuracy 0.
    assert doc["hypervolume"] == {
        "value": pytest.approx(25e6),
        "reference_point": {"accuracy": 0.0, "macs": 50e6},
        "normalized": pytest.approx(0.5),
    }
    assert doc["knee"] == 0
    assert doc["pick"] is None and doc["budgets"] == {}
    assert "trials" not in doc
    assert "multiply-adds" in doc["conventions"]["macs"]


def test_report_budget_pick_reference_override_and_all(db) -> None:
    result = invoke(
        "report",
        "mixed",
        "--storage",
        db,
        "--json",
        "--all",
        "--budget",
        "latency_ms=1.5",
        "--budget",
        "params=300K",
        "--ref",
        "latency_ms=10",
    )
    doc = json.loads(result.stdout)
    assert doc["pick"]["trial"] == 1 and doc["budgets"] == {"latency_ms": 1.5, "params": 300e3}
    assert doc["hypervolume"]["reference_point"] == {
        "accuracy": 0.0,
        "macs": pytest.approx(40.3e6 * 1.1),
        "latency_ms": 10.0,
    }
    assert [(t["trial"], t["status"], t["rank"]) for t in doc["trials"]] == [
        (0, "complete", 1),
        (1, "complete", 1),
        (2, "complete", 1),
        (3, "complete", 2),
        (4, "infeasible", None),
        (5, "pruned", None),
        (6, "failed", None),
    ]


def test_report_all_lists_a_reused_trial_without_a_rank(db) -> None:
    doc = json.loads(invoke("report", "two", "--storage", db, "--json", "--all").stdout)
    reused = doc["trials"][5]
    assert (reused["status"], reused["rank"], reused["reused_from"]) == ("reused", None, 0)
    assert [item["trial"] for item in doc["front"]] == [0, 1]


def test_report_tables_name_units_and_conventions(db) -> None:
    result = invoke("report", "mixed", "--storage", db, "--budget", "latency_ms=1.5")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Pareto front of mixed (accuracy:max, macs:min, latency_ms:min): 3 of 4 complete trials" in out
    for needle in (
        "Acc. (%)",
        "MACs (M)",
        "Latency (ms)",
        "88.00 ± 1.00",
        "MACs in M: multiply-adds of convolution and linear layers",
        "Latency in ms: median of timed forward passes of one batch, under the trial's latency set-up",
        "(latency_setup: device, threads, batch, dtype), not the training device; here: cpu, 1 thread, batch 1,",
        "Trials: 4 complete, 0 reused (same network as an earlier trial), 1 over budget (never trained), 1 pruned, 1 failed",
        "reference point: accuracy 0.00%",
        "Knee: trial 1 (se avg r16)",
        "Within latency_ms <= 1.5 ms: trial 1 (se avg r16) is the most accurate",
    ):
        assert needle in " ".join(out.split()), needle  # wherever the caption wraps
    assert "Elem. ops" not in out  # not an objective here: left to the exports


def test_latency_ratio_stands_in_for_latency_and_the_table_fits_80_columns(db) -> None:
    result = runner.invoke(app, ["report", "ratio", "--storage", db], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        "Lat. ratio" in out and "Latency (ms)" not in out and max(len(line.rstrip()) for line in out.splitlines()) <= 80
    )
    # Drift between trials made the no-attention network look slower than CBAM in ms; the ratio puts
    # it where it belongs, so all three are on the front (accuracy up, ratio up).
    assert "3 of 3 complete trials" in out and "Lat. ratio: median latency over that of the same network" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"[0-9] ", line)]
    assert [(row[0], row[1], row[-1]) for row in rows] == [
        ("1", "cbam", "1.60"),
        ("2", "se", "knee"),
        ("0", "none", "1.00"),
    ]
    assert rows[1][-2] == "1.10"


def test_report_plot_writes_a_png(db, tmp_path) -> None:
    path = tmp_path / "front.png"
    result = invoke("report", "mixed", "--storage", db, "--plot", str(path), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["plot"] == str(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_missing_study_lists_the_studies_there(db) -> None:
    line = one_line_error(invoke("report", "mixd", "--storage", db), "study 'mixd' not found")
    assert line.endswith("(did you mean 'mixed'?); studies there: mixed, ratio, two")


def test_report_on_a_missing_database_creates_nothing(tmp_path) -> None:
    one_line_error(invoke("report", "x", "--storage", f"sqlite:///{tmp_path / 'no.db'}"), "no studies there yet")
    assert list(tmp_path.iterdir()) == []


BUDGET_HINT = (
    "allowed: METRIC=NUMBER with METRIC one of params, macs, elementwise_ops, latency_ms, latency_p90_ms, latency_ratio"
)


@pytest.mark.parametrize(
    "value, needle",
    [
        ("foo=1", "--budget: 'foo=1' is not allowed; " + BUDGET_HINT),
        ("latency=5", "--budget: 'latency=5' is not allowed (did you mean 'latency_ms'?); " + BUDGET_HINT),
        ("latency_ms=abc", "--budget latency_ms: 'abc' is not a number; " + BUDGET_HINT),
        ("latency_ms", "--budget: 'latency_ms' has no value; " + BUDGET_HINT),
        ("params=-3", "--budget params: '-3' is not allowed; " + BUDGET_HINT),
    ],
)
def test_bad_budgets_are_one_line_and_write_nothing(db, tmp_path, value, needle) -> None:
    plot = tmp_path / "p.png"
    one_line_error(invoke("report", "mixed", "--storage", db, "--budget", value, "--plot", str(plot)), needle)
    assert not plot.exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--plot", "front.svg"], "--plot: 'front.svg' is not allowed; allowed: a file name ending in .png"),
        (["--plot", "nowhere/front.png"], "--plot: folder 'nowhere' does not exist"),
        (["--ref", "top5=0.5"], "--ref top5: not an objective of study 'mixed'; allowed: accuracy, macs, latency_ms"),
        (["--storage", "results.db"], "--storage: 'results.db' is not a database URL"),
    ],
)
def test_other_bad_report_options(db, args, needle) -> None:
    storage = [] if "--storage" in args else ["--storage", db]
    one_line_error(invoke("report", "mixed", *storage, *args), needle)


# --- compare ----------------------------------------------------------------------------------


def test_compare_a_front_against_the_no_attention_trial(db) -> None:
    result = invoke("compare", "mixed", "--storage", db, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    assert [(r["trial"], r["is_baseline"], r["baseline"]) for r in rows] == [
        (0, True, None),
        (2, False, "mixed:0"),
        (1, False, "mixed:0"),
    ]
    cbam = rows[1]
    assert cbam["delta"]["accuracy"] == pytest.approx(0.08)
    assert cbam["delta"]["macs_pct"] == pytest.approx(0.5)
    assert cbam["delta"]["params_pct"] == pytest.approx(600 / 270)
    # Timed alternately with the plain network, CBAM took 1.6 times as long (2.0 against 1.0 ms in
    # medians timed apart): the change is the ratio's.
    assert cbam["delta"]["latency_pct"] == pytest.approx(60.0) and cbam["latency_from"] == "latency_ratio"
    # Both sides: 3 seeds with sd 0.01, so se = sqrt(2 * 0.0001 / 3) and df = 4.
    half = T_975_DF4 * (2 * 0.0001 / 3) ** 0.5
    ci = cbam["ci95"]
    assert (ci["low"], ci["high"]) == (pytest.approx(0.08 - half), pytest.approx(0.08 + half))
    assert ci["df"] == pytest.approx(4) and ci["excludes_zero"] is True and ci["method"] == "welch-t"
    assert cbam["ci_source"] == "seed_accuracies"


def test_compare_single_trials_with_a_named_baseline(db) -> None:
    result = invoke("compare", "mixed:2", "two:0", "--baseline", "mixed:1", "--storage", db, "--json")
    rows = json.loads(result.stdout)["rows"]
    assert [(r["study"], r["trial"], r["baseline"]) for r in rows] == [
        ("mixed", 1, None),
        ("mixed", 2, "mixed:1"),
        ("two", 0, "mixed:1"),
    ]
    assert rows[2]["ci95"] is None  # one seed in study two
    assert rows[2]["delta"]["accuracy"] == pytest.approx(0.05)


def test_compare_table_drops_interval_columns_without_seeds(db) -> None:
    result = invoke("compare", "two", "--storage", db, "--baseline", "two:1")
    assert result.exit_code == 0, result.output
    assert "CI95" not in result.stdout and "One seed per trial: no confidence interval" in result.stdout


def test_compare_table(db) -> None:
    result = invoke("compare", "mixed", "--storage", db)
    assert result.exit_code == 0, result.output
    for needle in (
        "Comparison against baseline mixed:0",
        "+8.00",
        "[+5.73, +10.27]",
        "40.20",
        "(+0.5%)",
        "Lat. ratio",  # every row's latency change comes from the ratios, so the column shows them
        "(+60.0%)",
        "95% Welch t interval of Δ acc from per-seed accuracies",
        "here: cpu, 1 thread, batch 1, float32",
    ):
        assert needle in result.stdout, needle


@pytest.mark.parametrize(
    "args, needle",
    [
        (["mixed:9"], "mixed:9: study 'mixed' has no trial 9; trials there: 0-6"),
        (["mixed:5"], "mixed:5: trial 5 is pruned; allowed: complete trials within budget"),
        (
            ["two:5"],
            "two:5: trial 5 reused the measures of trial 0 (the same network); "
            "allowed: complete trials within budget, here two:0",
        ),
        (["mixed:2", "--baseline", "mixed"], "--baseline: 'mixed' is not allowed; allowed: a stored trial as STUDY:N"),
        (["two"], "no no-attention trial of cifar_resnet20 in two; allowed: name a baseline with --baseline STUDY:N"),
        (["nope:1"], "study 'nope' not found"),
    ],
)
def test_compare_errors(db, args, needle) -> None:
    one_line_error(invoke("compare", *args, "--storage", db), needle)


# --- export -----------------------------------------------------------------------------------


def test_export_writes_the_file_and_says_so(db, tmp_path) -> None:
    out = tmp_path / "mixed.csv"
    result = invoke("export", "mixed", "--format", "csv", "--out", str(out), "--storage", db)
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and f"wrote {out}: csv, 7 trials" in result.stderr
    assert len(list(csv.DictReader(out.open()))) == 7
    front = tmp_path / "front.tex"
    result = invoke("export", "mixed", "-f", "latex", "-o", str(front), "--front", "--storage", db)
    assert result.exit_code == 0 and front.read_text().count(" \\\\\n") == 4  # header + 3 front rows


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--format", "xlsx", "--out", "OUT"], "--format: 'xlsx' is not allowed; allowed: csv, json, md, latex"),
        (["--format", "md"], "--out: missing; allowed: a file path"),
        (["--out", "nowhere/x.csv"], "--out: folder 'nowhere' does not exist"),
    ],
)
def test_export_errors_write_nothing(db, tmp_path, args, needle) -> None:
    args = [str(tmp_path / "x.csv") if a == "OUT" else a for a in args]
    one_line_error(invoke("export", "mixed", "--storage", db, *args), needle)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command, example",
    [
        ("report", "cbam-bench report default --budget latency_ms=5"),
        ("compare", "cbam-bench compare default:12 default:7 placement"),
        ("export", "cbam-bench export default --format csv --out results/default.csv"),
    ],
)
def test_help_has_examples(command, example) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0 and example in result.stdout
