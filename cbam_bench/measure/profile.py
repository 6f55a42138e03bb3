"""profile(spec): everything a network costs, overall and per stage or block, plus the paper's row."""

from __future__ import annotations

from dataclasses import dataclass, field

from cbam_bench.attention.fused.dispatch import set_fused
from cbam_bench.errors import SpecError, allowed
from cbam_bench.measure import BREAKDOWNS
from cbam_bench.measure.counting import Cost, count_cost
from cbam_bench.measure.latency import Latency, measure_latency
from cbam_bench.models.build import block_sites, build_model
from cbam_bench.paper import COMPLEXITY, PAPER_STRIDE_ON, ComplexityRow
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec

OTHER_ROW = "stem + head"


@dataclass(frozen=True)
class CostRow:
    """One row of a breakdown: a stage, a block, or what lies outside every block."""

    name: str
    cost: Cost
    modules: int  # attention modules inside


@dataclass(frozen=True)
class Profile:
    spec: ArchSpec
    total: Cost
    modules: int
    rows: list[CostRow] = field(default_factory=list)
    latency: Latency | None = None

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, self.spec.in_channels, self.spec.input_size, self.spec.input_size)


def profile(
    spec: ArchSpec, *, by: str = "total", latency: bool = False, repeats: int = 50, fused: str = "auto"
) -> Profile:
    """Count params, MACs and element-wise work of `spec`'s network; optionally time it on the CPU,
    its CBAM modules in the `fused` mode."""
    if by not in BREAKDOWNS:
        raise SpecError("--by", f"{by!r} is not allowed; allowed: {allowed(BREAKDOWNS)}")
    model = build_model(spec)
    sites = block_sites(model, spec)
    shape = (1, spec.in_channels, spec.input_size, spec.input_size)
    costs = count_cost(model, shape, [s.name for s in sites])
    placed = {s.name for s in sites if getattr(s.block, "attention", None) is not None}
    rows: list[CostRow] = []
    if by == "block":
        rows = [CostRow(s.name, costs[s.name], int(s.name in placed)) for s in sites]
    elif by == "stage":
        for stage in sorted({s.stage for s in sites}):
            members = [s for s in sites if s.stage == stage]
            total = sum((costs[s.name] for s in members[1:]), costs[members[0].name])
            rows.append(CostRow(f"stage {stage}", total, sum(s.name in placed for s in members)))
    if rows:
        inside = sum((costs[s.name] for s in sites[1:]), costs[sites[0].name])
        rows.append(CostRow(OTHER_ROW, costs[""] - inside, 0))
    timing = measure_latency(set_fused(model, fused), shape, repeats=repeats) if latency else None
    return Profile(spec=spec, total=costs[""], modules=len(placed), rows=rows, latency=timing)


def paper_row(spec: ArchSpec) -> ComplexityRow:
    """The paper's complexity row for the same network, or SpecError listing the networks it has."""
    key = (spec.backbone, spec.width, spec.attention.kind)
    row = COMPLEXITY.get(key)
    paper_spec = ArchSpec(
        spec.backbone,
        width=spec.width,
        stride_on=spec.stride_on,
        num_classes=1000,
        input_size=224,
        in_channels=3,
        # AttentionSpec's defaults are the paper's module: r=16, MLP bias, avg+max, k=7, channel first.
        attention=AttentionSpec(kind=spec.attention.kind)
        if spec.attention.kind in ("none", "se", "cbam")
        else spec.attention,
        placement=PlacementSpec(),
    )
    if row is None or paper_spec.archid != spec.archid:
        networks = sorted({f"{b}" + (f" --width {w:g}" if w != 1.0 else "") for b, w, _ in COMPLEXITY})
        raise SpecError(
            "--reference paper",
            "the paper has no row for this network; it reports "
            f"{allowed(networks)} with --attention none, se or cbam in its own settings "
            "(r=16, avg+max pooling, k=7, channel-spatial, every block, 224x224, 1000 classes)",
        )
    return row


def default_stride_on(reference: bool) -> str:
    """Bottleneck layout when the user did not choose: the paper's under --reference, else torchvision's."""
    return PAPER_STRIDE_ON if reference else "3x3"
