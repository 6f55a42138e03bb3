"""The PNG grid of the CBAM paper's Grad-CAM figure: one row per image, the input, then each network.

Above each input its ground-truth label; under each map P, the softmax score of that label, as
in the paper. With attention maps asked for, each network also gets its module's spatial map Ms
over the image and its channel weights Mc as a strip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cbam_bench import files

PANEL_INCHES = 1.6
DPI = 100


@dataclass(frozen=True)
class Column:
    """One network's panels for the shown images: Grad-CAM, P, and optionally its module's maps."""

    name: str
    cams: torch.Tensor  # (R, H, W)
    probs: torch.Tensor  # (R,)
    spatial: torch.Tensor | None = None  # (R, h, w) Ms of the chosen block, None without one
    channel: torch.Tensor | None = None  # (R, C) Mc of the chosen block
    block: str | None = None  # which block the module maps are from


def panels_per_row(columns: Sequence[Column], maps: bool) -> int:
    """The input, then one panel per network, or three (Grad-CAM, Ms, Mc) with maps."""
    return 1 + len(columns) * (3 if maps else 1)


def _gray(image: torch.Tensor) -> np.ndarray:
    """uint8 (C, H, W) -> what imshow draws: (H, W) for one channel, (H, W, 3) otherwise."""
    x = image.cpu().numpy()
    return x[0] if x.shape[0] == 1 else np.transpose(x[:3], (1, 2, 0))


def _blank(ax, text: str) -> None:  # noqa: ANN001 - a matplotlib Axes
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=7, transform=ax.transAxes)


def _draw_maps(axes, col: Column, r: int, image: np.ndarray, size: tuple[int, int]) -> None:  # noqa: ANN001
    """Ms upsampled over the image, Mc as a one-row strip of channel weights in [0, 1]."""
    ms_ax, mc_ax = axes
    if col.spatial is None:
        _blank(ms_ax, "no spatial map")
    else:
        ms = F.interpolate(col.spatial[r : r + 1, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0]
        ms_ax.imshow(image, cmap="gray")
        ms_ax.imshow(ms.numpy(), cmap="viridis", alpha=0.6, vmin=0, vmax=1)
        ms_ax.set_xlabel(f"Ms {col.block}", fontsize=7)
    if col.channel is None:
        _blank(mc_ax, "no channel weights")
    else:
        mc_ax.imshow(col.channel[r : r + 1].numpy(), cmap="viridis", aspect="auto", vmin=0, vmax=1)
        mc_ax.set_xlabel(f"Mc {col.block} ({col.channel.shape[1]} ch)", fontsize=7)


def grid_figure(
    images: torch.Tensor,
    labels: Sequence[str],
    columns: Sequence[Column],
    *,
    maps: bool = False,
    boxes: torch.Tensor | None = None,
):  # noqa: ANN201 - a matplotlib Figure
    """The figure: rows = images (uint8 (R, C, H, W)), columns as panels_per_row says."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    rows, width = len(images), panels_per_row(columns, maps)
    fig = Figure(figsize=(PANEL_INCHES * width, PANEL_INCHES * rows * 1.15), dpi=DPI)
    FigureCanvasAgg(fig)  # the Agg canvas: no display, no pyplot state
    axes = np.asarray(fig.subplots(rows, width, squeeze=False))
    size = tuple(images.shape[-2:])
    for r in range(rows):
        image = _gray(images[r])
        axes[r, 0].imshow(image, cmap="gray")
        axes[r, 0].set_title(f"label {labels[r]}", fontsize=8)
        if boxes is not None:
            x0, y0, x1, y1 = (int(v) for v in boxes[r])
            axes[r, 0].add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, color="lime", lw=1))
        for c, col in enumerate(columns):
            at = 1 + c * (3 if maps else 1)
            ax = axes[r, at]
            ax.imshow(image, cmap="gray")
            ax.imshow(col.cams[r].numpy(), cmap="jet", alpha=0.5)
            ax.set_xlabel(f"P = {float(col.probs[r]):.4f}", fontsize=8)
            if r == 0:
                ax.set_title(col.name, fontsize=8)
            if maps:
                _draw_maps(axes[r, at + 1 : at + 3], col, r, image, size)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def write_png(fig, path: str | Path) -> Path:  # noqa: ANN001 - a matplotlib Figure
    """The grid as a PNG at the figure's resolution, replaced atomically."""
    return files.write_png(fig, path, dpi=DPI)
