"""How measures are shown: units chosen per column, cells, placement labels and captions.

Every table (terminal, Markdown, LaTeX) is built from the same columns and the same caption,
so a number means the same thing wherever it is pasted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cbam_bench.metrics import METRICS, SI_PREFIXES, Objective
from cbam_bench.records import TrialRecord

DASH = "-"


def json_safe(value: Any) -> Any:
    """The value with non-finite floats as None, so every JSON we write is standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """Standard JSON for value on one line, by the C encoder; json_safe only where a float is not finite."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(json_safe(value), allow_nan=False)


def json_document(doc: dict[str, Any]) -> Iterator[str]:
    """doc as JSON text, in chunks: a line per key, and a list's items a line each.

    json.dumps(indent=...) runs in pure Python, 10-20 s for 10,000 trials; a line per item keeps
    the document readable and diffable while every line is encoded in C.
    """
    yield "{"
    for i, (key, value) in enumerate(doc.items()):
        yield ("," if i else "") + "\n  " + json.dumps(str(key)) + ": "
        if isinstance(value, (list, tuple)) and value:
            for j, item in enumerate(value):
                yield ("[" if j == 0 else ",") + "\n    " + json_text(item)
            yield "\n  ]"
        else:
            yield json_text(value)
    yield "\n}\n"


@dataclass(frozen=True)
class Column:
    """A metric column with the divisor and decimals fitted to the values it shows."""

    metric: str
    divisor: float
    unit: str
    decimals: int

    @property
    def header(self) -> str:
        return f"{METRICS[self.metric].label} ({self.unit})" if self.unit else METRICS[self.metric].label

    def cell(self, value: float | None) -> str:
        return DASH if value is None else f"{value / self.divisor:.{self.decimals}f}"


def _decimals(largest: float) -> int:
    return 3 if largest < 10 else 2 if largest < 100 else 1


def column(metric: str, values: Iterable[float | None]) -> Column:
    """Accuracy-like metrics in %, counts with the K/M/G prefix that suits the column's largest value."""
    unit = METRICS[metric].unit
    present = [abs(v) for v in values if v is not None]
    largest = max(present, default=0.0)
    if unit == "%":
        return Column(metric, 0.01, "%", 2)
    if unit == "count":
        divisor, prefix = next(((s, p) for s, p in SI_PREFIXES if largest >= s), (1.0, ""))
        return Column(metric, divisor, prefix, _decimals(largest / divisor) if prefix else 0)
    return Column(metric, 1.0, unit, 2)


def columns(trials: Sequence[TrialRecord], metrics: Sequence[str]) -> list[Column]:
    """Columns for the metrics that at least one trial stores."""
    out = []
    for metric in metrics:
        values = [t.measure(metric) for t in trials]
        if any(v is not None for v in values):
            out.append(column(metric, values))
    return out


def accuracy_cell(trial: TrialRecord, col: Column) -> str:
    """'91.23 ± 0.40' with the std over seeds; '-' for accuracy an over-budget trial never earned."""
    if col.unit == "%" and trial.status == "infeasible":
        return DASH
    text = col.cell(trial.measure(col.metric))
    std, seeds = trial.measure("accuracy_std"), trial.measure("seeds")
    if col.metric == "accuracy" and text != DASH and std is not None and (seeds or 0) > 1:
        text += f" ± {std / col.divisor:.{col.decimals}f}"
    return text


def cells(trial: TrialRecord, cols: Sequence[Column]) -> list[str]:
    return [accuracy_cell(trial, c) for c in cols]


def placement_label(arch: dict[str, Any]) -> str:
    """'2,3/every-2/post-add': stages, blocks in a stage, position in a block; '-' without attention."""
    attention, placement = arch.get("attention") or {}, arch.get("placement") or {}
    if not placement or attention.get("kind") == "none":
        return DASH
    stages = placement.get("stages")
    where = "all" if not stages else ",".join(str(s) for s in stages)
    return f"{where}/{placement.get('blocks', 'all')}/{placement.get('position', '?')}"


def attention_label(summary: str | None, arch: dict[str, Any]) -> str:
    """'cbam avg+max r16 k7 c-s @ 3/all/residual': what the attention is and where it sits."""
    where = placement_label(arch)
    return ("?" if summary is None else summary) + (f" @ {where}" if where != DASH else "")


def latency_setups(trials: Iterable[TrialRecord]) -> list[str]:
    """The distinct conditions the trials' latencies were timed under (see TrialRecord.latency_label)."""
    return sorted({label for t in trials if (label := t.latency_label)})


def seed_counts(trials: Iterable[TrialRecord]) -> list[int]:
    return sorted({int(s) for t in trials if (s := t.measure("seeds")) is not None})


def conventions(trials: Sequence[TrialRecord], metrics: Iterable[str]) -> dict[str, str]:
    """metric -> what it counts; latency with the set-ups these trials were timed under."""
    out = {}
    where = "; ".join(latency_setups(trials)) or "not recorded"
    for metric in metrics:
        text = METRICS[metric].convention
        if metric.startswith("latency"):
            text += f"; here: {where}"
        out[metric] = text
    return out


def _plural(values: list[int], noun: str) -> str:
    text = " or ".join(str(v) for v in values)
    return f"{text} {noun}{'' if values == [1] else 's'}"


def caption(trials: Sequence[TrialRecord], cols: Sequence[Column], objectives: Sequence[Objective]) -> list[str]:
    """One sentence per column naming its unit and convention, then what the front means."""
    lines = [
        "Placement: stages/blocks/position of the attention modules "
        "(residual: end of the residual branch, before the addition, as in the paper)."
    ]
    convention = conventions(trials, [c.metric for c in cols])
    seeds = seed_counts(trials)
    for c in cols:
        unit = f" in {c.unit}" if c.unit and c.unit != "%" else ""
        text = f"{METRICS[c.metric].label}{unit}: {convention[c.metric]}"
        if c.metric == "accuracy" and seeds and seeds != [1]:
            text += f", ± std over {_plural(seeds, 'seed')}"
        lines.append(text + ".")
    arrows = ", ".join(
        f"{METRICS[o.metric].label if o.metric in METRICS else o.metric} "
        f"{'higher' if o.direction == 'max' else 'lower'} is better"
        for o in objectives
    )
    lines.append(
        f"Pareto front over: {arrows}; over-budget, pruned and failed trials are excluded, "
        "and so are trials that reused an earlier trial's measures (the same network)."
    )
    return lines
