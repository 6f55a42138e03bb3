"""One network `inspect` looks at, however it was given."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from cbam_bench.spec import ArchSpec
from cbam_bench.train_spec import TrainSpec


@dataclass(frozen=True)
class Network:
    """One trained network, named as the user gave it and by its attention's summary."""

    ref: str  # the NET argument
    model: nn.Module  # on the CPU, in eval mode
    arch: ArchSpec
    recipe: TrainSpec  # what trained it: its dataset, image size, data seed

    @property
    def summary(self) -> str:
        return self.arch.attention.summary()
