"""What `cbam-bench detect` prints: per-epoch loss lines while it trains, then the mAP table (val and
test, by IoU and object size) with cost and speed, or one JSON document with the conventions it follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cbam_bench.cli import output
from cbam_bench.report.format import attention_label

if TYPE_CHECKING:
    from cbam_bench.detection.recipe import DetectSpec
    from cbam_bench.detection.train import DetectResult

CONVENTIONS = {
    "map": "COCO mAP@[.5:.95] from pycocotools' COCOeval (bbox), on the validation split; test_* on the test split",
    "macs": "paper convention: multiply-adds of convolutions and linear layers, one image; the box head on "
    "the evaluation proposal budget",
    "latency_ms": "median forward time of one image on the training device, fp32, inference mode",
    "images_per_s": "training images per second: median over epochs, evaluation excluded",
}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def render_detection(
    arch: Any, spec: DetectSpec, result: DetectResult, cost: dict, latency: Any, saved: list[str]
) -> None:
    total, v, t = cost["total"], result.val, result.test or {}
    rows = [
        [f"mAP{suffix}", _pct(v[key]), _pct(t.get(key))]
        for key, suffix in (
            ("map", "@[.5:.95]"),
            ("map50", "@.5"),
            ("map75", "@.75"),
            ("map_small", " small"),
            ("map_medium", " medium"),
            ("map_large", " large"),
        )
    ]
    rows += [
        ["params", f"{total.params:,}", ""],
        ["MACs (paper)", f"{total.macs:,} ({output.human(total.macs)})", ""],
        ["latency (median / p90)", f"{latency.median_ms:.1f} / {latency.p90_ms:.1f} ms", ""],
        ["training images/s", f"{result.images_per_s:,.1f}", ""],
        ["training time", f"{sum(result.epoch_seconds):.1f} s over {len(result.epoch_seconds)} epochs", ""],
    ]
    console = output.stdout()
    caption = "mAP in %, pycocotools COCOeval (bbox); MACs at the evaluation proposal budget"
    title = f"detect {arch.backbone} + {attention_label(arch.attention.summary(), arch.to_dict())}"
    output.print_table(console, output.table(title, ["", "val", "test"], rows, caption=caption))
    run = result.extras
    console.print(
        f"{spec.dataset}: {run['train_images']:,} training, {run['val_images']:,} validation images of "
        f"{spec.image_size} px; {run['device']}, {run['precision']}, batch {run['batch_size']}, lr {spec.lr:g}, "
        f"seed {spec.seed}; archid {arch.archid}.",
        markup=False,
    )
    for line in saved:
        console.print(line, markup=False)


def detection_document(
    arch: Any, spec: DetectSpec, result: DetectResult, cost: dict, latency: Any, paths: dict
) -> dict:
    from dataclasses import asdict

    return {
        "model": arch.backbone,
        "archid": arch.archid,
        "summary": arch.attention.summary(),
        "arch": arch.to_dict(),
        "dataset": spec.dataset,
        **result.val,
        "test": result.test,
        "params": cost["total"].params,
        "macs": cost["total"].macs,
        "parts": {part: asdict(c) for part, c in cost.items() if part != "total"},
        "attention_params": cost["total"].attention_params,
        "attention_macs": cost["total"].attention_macs,
        "latency_ms": latency.median_ms,
        "latency_p90_ms": latency.p90_ms,
        "latency": latency.to_dict(),
        "images_per_s": result.images_per_s,
        "train_s": sum(result.epoch_seconds),
        "epoch_seconds": result.epoch_seconds,
        "epoch_losses": result.epoch_losses,
        "run": result.extras,
        "detect": spec.to_dict(),
        "saved": paths,
        "conventions": CONVENTIONS,
    }


def epoch_printer(epochs: int) -> Any:
    def show(report: Any) -> None:
        output.stderr().print(
            f"epoch {report.epoch}/{epochs}: train loss {report.loss:.4f}, {report.seconds:.1f} s", markup=False
        )

    return show
