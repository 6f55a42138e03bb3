"""`cbam-bench detect MODEL`: train a Faster R-CNN over a cbam-bench backbone and score it with COCOeval."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cbam_bench.cli import output
from cbam_bench.cli.detect_options import (
    DetectBatchOpt,
    DetectDatasetOpt,
    DetectDeviceOpt,
    DetectEpochsOpt,
    DetectImageSizeOpt,
    DetectLrOpt,
    DetectSeedOpt,
    DetectTrainImagesOpt,
    DetectValImagesOpt,
    DetectWidthOpt,
    detect_spec_from_options,
)
from cbam_bench.cli.detect_output import detection_document, epoch_printer, render_detection
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

JSON_FILE = FileKind("JSON", suffixes=(".json",))
LATENCY_RUNS = (3, 20)  # warm-up and timed forwards: a detector forward costs tens of classifier ones
EXAMPLES = """
Examples:

  cbam-bench detect resnet18 --attention cbam

  cbam-bench detect resnet18 --attention se --seed 1 --save-detections dets.json --save-annotations gt.json

  cbam-bench detect resnet50 --dataset coco:data/mycoco --image-size 320 --device cuda --json
"""

PathOpt = Annotated[str | None, typer.Option(show_default=False)]


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
        on_epoch=None if json else epoch_printer(spec.epochs),
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
        output.print_json(detection_document(arch, spec, result, cost, latency, paths))
        return
    render_detection(arch, spec, result, cost, latency, saved)


output.add_examples(detect, EXAMPLES)
