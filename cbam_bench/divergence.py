"""When a training run has diverged: the rules train() applies, so a diverged run is never a result.

A run has diverged when a step's loss is nan or inf, when an epoch's mean training loss exploded
(see EXPLODED_FACTOR), when the weights (parameters or buffers such as batch-norm statistics) hold
nan or inf, or when the validation loss is not finite. Each raises TrainingError saying which.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# An epoch's mean training loss "exploded" when it exceeds EXPLODED_FACTOR times ln(classes), the
# cross-entropy of a uniform guess (label smoothing does not change that loss). A freshly
# initialised network starts near ln(classes) and a learning one goes down from there; ten times it
# (23 nats for 10 classes) means the right class gets about e^-23 of the probability on average,
# far worse than guessing, which only a run thrown off by its learning rate reaches.
EXPLODED_FACTOR = 10


class TrainingError(RuntimeError):
    """Training could not go on, e.g. the loss became nan; the message says where and what to try."""


def advice(lr: float) -> str:
    """What every divergence message ends with."""
    return f"the network diverged, so training stopped: try a lower --lr than {lr:g} or a longer warm-up"


def exploded_above(num_classes: int) -> float:
    """The mean training loss above which an epoch has exploded (two classes at least: ln 1 is 0)."""
    return EXPLODED_FACTOR * math.log(max(2, num_classes))


def first_non_finite(losses: torch.Tensor, first_step: int) -> tuple[int, float] | None:
    """(1-based step, value) of the first nan/inf among losses of steps first_step, first_step+1, ..."""
    bad = ~torch.isfinite(losses)
    if not bad.any():
        return None
    index = int(bad.nonzero()[0, 0])
    return first_step + index + 1, float(losses[index])


def non_finite_tensors(model: nn.Module) -> list[str]:
    """Names of the state_dict's floating-point tensors that hold nan or inf, in state_dict order."""
    named = [(name, t) for name, t in model.state_dict().items() if t.is_floating_point()]
    if not named:
        return []
    finite = torch.stack([torch.isfinite(t).all() for _, t in named]).tolist()  # one wait for the device
    return [name for (name, _), ok in zip(named, finite) if not ok]


def check_epoch(model: nn.Module, epoch: int, train_loss: float, num_classes: int, lr: float) -> None:
    """After an epoch's training: raise TrainingError if its mean loss exploded or its weights are not finite."""
    limit = exploded_above(num_classes)
    if not train_loss <= limit:
        raise TrainingError(
            f"training loss exploded to {train_loss:.3g} in epoch {epoch} (more than {EXPLODED_FACTOR} x ln({num_classes} "
            f"classes) = {limit:.3g}, {EXPLODED_FACTOR} times a uniform guess's loss); {advice(lr)}"
        )
    bad = non_finite_tensors(model)
    if bad:
        total = sum(1 for t in model.state_dict().values() if t.is_floating_point())
        raise TrainingError(
            f"weights became nan or inf in epoch {epoch} ({len(bad)} of {total} tensors, the first {bad[0]}); {advice(lr)}"
        )


def check_validation(epoch: int, val_loss: float, lr: float) -> None:
    """After an epoch's evaluation: raise TrainingError if the validation loss is not finite."""
    if not math.isfinite(val_loss):
        raise TrainingError(f"validation loss became {val_loss} after epoch {epoch}; {advice(lr)}")
