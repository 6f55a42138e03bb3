"""DetectSpec: how one detector is trained and evaluated. Its defaults are the built-in detection recipe.

Kept free of torch, like cbam_bench.spec, so the CLI checks options before anything is built.
The default recipe (ResNet-18 at width 0.5, 96 x 96 digits-detect, SGD with warm-up and cosine
decay) is sized to learn within five minutes on two CPU cores; see the README's detection section.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cbam_bench.data.detect_catalog import check_detect_dataset
from cbam_bench.errors import check_choice, check_int, check_number
from cbam_bench.spec import MAX_BATCH, MAX_EPOCHS, MAX_IMAGE_SIZE, MAX_IMAGES, MAX_SEED
from cbam_bench.train_spec import DEVICES, PRECISIONS

DEFAULT_WIDTH = 0.5  # the detect command's backbone width when --width is not given
# Backbone families whose stages a feature pyramid taps (models.catalog's family names).
DETECTION_FAMILIES = ("resnet", "cifar_resnet")


@dataclass(frozen=True)
class DetectSpec:
    """Dataset, schedule and device of one detection run (train_images / val_images apply to digits-detect)."""

    dataset: str = "digits-detect"
    image_size: int = 96
    train_images: int = 2000
    val_images: int = 500
    epochs: int = 3
    batch_size: int = 16
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    seed: int = 0
    data_seed: int = 0
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        check_detect_dataset(self.dataset, "detect.dataset")
        check_int("detect.image_size", self.image_size, 32, MAX_IMAGE_SIZE)
        check_int("detect.train_images", self.train_images, 2, MAX_IMAGES)
        check_int("detect.val_images", self.val_images, 1, MAX_IMAGES)
        check_int("detect.epochs", self.epochs, 1, MAX_EPOCHS)
        check_int("detect.batch_size", self.batch_size, 1, MAX_BATCH)
        check_int("detect.warmup_steps", self.warmup_steps, 0, MAX_IMAGES)
        check_int("detect.seed", self.seed, 0, MAX_SEED)
        check_int("detect.data_seed", self.data_seed, 0, MAX_SEED)
        check_number("detect.lr", self.lr, 0, above=True)
        check_number("detect.momentum", self.momentum, 0)
        check_number("detect.weight_decay", self.weight_decay, 0)
        check_choice("detect.device", self.device, DEVICES)
        check_choice("detect.precision", self.precision, PRECISIONS)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
