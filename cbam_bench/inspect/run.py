"""Score networks' Grad-CAM on a whole split: accuracy, pointing game and energy in the target box.

Every network is scored on the same images, so a difference between two is a paired one: its
interval comes from the per-image differences (a t interval), which is far tighter than two
independent intervals would suggest, and honest about the images being shared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from cbam_bench.data.load import Data, Split, load_data
from cbam_bench.errors import SpecError, allowed
from cbam_bench.inspect.gradcam import BATCH, class_scores, grad_cam, stage_layer
from cbam_bench.inspect.nets import check_fits
from cbam_bench.inspect.network import Network
from cbam_bench.inspect.scores import Estimate, box_shares, energy_shares, pointing_hits, t_mean, wilson
from cbam_bench.train_spec import TrainSpec

SPLITS = ("val", "test")
# TrainSpec fields that belong to one dataset: another --dataset takes its own defaults for them.
DATASET_FIELDS = ("image_size", "train_images", "val_images")


@dataclass(frozen=True)
class Scores:
    """One network on one split. Per-image values are kept for the paired deltas and the figure."""

    correct: torch.Tensor  # (N,) 1.0 where the top-1 prediction is the label
    probs: torch.Tensor  # (N,) softmax probability of the true class: P under each map
    maps: torch.Tensor | None  # (N, H, W) Grad-CAM at image resolution; None when not needed
    hits: torch.Tensor | None = None  # (N,) pointing-game hits; None without target boxes
    shares: torch.Tensor | None = None  # (N,) energy share inside the box

    def summary(self) -> dict[str, Estimate | int | None]:
        n = self.correct.numel()
        out: dict[str, Estimate | int | None] = {
            "accuracy": wilson(int(self.correct.sum()), n),
            "pointing": None,
            "energy": None,
        }
        if self.hits is not None and self.shares is not None and self.maps is not None:
            out["pointing"] = wilson(float(self.hits.sum()), n)
            out["energy"] = t_mean(self.shares)
            out["empty_maps"] = int((self.maps.flatten(1).amax(dim=1) <= 0).sum())
        return out


@dataclass(frozen=True)
class Inspection:
    """What `inspect` measured: the split, the layer, chance and each network's scores."""

    data: Data
    split_name: str
    split: Split
    layer: str
    networks: list[Network]
    scores: list[Scores]
    rows: torch.Tensor  # the split's images to draw
    chance: float | None = None  # mean box share of the image
    deltas: list[dict[str, Estimate]] = field(default_factory=list)  # against the first network


def data_spec(first: Network, dataset: str | None, data_dir: str | None, device: str | None) -> TrainSpec:
    """The first network's recipe, moved to --dataset (with that dataset's own sizes) if given."""
    changes: dict[str, Any] = {}
    if dataset is not None and dataset != first.recipe.dataset:
        changes.update(dataset=dataset, **{key: None for key in DATASET_FIELDS})
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if device is not None:
        changes["device"] = device
    try:
        return dataclasses.replace(first.recipe, **changes)
    except SpecError as exc:
        raise exc.rekeyed(_FLAGS.get(exc.key, exc.key)) from None


# The recipe's keys as inspect's options name them.
_FLAGS = {"train.dataset": "--dataset", "train.device": "--device", "train.data_dir": "--data-dir"}


def pick_split(data: Data, name: str) -> Split:
    if name not in SPLITS:
        raise SpecError("--split", f"{name!r} is not allowed; allowed: {allowed(SPLITS)}")
    split = data.val if name == "val" else data.test
    if split is None:
        raise SpecError("--split", f"dataset {data.info.name} has no test split; allowed: val")
    return split


def normalised(data: Data, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    return ((images.float() - data.mean.view(shape)) / data.std.view(shape)).to(device)


def score(
    net: Network, data: Data, split: Split, layer: str, device: torch.device, keep: torch.Tensor | None = None
) -> Scores:
    """Accuracy and P on the whole split; Grad-CAM on the whole split when it has boxes, else on `keep` only.

    Images are normalised and moved to the device a batch at a time, so a large split never sits
    there whole as float32.
    """
    model = net.model.to(device).eval()
    _, module = stage_layer(model, layer)
    p_true, correct, maps = [], [], []
    for start in range(0, len(split), BATCH):
        x = normalised(data, split.images[start : start + BATCH], device)
        y = split.labels[start : start + BATCH].to(device)
        probs = class_scores(model, x)
        p_true.append(probs.gather(1, y.view(-1, 1))[:, 0].cpu())
        correct.append((probs.argmax(dim=1) == y).double().cpu())
        if split.boxes is not None:
            maps.append(grad_cam(model, module, x, y).cpu())
    if split.boxes is None:
        shown = None
        if keep is not None:
            shown = grad_cam(
                model, module, normalised(data, split.images[keep], device), split.labels[keep].to(device)
            ).cpu()
        return Scores(torch.cat(correct), torch.cat(p_true), shown)
    cams = torch.cat(maps)
    return Scores(
        torch.cat(correct), torch.cat(p_true), cams, pointing_hits(cams, split.boxes), energy_shares(cams, split.boxes)
    )


def shown_rows(count: int, images: int | None, index: Sequence[int] | None) -> torch.Tensor:
    """The split's rows to draw: --index as given, else the first --images (4 by default)."""
    if index:
        bad = [i for i in index if not 0 <= i < count]
        if bad:
            raise SpecError(
                "--index", f"{bad[0]} is not allowed; allowed: 0-{count - 1} (the split has {count} images)"
            )
        return torch.tensor(list(index))
    n = 4 if images is None else images
    if not 1 <= n <= min(count, 64):
        raise SpecError("--images", f"{n} is not allowed; allowed: 1-{min(count, 64)}")
    return torch.arange(n)


def paired_deltas(scores: list[Scores]) -> list[dict[str, Estimate]]:
    """Each network minus the first, per measure: mean per-image difference with its paired t interval."""
    first = scores[0]
    out = []
    for s in scores:
        delta = {"accuracy": t_mean(s.correct - first.correct, method="paired-t")}
        if s.hits is not None and first.hits is not None and s.shares is not None and first.shares is not None:
            delta["pointing"] = t_mean(s.hits - first.hits, method="paired-t")
            delta["energy"] = t_mean(s.shares - first.shares, method="paired-t")
        out.append(delta)
    return out


def inspect_networks(
    networks: list[Network],
    *,
    split: str = "val",
    layer: str = "last",
    dataset: str | None = None,
    data_dir: str | None = None,
    device: str | None = None,
    images: int | None = None,
    index: Sequence[int] | None = None,
) -> Inspection:
    """Load the data the first network was trained on (or --dataset), check every network fits it, score each."""
    from cbam_bench.device import resolve_device

    spec = data_spec(networks[0], dataset, data_dir, device)
    try:
        where = resolve_device(spec.device)
    except SpecError as exc:
        raise exc.rekeyed(_FLAGS.get(exc.key, exc.key)) from None
    data = load_data(spec, "cpu")
    chosen = pick_split(data, split)
    rows = shown_rows(len(chosen), images, index)
    for net in networks:
        check_fits(net, data.info)
        stage_layer(net.model, layer)  # every network must have the layer before any is scored
    scores = [score(net, data, chosen, layer, where, rows) for net in networks]
    chance = float(box_shares(chosen.boxes, *chosen.images.shape[-2:]).mean()) if chosen.boxes is not None else None
    return Inspection(data, split, chosen, layer, networks, scores, rows, chance, paired_deltas(scores))
