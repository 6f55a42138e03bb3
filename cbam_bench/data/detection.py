"""Detection datasets as tensors on the training device: digits-detect and COCO-format folders.

Images are square canvases of `image_size` pixels (COCO images are resized to it, and their boxes
with them); every split also keeps, in its original pixel coordinates, the ground truth in COCO's
own format, which is what evaluation scores and --save-annotations writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cbam_bench.data.coco import CocoSplit, coco_path, read_coco
from cbam_bench.data.detect_catalog import DIGITS_DETECT, check_detect_dataset
from cbam_bench.data.digits_detect import DetectSplit, make_digits_detect
from cbam_bench.errors import DataError

DIGIT_CATEGORIES = [{"id": d + 1, "name": str(d)} for d in range(10)]


@dataclass
class DetectTensors:
    """One split on the device. labels are 1..K (0: padding row); `scale` maps canvas boxes to original pixels."""

    images: torch.Tensor  # uint8 (N, C, S, S)
    boxes: torch.Tensor  # float32 (N, M, 4), x0 y0 x1 y1 in canvas pixels
    labels: torch.Tensor  # int64 (N, M)
    image_ids: list[int]
    scale: torch.Tensor  # float32 (N, 2): original width / S, original height / S
    ground_truth: dict[str, Any]  # COCO format, original coordinates

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class DetectData:
    """Train / val (/ test) splits, the categories (label k is categories[k - 1]) and pixel statistics."""

    name: str
    train: DetectTensors
    val: DetectTensors
    test: DetectTensors | None
    categories: list[dict[str, Any]]
    mean: list[float]  # per channel, of the training images in [0, 1]
    std: list[float]

    @property
    def in_channels(self) -> int:
        return self.train.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.train.images.shape[-1]


def ground_truth(
    boxes: np.ndarray, labels: np.ndarray, sizes: list[tuple[int, int]], categories: list[dict], ids: list[int]
) -> dict[str, Any]:
    """COCO ground truth from padded (N, M, 4) xyxy boxes and (N, M) 1-based labels (0: none)."""
    annotations = []
    for image, (image_boxes, image_labels) in enumerate(zip(boxes, labels)):
        for box, label in zip(image_boxes, image_labels):
            if label <= 0:
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": ids[image],
                    "category_id": categories[label - 1]["id"],
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": 0,
                }
            )
    images = [{"id": i, "width": w, "height": h, "file_name": f"{i}.png"} for i, (w, h) in zip(ids, sizes)]
    return {"images": images, "annotations": annotations, "categories": categories}


def _digits_tensors(split: DetectSplit, device: torch.device) -> DetectTensors:
    n, side = len(split.images), split.images.shape[-1]
    labels = np.where(split.labels >= 0, split.labels + 1, 0)
    ids = list(range(1, n + 1))
    truth = ground_truth(split.boxes, labels, [(side, side)] * n, DIGIT_CATEGORIES, ids)
    return DetectTensors(
        torch.from_numpy(split.images).to(device),
        torch.from_numpy(split.boxes).to(device),
        torch.from_numpy(labels).to(device),
        ids,
        torch.ones(n, 2, device=device),
        truth,
    )


def _read_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR)).transpose(2, 0, 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read as an image ({exc})") from None


def _coco_tensors(split: CocoSplit, size: int, categories: list[dict], device: torch.device) -> DetectTensors:
    label_of = {c["id"]: k + 1 for k, c in enumerate(categories)}
    row_of = {image["id"]: i for i, image in enumerate(split.images)}
    kept = [a for a in split.annotations if not a.get("iscrowd", 0) and a["bbox"][2] > 0 and a["bbox"][3] > 0]
    per_image = np.bincount([row_of[a["image_id"]] for a in kept], minlength=len(row_of)) if kept else np.zeros(1, int)
    boxes = np.zeros((len(row_of), max(1, int(per_image.max())), 4), dtype=np.float32)
    labels = np.zeros(boxes.shape[:2], dtype=np.int64)
    filled = np.zeros(len(row_of), dtype=np.int64)
    scale = np.array([[im["width"] / size, im["height"] / size] for im in split.images], dtype=np.float32)
    for a in kept:
        row = row_of[a["image_id"]]
        x, y, w, h = a["bbox"]
        boxes[row, filled[row]] = np.array([x, y, x + w, y + h]) / np.tile(scale[row], 2)
        labels[row, filled[row]] = label_of[a["category_id"]]
        filled[row] += 1
    images = np.stack([_read_image(split.image_dir / im["file_name"], size) for im in split.images])
    truth = {
        "images": split.images,
        "categories": categories,
        "annotations": [
            {**a, "area": a.get("area", a["bbox"][2] * a["bbox"][3]), "iscrowd": a.get("iscrowd", 0)}
            for a in split.annotations
        ],
    }
    return DetectTensors(
        torch.from_numpy(images).to(device),
        torch.from_numpy(boxes).to(device),
        torch.from_numpy(labels).to(device),
        [im["id"] for im in split.images],
        torch.from_numpy(scale).to(device),
        truth,
    )


def _stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    x = images.float().div_(255).transpose(0, 1).reshape(images.shape[1], -1)
    return x.mean(dim=1).tolist(), x.std(dim=1).clamp_min(1e-3).tolist()


def load_detect_data(
    name: str, *, image_size: int, train_images: int, val_images: int, seed: int, device: torch.device
) -> DetectData:
    """digits-detect generated from `seed`, or a COCO folder read and resized to `image_size`."""
    check_detect_dataset(name)
    if name == DIGITS_DETECT:
        splits = make_digits_detect(image_size=image_size, train_images=train_images, val_images=val_images, seed=seed)
        train, val, test = (_digits_tensors(splits[s], device) for s in ("train", "val", "test"))
        categories = DIGIT_CATEGORIES
    else:
        coco = read_coco(coco_path(name))
        categories = sorted(
            ({"id": c["id"], "name": c["name"]} for c in coco["train"].categories), key=lambda c: c["id"]
        )
        train, val = (_coco_tensors(coco[s], image_size, categories, device) for s in ("train", "val"))
        test = None
    mean, std = _stats(train.images)
    return DetectData(name, train, val, test, categories, mean, std)
