"""COCO mAP: ours is pycocotools' on the saved files, perfect boxes score 1, shifted ones as IoU says."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch

from cbam_bench.data.detection import ground_truth
from cbam_bench.detection.evaluate import coco_map

CATS = [{"id": 7, "name": "seven"}, {"id": 9, "name": "nine"}]


def _truth(boxes):
    """One 64 x 64 image holding `boxes` (x0, y0, x1, y1, category index 1..2)."""
    return ground_truth(
        torch.tensor([[b[:4] for b in boxes]]).numpy(),
        torch.tensor([[b[4] for b in boxes]]).numpy(),
        [(64, 64)],
        CATS,
        [1],
    )


def _det(x, y, w, h, category=7, score=0.9):
    return {"image_id": 1, "category_id": category, "bbox": [x, y, w, h], "score": score}


def iou(a, b):
    """IoU of two x, y, w, h boxes, by hand."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_perfect_detections_score_one():
    truth = _truth([(2, 3, 12, 13, 1), (30, 30, 50, 44, 2)])
    result = coco_map(truth, [_det(2, 3, 10, 10), _det(30, 30, 20, 14, category=9)])
    assert result["map"] == pytest.approx(1.0) and result["map50"] == pytest.approx(1.0)
    assert result["map75"] == pytest.approx(1.0) and result["map_small"] == pytest.approx(1.0)
    assert result["map_medium"] is None and result["map_large"] is None  # no object of those sizes


def test_a_shifted_box_scores_the_iou_thresholds_it_passes():
    """Shifted 2 px along x, a 10 x 10 box has IoU 80 / 120 = 2/3: it is a hit at IoU .50 ... .65 (4 of
    COCO's 10 thresholds) and a miss from .70, so mAP = 0.4, mAP@.5 = 1, mAP@.75 = 0."""
    truth = _truth([(0, 0, 10, 10, 1)])
    shifted = [2, 0, 10, 10]
    assert iou([0, 0, 10, 10], shifted) == pytest.approx(2 / 3)
    result = coco_map(truth, [_det(*shifted)])
    hits = sum(iou([0, 0, 10, 10], shifted) >= t for t in [0.5 + 0.05 * i for i in range(10)])
    assert hits == 4
    assert result["map"] == pytest.approx(hits / 10)
    assert result["map50"] == pytest.approx(1.0) and result["map75"] == pytest.approx(0.0)


def test_a_wrong_class_or_no_detection_scores_zero():
    truth = _truth([(0, 0, 10, 10, 1)])
    assert coco_map(truth, [_det(0, 0, 10, 10, category=9)])["map"] == pytest.approx(0.0)
    assert coco_map(truth, [])["map50"] == pytest.approx(0.0)


def test_a_false_positive_ranked_first_halves_the_precision_by_hand():
    """Two objects, three detections ranked hit (.9), miss (.8), hit (.7): precision at recall 1/2 is 1
    and at recall 1 is 2/3; COCO's interpolated 101-point AP is (51 * 1 + 50 * 2/3) / 101."""
    truth = _truth([(0, 0, 10, 10, 1), (40, 40, 50, 50, 1)])
    dets = [_det(0, 0, 10, 10, score=0.9), _det(20, 20, 10, 10, score=0.8), _det(40, 40, 10, 10, score=0.7)]
    assert coco_map(truth, dets)["map50"] == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_our_map_equals_pycocotools_on_the_saved_files(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = _truth([(0, 0, 10, 10, 1), (20, 20, 36, 40, 2), (40, 2, 60, 20, 1)])
    dets = [
        _det(1, 0, 10, 10, score=0.8),
        _det(20, 22, 16, 18, category=9, score=0.6),
        _det(42, 3, 17, 16, score=0.95),
        _det(5, 40, 8, 8, score=0.3),
    ]
    (tmp_path / "gt.json").write_text(json.dumps(truth))
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "gt.json"))
        evaluator = COCOeval(gt, gt.loadRes(str(tmp_path / "dets.json")), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    ours = coco_map(json.loads((tmp_path / "gt.json").read_text()), json.loads((tmp_path / "dets.json").read_text()))
    assert 0 < ours["map"] < 1
    assert [ours[k] for k in ("map", "map50", "map75", "map_small")] == list(evaluator.stats[:4])
