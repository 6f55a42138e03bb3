"""Turning a trial into an ArchSpec, and walking every candidate a space holds.

Only parameters that apply to what was already sampled are sampled: no spatial options for `se`,
no channel options for a spatial-only CBAM, no placement without attention. Optuna then sees a
conditional space, and two candidates that differ only in unused options never both exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, Protocol

from cbam_bench.attention.registry import SPACE_KEYS, attention_kind
from cbam_bench.space.codec import decode
from cbam_bench.space.model import DEFAULT_TRIALS, PARAM_FIELDS, Space
from cbam_bench.spec import BETWEEN_STAGES, ArchSpec, AttentionSpec, PlacementSpec

# AttentionSpec's defaults as plain values: a probe of what is chosen so far, cheap enough to build
# once per field while walking tens of thousands of candidates (each value was checked when the
# file was read).
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(AttentionSpec)}


class Suggests(Protocol):
    """What suggest_arch needs from a trial: optuna.Trial fits, and so does a replay for counting."""

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...


def _pick(trial: Suggests, space: Space, key: str) -> Any:
    choices = space.params.get(key)
    if choices is None:
        return None
    if len(choices) == 1:
        return choices[0]
    return trial.suggest_categorical(key, list(choices))


def suggest_fields(trial: Suggests, space: Space) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Sample the arch, attention and placement fields that apply; unset fields keep spec defaults."""
    fields: dict[str, dict[str, Any]] = {"arch": {}, "attention": {}, "placement": {}}

    def take(key: str) -> None:
        value = _pick(trial, space, key)
        if value is not None:
            group, field = PARAM_FIELDS[key]
            fields[group][field] = decode(key, value)

    take("backbone.width")
    take("backbone.stride_on")
    variant = _pick(trial, space, "attention.variant")
    attention = fields["attention"]
    if variant is not None:
        attention.update(space.variants[variant])
    else:
        take("attention.kind")
    attention.setdefault("kind", "none")
    # In SPACE_KEYS order, each field the kind's registry entry applies to what is chosen so far.
    kind = attention_kind(attention["kind"])
    for name, key in SPACE_KEYS.items():
        if name not in attention and name in kind.applied(SimpleNamespace(**(_DEFAULTS | attention))):
            take(key)
    if attention["kind"] != "none":
        take("placement.stages")
        take("placement.position")
        if fields["placement"].get("position") != BETWEEN_STAGES:  # there, a module follows a stage's last block
            take("placement.blocks")
    return fields["arch"], attention, fields["placement"]


def suggest_arch(trial: Suggests, space: Space) -> ArchSpec:
    """The candidate a trial describes, before it is fitted to the dataset (classes, channels, size)."""
    arch, attention, placement = suggest_fields(trial, space)
    return ArchSpec(space.backbone, attention=AttentionSpec(**attention), placement=PlacementSpec(**placement), **arch)


class _Replay:
    """A stand-in trial that replays chosen indices, takes the first choice after them, and records."""

    def __init__(self, prefix: list[int]) -> None:
        self.prefix = prefix
        self.widths: list[int] = []
        self.params: dict[str, Any] = {}

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        depth = len(self.widths)
        index = self.prefix[depth] if depth < len(self.prefix) else 0
        self.widths.append(len(choices))
        self.params[name] = choices[index]
        return choices[index]


def iter_candidates(space: Space) -> Iterator[dict[str, Any]]:
    """Every distinct assignment of sampled parameters (what an exhaustive search visits)."""
    stack: list[list[int]] = [[]]
    while stack:
        prefix = stack.pop()
        replay = _Replay(prefix)
        suggest_fields(replay, space)
        yield replay.params
        for depth in range(len(prefix), len(replay.widths)):
            base = prefix + [0] * (depth - len(prefix))
            stack.extend(base + [alt] for alt in range(1, replay.widths[depth]))


def count_candidates(space: Space) -> int:
    return sum(1 for _ in iter_candidates(space))


def default_trials(space: Space) -> int:
    """`trials` from the file; else every candidate once for grid, else DEFAULT_TRIALS."""
    if space.trials is not None:
        return space.trials
    return count_candidates(space) if space.sampler == "grid" else DEFAULT_TRIALS
