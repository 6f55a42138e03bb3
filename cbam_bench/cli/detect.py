"""`cbam-bench detect MODEL`: train a Faster R-CNN over a cbam-bench backbone and score it with COCOeval."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.option_specs import arch_from_options
from cbam_bench.cli.options import (
    AttentionOpt,
    BlocksOpt,
    BnMomentumOpt,
    DescriptorOpt,
    KernelOpt,
    MinHiddenOpt,
    ModelArg,
    OrderOpt,
    PoolingOpt,
    PositionOpt,
    ReductionOpt,
    StagesOpt,
    StrideOnOpt,
    WeightsOpt,
)
from cbam_bench.cli.study_options import (
    ForceOpt,
    JsonOpt,
)
from cbam_bench.detection.recipe import DEFAULT_WIDTH, DetectSpec
from cbam_bench.errors import SpecError
from cbam_bench.outputs import CHECKPOINT, FileKind, check_output

if TYPE_CHECKING:
    from cbam_bench.detection.train import DetectResult

D = DetectSpec()
TRAIN, DATA = "Training", "Data"
JSON_FILE = FileKind("JSON", suffixes=(".json",))
LATENCY_RUNS = (3, 20)  # warm-up and timed forwards: a detector forward costs tens of classifier ones
CONVENTIONS = {
    "map": "COCO mAP@[.5:.95] from pycocotools' COCOeval (bbox), on the validation split; test_* on the test split",
    "macs": "paper convention: multiply-adds of convolutions and linear layers, one image; the box head on "
    "the evaluation proposal budget",
    "latency_ms": "median forward time of one image on the training device, fp32, inference mode",
    "images_per_s": "training images per second: median over epochs, evaluation excluded",
}
EXAMPLES = """
Examples:

  cbam-bench detect resnet18 --attention cbam

  cbam-bench detect resnet18 --attention se --seed 1 --save-detections dets.json --save-annotations gt.json

  cbam-bench detect resnet50 --dataset coco:data/mycoco --image-size 320 --device cuda --json
"""

DetectDatasetOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        "-d",
        help=f"digits-detect (built in) or coco:PATH, a folder with annotations/instances_train*.json and instances_val*.json and the images in PATH/train*/ and PATH/val*/ (default: {D.dataset}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DetectImageSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--image-size",
        help=f"Canvas side in pixels; COCO images are resized to it (default: {D.image_size}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DetectTrainImagesOpt = Annotated[
    int | None,
    typer.Option(
        "--train-images",
        help=f"digits-detect training canvases (default: {D.train_images}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DetectValImagesOpt = Annotated[
    int | None,
    typer.Option(
        "--val-images",
        help=f"digits-detect validation and test canvases, each (default: {D.val_images}).",
        rich_help_panel=DATA,
        show_default=False,
    ),
]
DetectEpochsOpt = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        "-e",
        help=f"Passes over the training split (default: {D.epochs}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DetectBatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        "-b",
        help=f"Training batch size (default: {D.batch_size}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DetectLrOpt = Annotated[
    float | None,
    typer.Option(
        "--lr",
        help=f"Peak learning rate of SGD, after warm-up (default: {D.lr:g}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DetectSeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed",
        help=f"Seed of initialisation and batch order (default: {D.seed}).",
        rich_help_panel=TRAIN,
        show_default=False,
    ),
]
DetectDeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device", help=f"auto, cpu or cuda (default: {D.device}).", rich_help_panel=TRAIN, show_default=False
    ),
]
DetectWidthOpt = Annotated[
    float | None,
    typer.Option(
        "--width",
        help=f"Backbone stage-width multiplier (default: {DEFAULT_WIDTH:g} for detection).",
        show_default=False,
    ),
]
PathOpt = Annotated[str | None, typer.Option(show_default=False)]

_FLAGS = {
    "detect.dataset": "--dataset",
    "detect.image_size": "--image-size",
    "detect.train_images": "--train-images",
    "detect.val_images": "--val-images",
    "detect.epochs": "--epochs",
    "detect.batch_size": "--batch-size",
    "detect.lr": "--lr",
    "detect.seed": "--seed",
    "detect.device": "--device",
}


def detect_spec_from_options(**given: Any) -> DetectSpec:
    """DetectSpec's defaults with the options that were given; errors name the option."""
    try:
        return DetectSpec(**{k: v for k, v in given.items() if v is not None})
    except SpecError as exc:
        raise exc.rekeyed(_FLAGS.get(exc.key, exc.key)) from None


def _check_paths(paths: dict[str, str | None], force: bool) -> None:
    for option, path in paths.items():
        if path is not None:
            check_output(
                Path(path),
                option,
                CHECKPOINT if option == "--save" else JSON_FILE,
                force=force,
                make_folders=option == "--save",
            )


def _write_json(path: str | None, doc: object) -> None:
    import json as jsonlib

    from cbam_bench.files import write_atomic

    if path is not None:
        write_atomic(path, [jsonlib.dumps(doc)])


def _save_detector(path: str, model: Any, arch: Any, spec: DetectSpec, result: DetectResult) -> None:
    import torch

    from cbam_bench.files import atomic_write

    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    payload = {
        "format": "cbam-bench-detector",
        "version": 1,
        "arch": arch.to_dict(),
        "detect": spec.to_dict(),
        "state_dict": state,
        "metrics": {"val": result.val, "test": result.test},
    }
    with atomic_write(path) as f:
        torch.save(payload, f)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _render(arch: Any, spec: DetectSpec, result: DetectResult, cost: dict, latency: Any, saved: list[str]) -> None:
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
    console.print(
        output.table(
            f"detect {arch.backbone} + {arch.attention.summary()}",
            ["", "val", "test"],
            rows,
            caption="mAP in %, pycocotools COCOeval (bbox); MACs at the evaluation proposal budget",
        )
    )
    run = result.extras
    console.print(
        f"{spec.dataset}: {run['train_images']:,} training, {run['val_images']:,} validation images of "
        f"{spec.image_size} px; {run['device']}, {run['precision']}, batch {run['batch_size']}, lr {spec.lr:g}, "
        f"seed {spec.seed}; archid {arch.archid}.",
        markup=False,
    )
    for line in saved:
        console.print(line, markup=False)


def _document(arch: Any, spec: DetectSpec, result: DetectResult, cost: dict, latency: Any, paths: dict) -> dict:
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


@reports_errors
def detect(
    model: ModelArg,
    attention: AttentionOpt = None,
    reduction: ReductionOpt = None,
    min_hidden: MinHiddenOpt = None,
    pooling: PoolingOpt = None,
    descriptor: DescriptorOpt = None,
    kernel: KernelOpt = None,
    order: OrderOpt = None,
    bn_momentum: BnMomentumOpt = None,
    stages: StagesOpt = None,
    blocks: BlocksOpt = None,
    position: PositionOpt = None,
    width: DetectWidthOpt = None,
    stride_on: StrideOnOpt = None,
    weights: WeightsOpt = None,
    dataset: DetectDatasetOpt = None,
    image_size: DetectImageSizeOpt = None,
    train_images: DetectTrainImagesOpt = None,
    val_images: DetectValImagesOpt = None,
    epochs: DetectEpochsOpt = None,
    batch_size: DetectBatchOpt = None,
    lr: DetectLrOpt = None,
    seed: DetectSeedOpt = None,
    device: DetectDeviceOpt = None,
    save: Annotated[
        str | None,
        typer.Option(
            "--save", help="Write the detector's weights, ArchSpec and recipe to this file.", show_default=False
        ),
    ] = None,
    save_detections: Annotated[
        str | None,
        typer.Option(
            "--save-detections",
            help="Write the validation detections in COCO results format (JSON).",
            show_default=False,
        ),
    ] = None,
    save_annotations: Annotated[
        str | None,
        typer.Option(
            "--save-annotations",
            help="Write the validation ground truth in COCO format (JSON), to re-score with pycocotools.",
            show_default=False,
        ),
    ] = None,
    json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Train Faster R-CNN (torchvision's, with a feature pyramid) over a backbone and report COCO mAP.

    The backbone carries attention as --attention and the placement options say; mAP@[.5:.95], @.5,
    @.75 and by object size come from pycocotools' COCOeval on the validation split (and on the test
    split of digits-detect), beside params, MACs, latency and training speed.
    """
    from cbam_bench.detection.model import check_detection_backbone, with_input_channels
    from cbam_bench.detection.train import load_for, train_detector
    from cbam_bench.device import resolve_device
    from cbam_bench.measure.profile import default_stride_on

    arch = arch_from_options(
        model,
        attention=attention,
        reduction=reduction,
        min_hidden=min_hidden,
        pooling=pooling,
        descriptor=descriptor,
        kernel=kernel,
        order=order,
        bn_momentum=bn_momentum,
        stages=stages,
        blocks=blocks,
        position=position,
        width=DEFAULT_WIDTH if width is None else width,
        stride_on=stride_on or default_stride_on(False),
    )
    check_detection_backbone(arch)
    spec = detect_spec_from_options(
        dataset=dataset,
        image_size=image_size,
        train_images=train_images,
        val_images=val_images,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
    )
    paths = {"--save": save, "--save-detections": save_detections, "--save-annotations": save_annotations}
    _check_paths(paths, force)
    try:
        torch_device = resolve_device(spec.device)
    except SpecError as exc:
        raise exc.rekeyed("--device") from None
    data = load_for(spec, torch_device)
    net, result = train_detector(
        arch,
        spec,
        device=torch_device,
        data=data,
        weights=weights,
        on_epoch=None if json else _epoch_printer(spec.epochs),
    )
    _report(net, with_input_channels(arch, data.in_channels), spec, result, data, paths, json)


def _report(net: Any, arch: Any, spec: DetectSpec, result: DetectResult, data: Any, paths: dict, json: bool) -> None:
    """Count and time the trained detector, write the files asked for, and print the result."""
    from cbam_bench.detection.cost import detector_cost
    from cbam_bench.measure.latency import measure_latency

    cost = detector_cost(net, (data.image_size, data.image_size), data.in_channels)
    latency = measure_latency(
        net,
        (1, data.in_channels, data.image_size, data.image_size),
        device=result.extras["device"],
        warmup=LATENCY_RUNS[0],
        repeats=LATENCY_RUNS[1],
    )
    save, save_detections, save_annotations = paths["--save"], paths["--save-detections"], paths["--save-annotations"]
    saved = []
    if save is not None:
        _save_detector(save, net, arch, spec, result)
        saved.append(f"Saved the detector to {save}.")
    _write_json(save_detections, result.detections)
    _write_json(save_annotations, data.val.ground_truth)
    saved += [
        f"Wrote {what} to {p} (COCO format)."
        for what, p in (
            ("the validation detections", save_detections),
            ("the validation ground truth", save_annotations),
        )
        if p
    ]
    if json:
        output.print_json(_document(arch, spec, result, cost, latency, paths))
        return
    _render(arch, spec, result, cost, latency, saved)


def _epoch_printer(epochs: int) -> Any:
    def show(report: Any) -> None:
        output.stderr().print(
            f"epoch {report.epoch}/{epochs}: train loss {report.loss:.4f}, {report.seconds:.1f} s", markup=False
        )

    return show


detect.__doc__ = (detect.__doc__ or "") + EXAMPLES
