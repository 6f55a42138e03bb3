"""A trained network in one file: its weights, the ArchSpec that builds it and the TrainSpec that trained it.

Everything in the file is tensors and plain containers, so it loads with
torch.load(..., weights_only=True): opening a checkpoint never runs code from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from cbam_bench.errors import CbamBenchError, SpecError
from cbam_bench.files import atomic_write
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec
from cbam_bench.tensor_files import check_tensors, load_tensors
from cbam_bench.train_spec import TrainSpec

FORMAT = "cbam-bench-checkpoint"
VERSION = 1


def save_checkpoint(
    path: str | Path, model: nn.Module, arch: ArchSpec, spec: TrainSpec, metrics: dict[str, Any] | None = None
) -> None:
    """Write `model`'s weights (moved to the CPU) with both specs and optional JSON-like metrics, atomically."""
    save_state(path, model.state_dict(), arch, spec, metrics)


def save_state(
    path: str | Path,
    state: dict[str, torch.Tensor],
    arch: ArchSpec,
    spec: TrainSpec,
    metrics: dict[str, Any] | None = None,
) -> None:
    """save_checkpoint for weights already taken out of their network (a study's trial weights)."""
    state = {key: value.detach().to("cpu").contiguous() for key, value in state.items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch.to_dict(),
        "train": spec.to_dict(),
        "state_dict": state,
        "metrics": metrics or {},
    }
    with atomic_write(path) as f:
        torch.save(payload, f)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's contents, checked to be ours; SpecError naming the file otherwise."""
    payload = load_tensors(path, f"checkpoint {path}")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SpecError(f"checkpoint {path}", "not a cbam-bench checkpoint (written by `cbam-bench train --save`)")
    if payload.get("version") != VERSION:
        raise SpecError(
            f"checkpoint {path}", f"format version {payload.get('version')!r}; this cbam-bench reads {VERSION}"
        )
    if not isinstance(payload.get("state_dict"), dict):
        raise SpecError(f"checkpoint {path}", "state_dict: missing or not a mapping of names to tensors")
    check_tensors(payload["state_dict"], f"checkpoint {path}: state_dict")
    return payload


def load_checkpoint(path: str | Path) -> tuple[nn.Module, ArchSpec, TrainSpec]:
    """Rebuild the saved network with its weights (on the CPU, in eval mode), and its two specs."""
    payload = read_checkpoint(path)
    try:
        arch = ArchSpec.from_dict(payload["arch"])
        spec = TrainSpec.from_dict(payload["train"])
    except CbamBenchError as exc:
        raise SpecError(f"checkpoint {path}", f"{exc}") from None
    model = build_model(arch)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise SpecError(f"checkpoint {path}", f"the weights do not fit the saved ArchSpec ({exc})") from None
    return model.eval(), arch, spec
