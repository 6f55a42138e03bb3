"""The learning-rate schedule and which parameters are decayed: the optimisation recipe that classification
and detection training share, kept apart from their loops so both follow the same curve."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from cbam_bench.train_spec import TrainSpec

ONECYCLE_PEAK_AT = 0.3  # share of the steps spent rising to the peak (torch's OneCycleLR default)
ONECYCLE_START = 1 / 25  # start and end, as fractions of the peak learning rate


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak learning rate at optimizer step `step` (0-based) of `total`.

    cosine: linear from 1/(warmup+1) up to 1 over `warmup` steps, then half a cosine down to 0.
    onecycle: cosine from ONECYCLE_START up to 1 over the first 30% of steps, then cosine down to
    ONECYCLE_START / 1e4 (Smith & Topin's schedule as torch's OneCycleLR draws it).
    """
    if schedule == "onecycle":
        rise = max(1, round(ONECYCLE_PEAK_AT * total))
        if step < rise:
            return ONECYCLE_START + (1 - ONECYCLE_START) * (1 - math.cos(math.pi * step / rise)) / 2
        end = ONECYCLE_START / 1e4
        progress = (step - rise) / max(1, total - rise)
        return end + (1 - end) * (1 + math.cos(math.pi * progress)) / 2
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return (1 + math.cos(math.pi * progress)) / 2


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on convolution and linear weights only.

    Biases and norm scales/shifts (every tensor with one dimension) are left undecayed: decaying a
    scale that a norm layer follows only fights the norm, and CBAM's spatial gate ends in a
    one-channel BatchNorm whose weight starts at 0 on purpose, which decay would pin there.
    """
    decay, plain = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else plain).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


# A short run (one epoch, say) must still spend most of its steps at the peak rate and on the way
# down; without a cap, warm-up would take the whole run. The default recipe sits exactly at it.
MAX_WARMUP_FRACTION = 3  # warm-up is at most 1/3 of all steps


def warmup_steps(spec: TrainSpec, steps_per_epoch: int) -> int:
    """Warm-up length in steps: spec.warmup_epochs, but never more than a third of the run."""
    return min(round(spec.warmup_epochs * steps_per_epoch), steps_per_epoch * spec.epochs // MAX_WARMUP_FRACTION)
