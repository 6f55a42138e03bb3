"""What `inspect` hands back: the figure's columns, the JSON document and the table's rows."""

from __future__ import annotations

from typing import Any

import torch

from cbam_bench.inspect.figure import Column
from cbam_bench.inspect.gradcam import stage_layer
from cbam_bench.inspect.maps import attention_maps
from cbam_bench.inspect.nets import labels_of
from cbam_bench.inspect.run import Inspection, normalised
from cbam_bench.inspect.scores import Estimate

CONVENTIONS = {
    "accuracy": "top-1 on the split, with a 95% Wilson score interval",
    "pointing": "pointing game: share of images whose Grad-CAM maximum lies inside the target box (a map "
    "with no positive value is a miss), with a 95% Wilson score interval",
    "energy": "mean share of each Grad-CAM map's mass inside the target box (an empty map counts 0), "
    "with a 95% Student t interval over images",
    "chance": "mean share of the image the target box covers: what a random point or a flat map scores on both",
    "delta": "each network minus the first on the same images: mean per-image difference, 95% paired t interval",
    "gradcam": "captum LayerGradCam of the chosen stage's output for the true class, ReLU, bilinearly upsampled",
}


def columns(result: Inspection, maps: bool) -> list[Column]:
    """One Column per network: its Grad-CAM and P on the shown rows, and its last gated block's maps
    in the chosen stage when asked."""
    out, rows = [], result.rows
    x = normalised(result.data, result.split.images[rows], torch.device("cpu"))
    for net, name, s in zip(result.networks, labels_of(result.networks), result.scores):
        assert s.maps is not None
        cams = s.maps if result.split.boxes is None else s.maps[rows]
        col = Column(name, cams, s.probs[rows])
        if maps:
            stage, _ = stage_layer(net.model, result.layer)
            found = attention_maps(net.model.cpu(), net.arch, x, stage)
            if found:
                last = found[-1]
                col = Column(name, cams, s.probs[rows], last.spatial, last.channel, last.block)
        out.append(col)
    return out


def _est(value: Estimate | int | None) -> Any:
    return value.to_dict() if isinstance(value, Estimate) else value


def to_json(result: Inspection, out: str | None) -> dict[str, Any]:
    """The --json document: chance, and each network's scores and deltas against the first."""
    nets = []
    for net, name, s, delta in zip(result.networks, labels_of(result.networks), result.scores, result.deltas):
        summary = s.summary()
        nets.append(
            {
                "net": net.ref,
                "summary": name,
                "archid": net.arch.archid,
                **{key: _est(value) for key, value in summary.items()},
                "baseline": result.networks[0].ref,
                "delta": {key: e.to_dict() for key, e in delta.items()} if net is not result.networks[0] else None,
            }
        )
    chance = {"pointing": result.chance, "energy": result.chance} if result.chance is not None else None
    return {
        "dataset": result.data.info.name,
        "split": result.split_name,
        "images": len(result.split),
        "layer": result.layer,
        "chance": chance,
        "networks": nets,
        "out": out,
        "conventions": CONVENTIONS,
    }


def _pct(e: Estimate | None, sign: str = "") -> str:
    """'34.3' over '[31.4, 37.3]', in %: two lines keep the table narrow."""
    if e is None:
        return "-"
    return f"{100 * e.value:{sign}.1f}\n[{100 * e.low:{sign}.1f}, {100 * e.high:{sign}.1f}]"


def table_rows(result: Inspection) -> list[list[str]]:
    """Network, accuracy, pointing game, energy in box: each in % over its 95% interval."""
    rows = []
    for name, s in zip(labels_of(result.networks), result.scores):
        summary = s.summary()
        rows.append([name] + [_pct(summary[k]) for k in ("accuracy", "pointing", "energy")])  # type: ignore[arg-type]
    return rows


def delta_lines(result: Inspection) -> list[str]:
    """One line per network after the first: its paired differences from the first, in points."""
    names = labels_of(result.networks)
    lines = []
    for name, delta in zip(names[1:], result.deltas[1:]):
        parts = [
            f"{key} {_pct(delta[key], '+').replace(chr(10), ' ')}"
            for key in ("accuracy", "pointing", "energy")
            if key in delta
        ]
        lines.append(f"{name} - {names[0]}: " + ", ".join(parts) + " (points, 95% paired t)")
    return lines
