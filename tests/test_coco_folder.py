"""coco:PATH folders: a well-formed one loads with boxes scaled to the canvas; a malformed one is named by file and key."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cbam_bench.data.detection import load_detect_data
from cbam_bench.errors import DataError


def write_coco(root, images=3, size=(40, 60)):
    """A tiny COCO folder: `images` RGB images per split, each with one box of category 3 and one of 5."""
    (root / "annotations").mkdir(parents=True)
    for split in ("train", "val"):
        (root / split).mkdir()
        doc = {"images": [], "annotations": [], "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}]}
        for i in range(1, images + 1):
            Image.fromarray(np.full((size[1], size[0], 3), 40 * i, dtype=np.uint8)).save(root / split / f"{i}.png")
            doc["images"].append({"id": i, "file_name": f"{i}.png", "width": size[0], "height": size[1]})
            doc["annotations"] += [
                {"id": 2 * i - 1, "image_id": i, "category_id": 3, "bbox": [4, 6, 20, 30], "area": 600, "iscrowd": 0},
                {"id": 2 * i, "image_id": i, "category_id": 5, "bbox": [10, 0, 8, 12]},
            ]
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    return root


def _load(root):
    return load_detect_data(
        f"coco:{root}", image_size=32, train_images=10, val_images=10, seed=0, device=torch.device("cpu")
    )


def test_a_coco_folder_loads_resized_with_its_boxes(tmp_path):
    data = _load(write_coco(tmp_path / "c"))
    assert data.train.images.shape == (3, 3, 32, 32) and data.test is None
    assert [c["id"] for c in data.categories] == [3, 5]
    # 40 x 60 -> 32 x 32: x scales by 32/40, y by 32/60; category 3 is label 1, category 5 label 2.
    assert torch.allclose(data.train.boxes[0, 0], torch.tensor([4 * 0.8, 6 * 32 / 60, 24 * 0.8, 36 * 32 / 60]))
    assert data.train.labels[0].tolist() == [1, 2]
    assert torch.allclose(data.val.scale[0], torch.tensor([40 / 32, 60 / 32]))
    truth = data.val.ground_truth
    assert truth["annotations"][1]["area"] == 8 * 12 and truth["annotations"][1]["iscrowd"] == 0


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda doc: doc.pop("annotations"), "instances_val.json: key 'annotations' is missing"),
        (lambda doc: doc["annotations"][0].pop("bbox"), "instances_val.json: annotations[0].bbox is missing"),
        (
            lambda doc: doc["annotations"][1].update(bbox=[1, 2, 3]),
            "instances_val.json: annotations[1].bbox is [1, 2, 3]",
        ),
        (
            lambda doc: doc["annotations"][0].update(image_id=99),
            "instances_val.json: annotations[0].image_id 99 is no image",
        ),
        (
            lambda doc: doc["annotations"][0].update(category_id=4),
            "instances_val.json: annotations[0].category_id 4 is no category",
        ),
        (lambda doc: doc["images"][2].update(file_name="gone.png"), "instances_val.json: images[2].file_name:"),
        (lambda doc: doc["images"][0].update(id="1"), "instances_val.json: images[0].id is '1'"),
    ],
)
def test_a_malformed_annotation_file_is_named_with_its_key(tmp_path, breakage, message):
    root = write_coco(tmp_path / "c")
    file = root / "annotations" / "instances_val.json"
    doc = json.loads(file.read_text())
    breakage(doc)
    file.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _load(root)


def test_broken_json_and_a_missing_split_are_bad_input(tmp_path):
    root = write_coco(tmp_path / "c")
    (root / "annotations" / "instances_val.json").write_text('{"images": [')
    with pytest.raises(DataError, match=r"instances_val.json: not valid JSON \(line 1"):
        _load(root)
    (root / "annotations" / "instances_val.json").unlink()
    with pytest.raises(DataError, match=r"no .*/annotations/instances_val\*.json"):
        _load(root)
