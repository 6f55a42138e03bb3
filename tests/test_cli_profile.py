"""`cbam-bench profile` through typer's CliRunner: JSON contract, tables, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision.models import resnet18 as tv_resnet18
from typer.testing import CliRunner

from cbam_bench.cli.app import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def test_json_has_integer_params_and_macs_and_nothing_else_on_stdout() -> None:
    result = invoke("profile", "resnet50", "--attention", "cbam", "--stride-on", "1x1", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["params"] == 28_089_624
    assert isinstance(doc["macs"], int) and round(doc["macs"] / 1e9, 3) == 3.864
    assert doc["attention_modules"] == 16
    assert {
        "fvcore_flops",
        "elementwise_ops",
        "attention_params",
        "attention_macs",
        "conventions",
        "archid",
        "arch",
    } <= set(doc)
    assert doc["arch"]["attention"]["kind"] == "cbam"


def test_reference_paper_defaults_to_the_papers_stride_layout() -> None:
    result = invoke("profile", "resnet50", "--attention", "cbam", "--reference", "paper", "--json")
    ref = json.loads(result.stdout)["reference"]
    assert ref["row"] == "ResNet50 + CBAM" and ref["match"] is True
    assert ref["diff_params_m"] == 0 and ref["diff_gflops"] == 0
    assert ref["stride_on"] == "1x1"


def test_reference_paper_shows_the_difference_for_torchvision_layout() -> None:
    result = invoke("profile", "resnet50", "--reference", "paper", "--stride-on", "3x3", "--json")
    ref = json.loads(result.stdout)["reference"]
    assert ref["match"] is False and ref["gflops"] == 4.089 and ref["diff_gflops"] == pytest.approx(0.231)


def test_reference_table_is_printed_for_people() -> None:
    result = invoke("profile", "resnet18", "--attention", "se", "--width", "1.5", "--reference", "paper")
    assert result.exit_code == 0, result.output
    assert "WideResNet18 (widen=1.5) + SE" in result.stdout
    assert "matches the paper to the printed digit" in result.stdout
    assert "26.07" in result.stdout and "3.867" in result.stdout


def test_by_stage_json_rows_sum_to_total() -> None:
    result = invoke("profile", "cifar_resnet20", "--attention", "cbam", "--by", "stage", "--json")
    doc = json.loads(result.stdout)
    assert [r["name"] for r in doc["rows"]] == ["stage 1", "stage 2", "stage 3", "stem + head"]
    assert sum(r["params"] for r in doc["rows"]) == doc["params"]
    assert sum(r["elementwise_ops"] for r in doc["rows"]) == doc["elementwise_ops"]


def test_by_block_table_names_blocks() -> None:
    result = invoke("profile", "cifar_resnet20", "--attention", "eca", "--by", "block")
    assert result.exit_code == 0
    assert "layer3.2" in result.stdout and "By block" in result.stdout


def test_latency_is_reported_with_its_conditions() -> None:
    result = invoke("profile", "cifar_resnet20", "--latency", "--json")
    doc = json.loads(result.stdout)
    lat = doc["latency"]
    assert 0 < doc["latency_ms"] <= doc["latency_p90_ms"]
    assert (
        lat["batch"] == 1
        and lat["device"] == "cpu"
        and lat["threads"] >= 1
        and lat["torch_version"] == torch.__version__
    )


def test_latency_records_the_fused_mode_it_ran_under() -> None:
    off = json.loads(
        invoke("profile", "cifar_resnet20", "--attention", "cbam", "--latency", "--fused", "off", "--json").stdout
    )
    assert off["latency"]["fused"] == "off"
    text = invoke("profile", "cifar_resnet20", "--attention", "cbam", "--latency")
    assert "fused auto)" in text.stdout
    bare = json.loads(invoke("profile", "cifar_resnet20", "--latency", "--json").stdout)
    assert bare["latency"]["fused"] is None  # no CBAM module, no mode to record


def test_weights_option_checks_the_file(tmp_path) -> None:
    path = tmp_path / "r18.pth"
    torch.save(tv_resnet18().state_dict(), path)
    ok = invoke("profile", "resnet18", "--attention", "cbam", "--weights", str(path))
    assert ok.exit_code == 0 and "fits this backbone" in ok.stdout
    bad = invoke("profile", "resnet34", "--weights", str(path))
    assert bad.exit_code == 2 and "--weights" in bad.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (["profile", "resnet5"], "MODEL: 'resnet5' is not allowed (did you mean 'resnet50'?); allowed: resnet18"),
        (
            ["profile", "resnet50", "--attention", "cbma"],
            "--attention: 'cbma' is not allowed (did you mean 'cbam'?); allowed: none, se, eca, cbam, bam, coord",
        ),
        (["profile", "resnet50", "--kernel", "4"], "--kernel: 4 is not allowed; allowed: 3, 5, 7"),
        (
            ["profile", "resnet50", "--fused", "of"],
            "--fused: 'of' is not allowed (did you mean 'off'?); allowed: auto, on, off",
        ),
        (["profile", "resnet50", "--pooling", "avg,mx"], "--pooling: 'mx' is not allowed"),
        (["profile", "resnet50", "--stages", "5"], "--stages: 5 is out of range for resnet50; allowed: 1, 2, 3, 4"),
        (["profile", "resnet50", "--stages", "two"], "--stages: 'two' is not allowed"),
        (
            ["profile", "resnet50", "--blocks", "some"],
            "--blocks: 'some' is not allowed; allowed: all, first, last, every-K",
        ),
        (["profile", "resnet50", "--by", "layer"], "--by: 'layer' is not allowed; allowed: total, stage, block"),
        (["profile", "resnet50", "--reference", "timm"], "--reference: 'timm' is not allowed; allowed: paper"),
        (
            ["profile", "resnet50", "-a", "cbam", "-r", "8", "--reference", "paper"],
            "--reference paper: the paper has no row for this network",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert needle in lines[0]


def test_debug_shows_the_traceback() -> None:
    result = invoke("--debug", "profile", "resnet5")
    assert result.exit_code != 0
    assert result.exception is not None and "resnet5" in str(result.exception)


def test_help_has_examples() -> None:
    result = invoke("profile", "--help")
    assert result.exit_code == 0
    assert "cbam-bench profile resnet50 --attention cbam --reference paper" in result.stdout
