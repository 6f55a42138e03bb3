"""The networks `inspect` is given: `train --save` checkpoints, or trials of a study as STUDY:N."""

from __future__ import annotations

from pathlib import Path

from cbam_bench.checkpoint import load_checkpoint
from cbam_bench.data.catalog import DatasetInfo
from cbam_bench.errors import SpecError
from cbam_bench.inspect.network import Network
from cbam_bench.inspect.trials import trial_network


def is_trial_ref(text: str) -> bool:
    """STUDY:N names a stored trial unless a file of that name exists (a checkpoint called a:1)."""
    name, sep, number = text.rpartition(":")
    return bool(sep and name and number.isdigit()) and not Path(text).exists()


def load_network(text: str, storage: str, artifacts: str | None = None) -> Network:
    """The network `text` names; SpecError (a bad checkpoint) or StudyError (a bad trial) otherwise."""
    if is_trial_ref(text):
        return trial_network(text, storage, artifacts)
    model, arch, recipe = load_checkpoint(text)
    return Network(text, model, arch, recipe)


def check_fits(net: Network, info: DatasetInfo) -> None:
    """SpecError unless `net` takes `info`'s images and predicts its classes."""
    arch = net.arch
    if arch.in_channels != info.in_channels or arch.num_classes != info.num_classes:
        raise SpecError(
            net.ref,
            f"the network takes {arch.in_channels}-channel images and predicts {arch.num_classes} "
            f"classes; dataset {info.name} has {info.in_channels}-channel images and {info.num_classes} classes; "
            "allowed: networks trained on it (its --dataset)",
        )


def labels_of(networks: list[Network]) -> list[str]:
    """Each network's summary (none / se avg r16 / cbam ...), with its NET argument where two share one."""
    summaries = [n.summary for n in networks]
    return [s if summaries.count(s) == 1 else f"{s} ({n.ref})" for s, n in zip(summaries, networks)]
