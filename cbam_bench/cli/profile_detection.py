"""`cbam-bench profile MODEL --task detection`: the Faster R-CNN's counts per part, with attention's share."""

from __future__ import annotations

from dataclasses import asdict

from cbam_bench.cli import output
from cbam_bench.errors import SpecError
from cbam_bench.metrics import TASKS
from cbam_bench.spec import ArchSpec

__all__ = ["TASKS", "parse_input_size", "profile_detection"]
DETECT_INPUT = 96  # digits-detect's canvas, the built-in detection set
DETECT_CLASSES = 10
CAPTION = (
    "MACs (paper): multiply-adds of convolutions and linear layers, one image padded to a multiple of 32;\n"
    "heads: the box head and predictor on the evaluation budget of {proposals} proposals. RoIAlign and NMS do none."
)


def parse_input_size(text: str | None, task: str) -> tuple[int, int] | None:
    """'H' or 'H,W' (detection only) -> (H, W); None when not given."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > (2 if task == "detection" else 1) or not all(p.lstrip("-").isdigit() for p in parts):
        allowed = (
            "H or H,W, positive integers" if task == "detection" else "one integer (H,W only with --task detection)"
        )
        raise SpecError("--input-size", f"{text!r} is not allowed; allowed: {allowed}")
    height, width = int(parts[0]), int(parts[-1])
    if min(height, width) < 32 and task == "detection":
        raise SpecError("--input-size", f"{text!r} is not allowed; allowed: sides of at least 32 pixels for detection")
    return height, width


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def profile_detection(arch: ArchSpec, size: tuple[int, int] | None, num_classes: int | None, json: bool) -> None:
    """Print the detector's counts: a table for people, or one JSON document."""
    from cbam_bench.detection.cost import PARTS, profile_detector
    from cbam_bench.detection.model import DetectorSpec, check_detection_backbone

    check_detection_backbone(arch)
    size = size or (DETECT_INPUT, DETECT_INPUT)
    classes = num_classes or DETECT_CLASSES
    cost = profile_detector(arch, size, classes)
    proposals = DetectorSpec(classes, size).proposals_test
    if json:
        output.print_json(
            {
                "model": arch.backbone,
                "task": "detection",
                "archid": arch.archid,
                "arch": arch.to_dict(),
                "input_size": list(size),
                "num_classes": classes,
                "proposals": proposals,
                **asdict(cost["total"]),
                "parts": {p: asdict(cost[p]) for p in PARTS},
            }
        )
        return
    total = cost["total"]
    rows = [
        [
            part,
            f"{output.human(c.params)} ({_share(c.params, total.params)})",
            f"{output.human(c.macs)} ({_share(c.macs, total.macs)})",
            output.human(c.attention_params),
            output.human(c.attention_macs),
        ]
        for part, c in ((p, cost[p]) for p in (*PARTS, "total"))
    ]
    title = f"Faster R-CNN + FPN over {arch.backbone} (width {arch.width:g}) + {arch.attention.summary()} — {size[0]}x{size[1]}, {classes} classes"
    columns = ["", "params (share)", "MACs (share)", "attn params", "attn MACs"]
    output.stdout().print(output.table(title, columns, rows, caption=CAPTION.format(proposals=proposals)))
    if total.params:
        output.stdout().print(
            f"total: {total.params:,} params, {total.macs:,} MACs; attention: {_share(total.attention_params, total.params)} of the params, "
            f"{_share(total.attention_macs, total.macs)} of the MACs, "
            f"{total.elementwise_ops:,} element-wise ops",
            markup=False,
        )
