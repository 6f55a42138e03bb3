"""Parameters, multiply-adds and the element-wise work attention adds, from one fvcore trace.

Conventions (every report names them):
- `macs` ("paper" convention): multiply-adds of convolutions and linear/matmul layers only, one
  image, eval mode, uncompiled model. This is what the CBAM paper prints as GFLOPs.
- `fvcore_flops`: fvcore's own total with its default handles (one multiply-add counts as one
  "flop", batch norm and adaptive pooling are counted too).
- `elementwise_ops`: inside attention modules only, one op per element each primitive writes
  (sigmoid, multiply, add, divide, ReLU, h-swish, norm) or reads (mean, max, power, log-sum-exp pooling);
  a sum of k values costs k - 1 adds, so summing P pooled MLP outputs of C values costs (P - 1) * C
  and an average (sum, then divide) still one op per element read.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from cbam_bench.attention.registry import COMMON_ELEMENTWISE, KINDS

with warnings.catch_warnings():
    # fvcore imports TorchScript pieces that warn about their deprecation on recent torch.
    warnings.simplefilter("ignore")
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as FVCORE_DEFAULT_OPS

MAC_OPS = ("conv", "linear", "addmm", "matmul", "mm", "bmm", "einsum")
ELEMENTWISE = "elementwise:"


def _numel(value: Any) -> int:
    sizes = value.type().sizes() if value.isCompleteTensor() else None
    return math.prod(sizes) if sizes is not None else 0


def _per_output_element(inputs: list, outputs: list) -> int:
    return _numel(outputs[0])


def _per_input_element(inputs: list, outputs: list) -> int:
    return _numel(inputs[0])


def _adds_of_a_sum(inputs: list, outputs: list) -> int:
    return _numel(inputs[0]) - _numel(outputs[0])


def _elementwise_handle(op: str, count: Callable[[list, list], int]) -> Callable[[list, list], Counter]:
    """Count under an 'elementwise:' key, keeping fvcore's own count of the op where it has one."""
    default = FVCORE_DEFAULT_OPS.get(f"aten::{op}")

    def handle(inputs: list, outputs: list) -> Counter:
        out = Counter({ELEMENTWISE + op.rstrip("_"): count(inputs, outputs)})
        if default is not None:
            own = default(inputs, outputs)
            out.update(own if isinstance(own, Counter) else {op: own})
        return out

    return handle


_COUNT_RULES: dict[str, Callable[[list, list], int]] = {
    "written": _per_output_element,
    "read": _per_input_element,
    "sum": _adds_of_a_sum,
}


def elementwise_handles() -> dict[str, Callable[[list, list], Counter]]:
    """fvcore handles for every primitive some attention kind calls, counted as its registry entry says."""
    rules = dict(COMMON_ELEMENTWISE)
    for kind in KINDS.values():
        rules.update(kind.elementwise)
    return {f"aten::{op}": _elementwise_handle(op, _COUNT_RULES[rule]) for op, rule in rules.items()}


ELEMENTWISE_HANDLES = elementwise_handles()


@dataclass(frozen=True)
class Cost:
    """Counts for one module (or the whole network); attention_* is the part inside attention."""

    params: int
    macs: int
    fvcore_flops: int
    attention_params: int
    attention_macs: int
    elementwise_ops: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple())))

    def __sub__(self, other: Cost) -> Cost:
        return Cost(*(a - b for a, b in zip(self.as_tuple(), other.as_tuple())))

    def as_tuple(self) -> tuple[int, ...]:
        return (
            self.params,
            self.macs,
            self.fvcore_flops,
            self.attention_params,
            self.attention_macs,
            self.elementwise_ops,
        )


def _is_attention(name: str) -> bool:
    return name == "attention" or name.endswith(".attention")


def count_cost(
    model: nn.Module, input_shape: tuple[int, ...], module_names: list[str] | None = None
) -> dict[str, Cost]:
    """Cost of the whole model (key "") and of each named module, for one input of `input_shape`.

    The model is put in eval mode and traced once; it must not be torch.compile'd.
    """
    names = ["", *(module_names or [])]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, torch.zeros(input_shape))
            analysis.set_op_handle(**ELEMENTWISE_HANDLES)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
            by_module = analysis.by_module_and_operator()
    finally:
        model.train(was_training)

    attention_names = [n for n, _ in model.named_modules() if _is_attention(n)]
    param_counts = {n: sum(p.numel() for p in m.parameters()) for n, m in model.named_modules()}

    def cost_of(name: str) -> Cost:
        prefix = f"{name}." if name else ""
        inside = [a for a in attention_names if a == name or a.startswith(prefix) or name.startswith(f"{a}.")]
        ops = by_module.get(name, Counter())
        att_ops = sum((by_module.get(a, Counter()) for a in inside), Counter())
        return Cost(
            params=param_counts[name],
            macs=int(sum(ops[k] for k in MAC_OPS)),
            fvcore_flops=int(sum(v for k, v in ops.items() if not k.startswith(ELEMENTWISE))),
            attention_params=sum(param_counts[a] for a in inside),
            attention_macs=int(sum(att_ops[k] for k in MAC_OPS)),
            elementwise_ops=int(sum(v for k, v in att_ops.items() if k.startswith(ELEMENTWISE))),
        )

    return {name: cost_of(name) for name in names}
