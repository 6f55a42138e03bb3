"""`cbam-bench profile MODEL`: parameters, multiply-adds, element-wise work and latency of one network."""

from __future__ import annotations

from typing import Annotated

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
    NumClassesOpt,
    OrderOpt,
    PoolingOpt,
    PositionOpt,
    ReductionOpt,
    StagesOpt,
    StrideOnOpt,
    WeightsOpt,
    WidthOpt,
)
from cbam_bench.cli.profile_detection import TASKS, parse_input_size, profile_detection
from cbam_bench.cli.profile_render import json_doc, reference_dict, render
from cbam_bench.cli.study_options import JsonOpt
from cbam_bench.cli.train_options import TRAIN_DEFAULTS, FusedOpt
from cbam_bench.errors import SpecError, allowed, check_choice
from cbam_bench.measure import BREAKDOWNS
from cbam_bench.train_spec import FUSED_MODES

EXAMPLES = """
Examples:

  cbam-bench profile resnet50 --attention cbam --reference paper

  cbam-bench profile cifar_resnet20 --attention se --reduction 8 --by block

  cbam-bench profile mobilenet_v2 --attention cbam --stages 3,4 --latency --json

  cbam-bench profile resnet50 --attention cbam --task detection --input-size 800,1333
"""


def _check_choices(reference: str | None, fused: str | None, task: str) -> None:
    if reference not in (None, "paper"):
        raise SpecError("--reference", f"{reference!r} is not allowed; allowed: paper")
    check_choice("--fused", fused or TRAIN_DEFAULTS.fused, FUSED_MODES)
    if task not in TASKS:
        raise SpecError("--task", f"{task!r} is not allowed; allowed: {allowed(TASKS)}")


@reports_errors
def profile(
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
    width: WidthOpt = None,
    stride_on: StrideOnOpt = None,
    input_size: Annotated[
        str | None,
        typer.Option(
            "--input-size",
            help="Input resolution: H (default 224 for ImageNet models, 32 for CIFAR ones); H or H,W with --task detection (default 96).",
            show_default=False,
        ),
    ] = None,
    num_classes: NumClassesOpt = None,
    weights: WeightsOpt = None,
    by: Annotated[str, typer.Option("--by", help=f"Rows: {allowed(BREAKDOWNS)}.")] = "total",
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="Show the paper's row for the same network: paper.", show_default=False),
    ] = None,
    latency: Annotated[
        bool, typer.Option("--latency", help="Also time batch-1 inference on the CPU (median, p90).")
    ] = False,
    fused: FusedOpt = None,
    task: Annotated[
        str,
        typer.Option("--task", help="classification, or detection: Faster R-CNN + FPN over the backbone, per part."),
    ] = "classification",
    json: JsonOpt = False,
) -> None:
    """Count parameters, multiply-adds and attention's element-wise work of one network."""
    from cbam_bench.measure.profile import default_stride_on, paper_row
    from cbam_bench.measure.profile import profile as run_profile
    from cbam_bench.models.build import build_model, load_backbone_weights

    _check_choices(reference, fused, task)
    size = parse_input_size(input_size, task)
    spec = arch_from_options(
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
        width=width,
        stride_on=stride_on or default_stride_on(reference == "paper"),
        input_size=None if size is None or task == "detection" else size[0],
        num_classes=None if task == "detection" else num_classes,
    )
    if task == "detection":
        if reference is not None or by != "total" or latency:
            raise SpecError(
                "--reference, --by and --latency", "not allowed with --task detection; allowed: the per-part table"
            )
        profile_detection(spec, size, num_classes, json)
        return
    ref_row = paper_row(spec) if reference == "paper" else None
    weights_note = None
    if weights is not None:
        load_backbone_weights(build_model(spec), weights)
        weights_note = f"weights: {weights} fits this backbone; attention would start fresh"
    result = run_profile(spec, by=by, latency=latency, fused=fused or TRAIN_DEFAULTS.fused)
    ref = reference_dict(result, ref_row) if ref_row is not None else None
    if json:
        output.print_json(json_doc(result, ref))
        return
    render(result, ref, weights_note)


output.add_examples(profile, EXAMPLES)
