"""The detection datasets' names, checked without torch (the CLI validates options before importing it)."""

from __future__ import annotations

from cbam_bench.errors import SpecError, allowed

DIGITS_DETECT = "digits-detect"
COCO = "coco:"
DETECT_DATASETS = (DIGITS_DETECT, COCO + "PATH")


def check_detect_dataset(name: object, key: str = "--dataset") -> None:
    """SpecError unless `name` is digits-detect or coco: followed by a folder path."""
    if name == DIGITS_DETECT or isinstance(name, str) and name.startswith(COCO) and len(name) > len(COCO):
        return
    raise SpecError(key, f"{name!r} is not allowed; allowed: {allowed(DETECT_DATASETS)}")
