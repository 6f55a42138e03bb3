"""COCO-format folders for detection: the annotation files checked key by key, then the images read.

Layout of `coco:PATH` (the one MS COCO itself uses):

    PATH/annotations/instances_train.json   (or instances_train2017.json: any instances_train*.json)
    PATH/annotations/instances_val.json     (any instances_val*.json)
    PATH/train/...  PATH/val/...            images, named by each image's file_name, in the folder named
                                            after the file's suffix (instances_train2017.json -> PATH/train2017/)

Each annotation file is a JSON object with `images` (id, file_name, width, height), `annotations`
(id, image_id, category_id, bbox as x, y, width, height in pixels; optional area and iscrowd) and
`categories` (id, name). Both splits must list the same categories. A malformed file is bad
input: one line naming the file and the key.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cbam_bench.data.detect_catalog import COCO
from cbam_bench.errors import DataError

COCO_SPLITS = ("train", "val")
_IMAGE_KEYS = (("id", int), ("file_name", str), ("width", int), ("height", int))
_ANNOTATION_KEYS = (("id", int), ("image_id", int), ("category_id", int), ("bbox", list))
_CATEGORY_KEYS = (("id", int), ("name", str))


@dataclass(frozen=True)
class CocoSplit:
    """One split's checked annotation file and where its images are."""

    file: Path
    image_dir: Path
    images: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    categories: list[dict[str, Any]]


def coco_path(name: str) -> Path:
    return Path(name[len(COCO) :]).expanduser()


def annotation_file(root: Path, split: str) -> Path:
    """The one annotations/instances_{split}*.json of the folder, or DataError saying what is expected."""
    found = sorted((root / "annotations").glob(f"instances_{split}*.json"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} files matching"
        raise DataError(
            f"dataset {COCO}{root}: {what} {root / 'annotations'}/instances_{split}*.json; "
            f"expected one per split ({', '.join(COCO_SPLITS)}), images in {root}/{split}/"
        )
    return found[0]


def _is(value: object, kind: type) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)


def _check_entries(file: Path, doc: dict, key: str, fields: tuple[tuple[str, type], ...]) -> list[dict]:
    entries = doc.get(key)
    if not isinstance(entries, list):
        raise DataError(
            f"{file}: key {key!r} is {'missing' if key not in doc else 'not a list'}; allowed: a list of objects"
        )
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DataError(
                f"{file}: {key}[{i}] is not an object; allowed: an object with {', '.join(f for f, _ in fields)}"
            )
        for field, kind in fields:
            if not _is(entry.get(field), kind):
                state = "is missing" if field not in entry else f"is {entry[field]!r}"
                raise DataError(
                    f"{file}: {key}[{i}].{field} {state}; allowed: {'an integer' if kind is int else 'a ' + kind.__name__}"
                )
    return entries


def _check_unique(file: Path, key: str, entries: list[dict]) -> set[int]:
    ids: set[int] = set()
    for i, entry in enumerate(entries):
        if entry["id"] in ids:
            raise DataError(f"{file}: {key}[{i}].id {entry['id']} is used twice; allowed: unique ids")
        ids.add(entry["id"])
    return ids


def _check_annotation(file: Path, i: int, ann: dict, images: set[int], categories: set[int]) -> None:
    where = f"{file}: annotations[{i}]"
    if ann["image_id"] not in images:
        raise DataError(f"{where}.image_id {ann['image_id']} is no image of the file; allowed: an id from 'images'")
    if ann["category_id"] not in categories:
        raise DataError(
            f"{where}.category_id {ann['category_id']} is no category of the file; allowed: an id from 'categories'"
        )
    box = ann["bbox"]
    if len(box) != 4 or not all(_is(v, (int, float)) and math.isfinite(v) for v in box) or box[2] < 0 or box[3] < 0:
        raise DataError(
            f"{where}.bbox is {box!r}; allowed: [x, y, width, height], four finite numbers, width and height >= 0"
        )
    if ann.get("iscrowd", 0) not in (0, 1):
        raise DataError(f"{where}.iscrowd is {ann['iscrowd']!r}; allowed: 0, 1")
    if "area" in ann and not (_is(ann["area"], (int, float)) and ann["area"] >= 0):
        raise DataError(f"{where}.area is {ann['area']!r}; allowed: a number >= 0")


def read_split(root: Path, split: str) -> CocoSplit:
    """Check one split's annotation file and that every image it lists is there."""
    file = annotation_file(root, split)
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot be read ({exc}); allowed: a UTF-8 JSON file") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(doc, dict):
        raise DataError(
            f"{file}: the top level is not an object; allowed: an object with images, annotations, categories"
        )
    images = _check_entries(file, doc, "images", _IMAGE_KEYS)
    annotations = _check_entries(file, doc, "annotations", _ANNOTATION_KEYS)
    categories = _check_entries(file, doc, "categories", _CATEGORY_KEYS)
    if not images or not categories:
        raise DataError(
            f"{file}: key {'images' if not images else 'categories'!r} is empty; allowed: at least one entry"
        )
    image_ids = _check_unique(file, "images", images)
    category_ids = _check_unique(file, "categories", categories)
    _check_unique(file, "annotations", annotations)
    for i, ann in enumerate(annotations):
        _check_annotation(file, i, ann, image_ids, category_ids)
    image_dir = root / file.stem[len("instances_") :]
    for i, image in enumerate(images):
        if image["width"] < 1 or image["height"] < 1:
            raise DataError(
                f"{file}: images[{i}].width/height {image['width']}x{image['height']}; allowed: positive integers"
            )
        if not (image_dir / image["file_name"]).is_file():
            raise DataError(f"{file}: images[{i}].file_name: {image_dir / image['file_name']} does not exist")
    return CocoSplit(file, image_dir, images, annotations, categories)


def read_coco(root: Path) -> dict[str, CocoSplit]:
    """Both splits, checked; their category lists must agree (the detector's classes are one list)."""
    splits = {split: read_split(root, split) for split in COCO_SPLITS}
    train, val = (sorted((c["id"], c["name"]) for c in splits[s].categories) for s in COCO_SPLITS)
    if train != val:
        raise DataError(
            f"{splits['val'].file}: key 'categories' differs from {splits['train'].file}'s; "
            "allowed: the same categories in both splits"
        )
    return splits
