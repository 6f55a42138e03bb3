"""The measures a study can optimise or budget, with their direction and convention, in one place.

Search spaces name them in `objectives` and `budgets`, trials store them under these names as
user_attrs, and reports label columns with them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One measure: its better direction, whether it is known before training, and what it means."""

    name: str
    direction: str  # "max" or "min"
    cheap: bool  # measured before training, so a budget on it can skip training
    label: str
    convention: str

    @property
    def optuna_direction(self) -> str:
        return "maximize" if self.direction == "max" else "minimize"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", "max", False, "accuracy", "top-1 on the validation split, a fraction; mean over seeds"),
        Metric("top5", "max", False, "top-5", "top-5 on the validation split, a fraction; mean over seeds"),
        Metric("macs", "min", True, "MACs", "multiply-adds of convolutions and linear layers, one image (paper convention)"),
        Metric("params", "min", True, "params", "every parameter, exact"),
        Metric("latency_ms", "min", True, "latency (ms)", "median forward time of one batch, milliseconds"),
        Metric("elementwise_ops", "min", True, "element-wise ops", "inside attention: sigmoid, multiply, add, norm, pooling"),
    )
}

BUDGET_METRICS = tuple(name for name, m in METRICS.items() if m.cheap)
