"""The specs that command-line options build, and errors named by the option the user typed (--lr)
rather than the spec key (train.lr): every command that takes architecture or training options
goes through here, so each option means the same and fails the same way everywhere."""

from __future__ import annotations

import dataclasses
from typing import Any

from cbam_bench.cli.options import ARCH_DEFAULTS
from cbam_bench.cli.train_options import TRAIN_DEFAULTS
from cbam_bench.errors import CbamBenchError, SpecError
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec
from cbam_bench.train_spec import TrainSpec

# Spec keys as the user typed them on the command line.
_FLAG_OF_KEY = {
    "backbone": "MODEL",
    "width": "--width",
    "stride_on": "--stride-on",
    "num_classes": "--num-classes",
    "input_size": "--input-size",
    "attention.kind": "--attention",
    "attention.pooling": "--pooling",
    "attention.reduction": "--reduction",
    "attention.min_hidden": "--min-hidden",
    "attention.descriptor": "--descriptor",
    "attention.kernel": "--kernel",
    "attention.order": "--order",
    "attention.bn_momentum": "--bn-momentum",
    "placement.stages": "--stages",
    "placement.blocks": "--blocks",
    "placement.position": "--position",
    "train.dataset": "--dataset",
    "train.data_dir": "--data-dir",
    "train.image_size": "--image-size",
    "train.train_images": "--train-images",
    "train.epochs": "--epochs",
    "train.batch_size": "--batch-size",
    "train.lr": "--lr",
    "train.seed": "--seed",
    "train.device": "--device",
    "train.fused": "--fused",
}


def as_flag(exc: CbamBenchError) -> CbamBenchError:
    """The same error under the option the user typed (--lr) instead of its spec key (train.lr)."""
    flag = _FLAG_OF_KEY.get(exc.key) if isinstance(exc, SpecError) else None
    return exc.rekeyed(flag) if flag else exc


def parse_stages(text: str | None) -> tuple[int, ...] | None:
    if text is None or text.strip().lower() == "all":
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SpecError(
            "--stages", f"{text!r} is not allowed; allowed: a comma list of stage numbers such as 2,3"
        ) from None


def arch_from_options(
    model: str,
    *,
    attention: str | None = None,
    reduction: int | None = None,
    min_hidden: int | None = None,
    pooling: str | None = None,
    descriptor: str | None = None,
    kernel: int | None = None,
    order: str | None = None,
    bn_momentum: float | None = None,
    stages: str | None = None,
    blocks: str | None = None,
    position: str | None = None,
    width: float | None = None,
    stride_on: str,
    input_size: int | None = None,
    num_classes: int | None = None,
    in_channels: int = 3,
) -> ArchSpec:
    """Build the ArchSpec the options describe (None: ARCH_DEFAULTS); errors name the option, not the spec field."""

    def value(name: str, given: Any) -> Any:
        return ARCH_DEFAULTS[name] if given is None else given

    try:
        return ArchSpec(
            model,
            width=value("width", width),
            stride_on=stride_on,
            num_classes=num_classes,
            input_size=input_size,
            in_channels=in_channels,
            attention=AttentionSpec(
                kind=value("attention", attention),
                pooling=value("pooling", pooling),
                reduction=value("reduction", reduction),
                min_hidden=value("min_hidden", min_hidden),
                descriptor=value("descriptor", descriptor),
                kernel=value("kernel", kernel),
                order=value("order", order),
                bn_momentum=value("bn_momentum", bn_momentum),
            ),
            placement=PlacementSpec(
                stages=parse_stages(stages), blocks=value("blocks", blocks), position=value("position", position)
            ),
        )
    except SpecError as exc:
        raise as_flag(exc) from None


def train_spec_from_options(base: TrainSpec = TRAIN_DEFAULTS, **given: Any) -> TrainSpec:
    """`base` with the options that were given (not None) put in; errors name the option.

    `given` uses TrainSpec's field names (epochs=..., lr=...); a plain `train` starts from the
    defaults, a retrained trial from its study's recipe.
    """
    changes = {key: value for key, value in given.items() if value is not None}
    try:
        return dataclasses.replace(base, **changes)
    except SpecError as exc:
        raise as_flag(exc) from None
