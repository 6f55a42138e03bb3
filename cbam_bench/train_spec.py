"""How one network is trained and evaluated: the TrainSpec every trial and command passes along.

A frozen dataclass that validates on construction and round-trips through plain dicts; its limits
(MAX_EPOCHS and the others) are spec.py's, shared with the network specs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from cbam_bench.data.catalog import MIN_TRAIN_IMAGES, check_dataset_name
from cbam_bench.errors import SpecError, check_choice, check_int, check_number
from cbam_bench.spec import MAX_BATCH, MAX_EPOCHS, MAX_IMAGE_SIZE, MAX_IMAGES, MAX_SEED, checked_fields

SCHEDULES = ("cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
# CBAM's fused gates: auto (where measured faster), on (wherever they apply), off (the formula).
FUSED_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class TrainSpec:
    """How one network is trained and evaluated. Defaults are the built-in recipe.

    `image_size`, `train_images` and `val_images` left at None take the dataset's own defaults
    (cbam_bench.data.catalog.RECIPES); `data_seed` fixes the generated data and the CIFAR hold-out,
    so every trial of a search sees the same images while `seed` varies the network's.
    """

    dataset: str = "digits-clutter"
    data_dir: str | None = None
    epochs: int = 3
    batch_size: int = 64
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    image_size: int | None = None
    train_images: int | None = None
    val_images: int | None = None
    data_seed: int = 0
    fused: str = "auto"

    def __post_init__(self) -> None:
        check_dataset_name(self.dataset)
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise SpecError("train.data_dir", f"{self.data_dir!r} is not allowed; allowed: a folder path")
        check_int("train.epochs", self.epochs, 1, MAX_EPOCHS)
        check_int("train.batch_size", self.batch_size, 1, MAX_BATCH)
        check_int("train.seed", self.seed, 0, MAX_SEED)
        check_int("train.data_seed", self.data_seed, 0, MAX_SEED)
        for name, low, high in (
            ("image_size", 8, MAX_IMAGE_SIZE),
            ("train_images", MIN_TRAIN_IMAGES, MAX_IMAGES),
            ("val_images", 1, MAX_IMAGES),
        ):
            if getattr(self, name) is not None:
                check_int(f"train.{name}", getattr(self, name), low, high)
        check_number("train.lr", self.lr, 0, above=True)
        for name in ("momentum", "weight_decay", "label_smoothing", "warmup_epochs"):
            check_number(f"train.{name}", getattr(self, name), 0)
        if self.label_smoothing >= 1:
            raise SpecError(
                "train.label_smoothing", f"{self.label_smoothing!r} is not allowed; allowed: a number in [0, 1)"
            )
        if not isinstance(self.nesterov, bool):
            raise SpecError("train.nesterov", f"{self.nesterov!r} is not allowed; allowed: true, false")
        check_choice("train.schedule", self.schedule, SCHEDULES)
        check_choice("train.device", self.device, DEVICES)
        check_choice("train.precision", self.precision, PRECISIONS)
        check_choice("train.fused", self.fused, FUSED_MODES)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        return cls(**checked_fields(cls, data, "train."))
