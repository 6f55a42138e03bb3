"""`cbam-bench profile MODEL`: parameters, multiply-adds, element-wise work and latency of one network."""

from __future__ import annotations

from dataclasses import asdict
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
from cbam_bench.cli.study_options import (
    JsonOpt,
)
from cbam_bench.cli.train_options import (
    TRAIN_DEFAULTS,
    FusedOpt,
)
from cbam_bench.errors import SpecError, allowed, check_choice
from cbam_bench.measure import BREAKDOWNS
from cbam_bench.models.catalog import backbone_info
from cbam_bench.paper import PAPER_STRIDE_ON
from cbam_bench.train_spec import FUSED_MODES

if TYPE_CHECKING:
    from cbam_bench.measure.profile import Profile
    from cbam_bench.paper import ComplexityRow

CONVENTIONS = {
    "params": "every parameter, exact",
    "macs": "paper convention: multiply-adds of convolutions and linear layers, one image, eval mode",
    "fvcore_flops": "fvcore's own total: one multiply-add = one flop, plus batch norm and adaptive pooling",
    "elementwise_ops": "inside attention only: one op per element of each sigmoid, multiply, add, ReLU, norm, pooling",
}

CAPTION = (
    "MACs (paper): multiply-adds of convolutions and linear layers, one image, eval mode (the paper's GFLOPs).\n"
    "fvcore flops: fvcore's own total, which also counts batch norm and pooling.\n"
    "Element-wise ops: inside attention, one per element of each sigmoid, multiply, add, norm and pooling."
)

EXAMPLES = """
Examples:

  cbam-bench profile resnet50 --attention cbam --reference paper

  cbam-bench profile cifar_resnet20 --attention se --reduction 8 --by block

  cbam-bench profile mobilenet_v2 --attention cbam --stages 3,4 --latency --json

  cbam-bench profile resnet50 --attention cbam --task detection --input-size 800,1333
"""


def _reference_dict(result: Profile, row: ComplexityRow) -> dict[str, Any]:
    ours_params = round(result.total.params / 1e6, 2)
    ours_gflops = round(result.total.macs / 1e9, 3)
    return {
        "table": row.table,
        "row": row.label,
        "paper_params_m": row.params_m,
        "paper_gflops": row.gflops,
        "params_m": ours_params,
        "gflops": ours_gflops,
        "diff_params_m": round(ours_params - row.params_m, 2),
        "diff_gflops": None if row.gflops is None else round(ours_gflops - row.gflops, 3),
        "match": ours_params == row.params_m and (row.gflops is None or ours_gflops == row.gflops),
        "stride_on": result.spec.stride_on,
    }


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


def _totals_table(result: Profile) -> Any:
    """The whole network's counts, with attention's part and share."""
    spec, total = result.spec, result.total
    title = (
        f"{spec.backbone}"
        + (f" (width {spec.width:g})" if spec.width != 1.0 else "")
        + f" + {spec.attention.summary()}"
        + (f" @ {spec.placement.position}, {result.modules} modules" if result.modules else "")
        + f" — {spec.input_size}x{spec.input_size}, archid {spec.archid}"
    )
    att = total.attention_params or total.elementwise_ops
    rows = [
        [
            "params",
            f"{total.params:,}",
            f"{total.params / 1e6:.2f} M",
            f"{total.attention_params:,}" if att else "",
            _share(total.attention_params, total.params) if att else "",
        ],
        [
            "MACs (paper)",
            f"{total.macs:,}",
            f"{total.macs / 1e9:.3f} G",
            f"{total.attention_macs:,}" if att else "",
            _share(total.attention_macs, total.macs) if att else "",
        ],
        ["fvcore flops", f"{total.fvcore_flops:,}", f"{total.fvcore_flops / 1e9:.3f} G", "", ""],
        ["element-wise ops", "", "", f"{total.elementwise_ops:,}" if att else "", ""],
    ]
    caption = CAPTION
    if spec.stride_on == "1x1" and backbone_info(spec.backbone).bottleneck:
        caption += "\nBottleneck stride on the first 1x1 convolution (the paper's layout)."
    return output.table(title, ["", "network", "", "attention", "share"], rows, caption=caption)


def _rows_table(result: Profile) -> Any:
    """The counts per stage or per block."""
    columns = ["", "params", "attn params", "MACs", "attn MACs", "elem ops", "mods"]
    body = [
        [
            r.name,
            output.human(r.cost.params),
            f"{output.human(r.cost.attention_params)} ({_share(r.cost.attention_params, r.cost.params)})",
            output.human(r.cost.macs),
            f"{output.human(r.cost.attention_macs)} ({_share(r.cost.attention_macs, r.cost.macs)})",
            output.human(r.cost.elementwise_ops),
            str(r.modules),
        ]
        for r in result.rows
    ]
    kind = "stage" if result.rows[0].name.startswith("stage") else "block"
    return output.table(
        f"By {kind}", columns, body, caption="(%): attention's share of the row; MACs in the paper's convention"
    )


def _reference_table(reference: dict[str, Any]) -> tuple[Any, str]:
    """The paper's row beside ours, and the one-line verdict under it."""
    gf = reference["paper_gflops"]
    body = [
        ["paper " + reference["table"], f"{reference['paper_params_m']:.2f}", "-" if gf is None else f"{gf:.3f}"],
        ["cbam-bench", f"{reference['params_m']:.2f}", f"{reference['gflops']:.3f}"],
        [
            "difference",
            f"{reference['diff_params_m']:+.2f}",
            "-" if reference["diff_gflops"] is None else f"{reference['diff_gflops']:+.3f}",
        ],
    ]
    verdict = "matches the paper to the printed digit" if reference["match"] else "differs from the paper"
    note = f"{reference['row']}: {verdict}"
    if reference["stride_on"] != PAPER_STRIDE_ON:
        note += f"; the paper counted --stride-on {PAPER_STRIDE_ON}, this is {reference['stride_on']}"
    table = output.table(f"Reference: {reference['row']}", ["", "Param. (M)", "GFLOPs (= G MACs)"], body)
    return table, note


def _render(result: Profile, reference: dict[str, Any] | None, weights_note: str | None) -> None:
    console = output.stdout()
    output.print_table(console, _totals_table(result))
    if result.rows:
        output.print_table(console, _rows_table(result))
    if reference is not None:
        table, note = _reference_table(reference)
        output.print_table(console, table)
        console.print(note)
    if result.latency is not None:
        lat = result.latency
        console.print(
            f"latency (batch {lat.batch}, {lat.device}, {lat.dtype}, {lat.threads} threads, torch {lat.torch_version}"
            f"{'' if lat.fused is None else ', fused ' + lat.fused}): "
            f"median {lat.median_ms:.2f} ms, p90 {lat.p90_ms:.2f} ms, IQR {lat.iqr_ms:.2f} ms over {lat.repeats} runs"
        )
    if weights_note:
        console.print(weights_note)


def _check_choices(reference: str | None, fused: str | None, task: str) -> None:
    if reference not in (None, "paper"):
        raise SpecError("--reference", f"{reference!r} is not allowed; allowed: paper")
    check_choice("--fused", fused or TRAIN_DEFAULTS.fused, FUSED_MODES)
    if task not in TASKS:
        raise SpecError("--task", f"{task!r} is not allowed; allowed: {allowed(TASKS)}")


def _json_doc(result: Profile, reference: dict[str, Any] | None) -> dict[str, Any]:
    """--json: the counts with their conventions, the rows, the paper's row and the latency where asked."""
    spec = result.spec
    doc: dict[str, Any] = {
        "model": spec.backbone,
        "archid": spec.archid,
        "arch": spec.to_dict(),
        "input_shape": list(result.input_shape),
        "attention_modules": result.modules,
        **asdict(result.total),
        "conventions": CONVENTIONS,
    }
    if result.rows:
        doc["rows"] = [{"name": r.name, "attention_modules": r.modules, **asdict(r.cost)} for r in result.rows]
    if reference is not None:
        doc["reference"] = reference
    if result.latency is not None:
        doc["latency_ms"] = result.latency.median_ms
        doc["latency_p90_ms"] = result.latency.p90_ms
        doc["latency"] = result.latency.to_dict()
    return doc


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
    ref = _reference_dict(result, ref_row) if ref_row is not None else None
    if json:
        output.print_json(_json_doc(result, ref))
        return
    _render(result, ref, weights_note)


output.add_examples(profile, EXAMPLES)
