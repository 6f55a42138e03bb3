"""`cbam-bench detect` through CliRunner: the JSON contract, re-scoring its saved files, one-line bad input."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cbam_bench.cli.app import app
from tests.test_coco_folder import write_coco

runner = CliRunner()
TINY = [
    "--width",
    "0.25",
    "--image-size",
    "32",
    "--train-images",
    "4",
    "--val-images",
    "3",
    "--epochs",
    "1",
    "--batch-size",
    "2",
    "--device",
    "cpu",
]


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def _pycocotools(gt: Path, dets: Path) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt))
        evaluator = COCOeval(coco, coco.loadRes(str(dets)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return list(evaluator.stats)


@pytest.mark.slow  # trains, scores two splits and times the detector: the end-to-end proof of the saved files
def test_detect_json_and_saved_files_rescore_to_the_same_map(tmp_path: Path) -> None:
    dets, gt, save = tmp_path / "dets.json", tmp_path / "gt.json", tmp_path / "det.pt"
    result = invoke(
        "detect",
        "resnet18",
        "--attention",
        "cbam",
        *TINY,
        "--json",
        "--save",
        str(save),
        "--save-detections",
        str(dets),
        "--save-annotations",
        str(gt),
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {
        "map",
        "map50",
        "map75",
        "map_small",
        "params",
        "macs",
        "latency_ms",
        "images_per_s",
        "parts",
        "test",
    } <= set(doc)
    assert set(doc["parts"]) == {"backbone", "fpn", "rpn", "heads"}
    assert doc["params"] == sum(p["params"] for p in doc["parts"].values())
    assert doc["attention_params"] == doc["parts"]["backbone"]["attention_params"] > 0
    truth = json.loads(gt.read_text())
    assert len(truth["images"]) == 3 and [c["name"] for c in truth["categories"]] == [str(d) for d in range(10)]
    assert json.loads(dets.read_text())  # an untrained detector still proposes boxes above the 0.01 score floor
    ours = [
        doc[k] if doc[k] is not None else -1.0
        for k in ("map", "map50", "map75", "map_small", "map_medium", "map_large")
    ]
    assert ours == _pycocotools(gt, dets)[:6]
    assert save.is_file()


def test_detect_trains_on_a_coco_folder(tmp_path: Path) -> None:
    root = write_coco(tmp_path / "coco", images=2)
    gt = tmp_path / "gt.json"
    result = invoke("detect", "resnet18", "--dataset", f"coco:{root}", *TINY, "--json", "--save-annotations", str(gt))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["test"] is None and doc["arch"]["in_channels"] == 3
    # The saved ground truth is the folder's own, in its images' pixels.
    source = json.loads((root / "annotations" / "instances_val.json").read_text())
    assert [a["bbox"] for a in json.loads(gt.read_text())["annotations"]] == [a["bbox"] for a in source["annotations"]]


def test_a_malformed_coco_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = write_coco(tmp_path / "coco", images=2)
    file = root / "annotations" / "instances_train.json"
    doc = json.loads(file.read_text())
    del doc["annotations"][1]["category_id"]
    file.write_text(json.dumps(doc))
    result = invoke("detect", "resnet18", "--dataset", f"coco:{root}", *TINY)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {file}: annotations[1].category_id is missing; allowed: an integer"
    ]


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            ["--dataset", "digits-clutter"],
            "error: --dataset: 'digits-clutter' is not allowed; allowed: digits-detect, coco:PATH",
        ),
        (["--epochs", "0"], "error: --epochs: 0 is not allowed; allowed: an integer in [1, 10000]"),
        (["--image-size", "16"], "error: --image-size: 16 is not allowed; allowed: an integer in [32, 4096]"),
        (["--lr", "nan"], "error: --lr: nan is not allowed; allowed: a finite number > 0"),
        (["--attention", "cbm"], "error: --attention: 'cbm' is not allowed"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, needle) -> None:
    result = invoke("detect", "resnet18", *args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(needle), lines


def test_a_backbone_without_stages_and_an_unwritable_output_are_refused(tmp_path: Path) -> None:
    result = invoke("detect", "mobilenet_v1")
    assert result.exit_code == 2 and "MODEL: 'mobilenet_v1' is not allowed for detection" in result.stderr
    result = invoke("detect", "resnet18", "--save-detections", str(tmp_path / "missing" / "d.json"))
    assert result.exit_code == 2 and "--save-detections: folder" in result.stderr
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("detect", "resnet18", "--save-annotations", str(tmp_path / "notes.txt"))
    assert result.exit_code == 2 and "exists and is not a JSON file" in result.stderr
