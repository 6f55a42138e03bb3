"""COCO mAP from the reference evaluator (pycocotools' COCOeval) on detections in COCO results format.

Ground truth and detections are plain COCO JSON structures, the same ones --save-annotations and
--save-detections write, so re-scoring the saved files with pycocotools gives the same numbers.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import torch
from torch import nn

from cbam_bench.data.detection import DetectTensors

# COCOeval.stats, in its order: AP over IoU .50:.95, at .50, at .75, by area (small, medium, large), then AR.
STAT_NAMES = (
    "map",
    "map50",
    "map75",
    "map_small",
    "map_medium",
    "map_large",
    "ar1",
    "ar10",
    "ar100",
    "ar_small",
    "ar_medium",
    "ar_large",
)
EVAL_BATCH = 64
_NOWHERE = (-1e6, -1e6, 1.0, 1.0)


def _coco(ground_truth: dict[str, Any]) -> Any:
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = copy.deepcopy(ground_truth)
    gt.createIndex()
    return gt


def coco_map(ground_truth: dict[str, Any], detections: list[dict[str, Any]]) -> dict[str, float | None]:
    """COCOeval's bbox statistics (None where it has none: -1, an area range without objects).

    COCOeval cannot load an empty list: no detections at all is scored as one detection far off
    every image, which matches nothing, so the numbers are pycocotools' own for "nothing found".
    pycocotools prints as it works; that goes nowhere, so --json output stays one document.
    """
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = _coco(ground_truth)
        if not detections and ground_truth["images"]:
            detections = [
                {
                    "image_id": ground_truth["images"][0]["id"],
                    "bbox": list(_NOWHERE),
                    "score": 0.0,
                    "category_id": ground_truth["categories"][0]["id"],
                }
            ]
        evaluator = COCOeval(gt, gt.loadRes(copy.deepcopy(detections)), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: (None if value < 0 else float(value)) for name, value in zip(STAT_NAMES, evaluator.stats)}


def as_float_images(images: torch.Tensor) -> list[torch.Tensor]:
    """uint8 (N, C, H, W) -> the list of [0, 1] float images torchvision's detectors take."""
    return list(images.float().div_(255))


@torch.inference_mode()
def predict(
    model: nn.Module, split: DetectTensors, categories: list[dict[str, Any]], batch_size: int = EVAL_BATCH
) -> list[dict[str, Any]]:
    """Every image's detections in COCO results format, in the original image's pixels."""
    was_training = model.training
    model.eval()
    results = []
    try:
        for start in range(0, len(split), batch_size):
            outputs = model(as_float_images(split.images[start : start + batch_size]))
            for offset, out in enumerate(outputs):
                row = start + offset
                boxes = (out["boxes"] * split.scale[row].repeat(2)).tolist()
                for (x0, y0, x1, y1), score, label in zip(boxes, out["scores"].tolist(), out["labels"].tolist()):
                    results.append(
                        {
                            "image_id": split.image_ids[row],
                            "category_id": categories[label - 1]["id"],
                            "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                            "score": round(score, 5),
                        }
                    )
    finally:
        model.train(was_training)
    return results
