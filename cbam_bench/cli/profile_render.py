"""`cbam-bench profile`'s output: the counts as tables (totals, per stage or block, the paper's row
beside ours) or as one JSON document, each count with its convention."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from cbam_bench.cli import output
from cbam_bench.models.catalog import backbone_info
from cbam_bench.paper import PAPER_STRIDE_ON

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


def reference_dict(result: Profile, row: ComplexityRow) -> dict[str, Any]:
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


def render(result: Profile, reference: dict[str, Any] | None, weights_note: str | None) -> None:
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


def json_doc(result: Profile, reference: dict[str, Any] | None) -> dict[str, Any]:
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
