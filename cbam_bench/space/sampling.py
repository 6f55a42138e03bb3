"""Turning a trial into an ArchSpec, and walking every candidate a space holds.

Only parameters that apply to what was already sampled are sampled: no spatial options for `se`,
no channel options for a spatial-only CBAM, no placement without attention. Optuna then sees a
conditional space, and two candidates that differ only in unused options never both exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from cbam_bench.space.model import DEFAULT_TRIALS, PARAM_FIELDS, Choice, Space
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec



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


def _decode(key: str, value: Choice) -> Any:
    """A stored choice back to its spec value ('avg+max' -> ('avg', 'max'), '2,3' -> (2, 3))."""
    if key == "channel.pooling":
        return tuple(str(value).split("+"))
    if key == "placement.stages":
        return None if value == "all" else tuple(int(s) for s in str(value).split(","))
    return value


def suggest_fields(trial: Suggests, space: Space) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Sample the arch, attention and placement fields that apply; unset fields keep spec defaults."""
    fields: dict[str, dict[str, Any]] = {"arch": {}, "attention": {}, "placement": {}}

    def take(key: str) -> None:
        value = _pick(trial, space, key)
        if value is not None:
            group, field = PARAM_FIELDS[key]
            fields[group][field] = _decode(key, value)

    take("backbone.width")
    take("backbone.stride_on")
    variant = _pick(trial, space, "attention.variant")
    attention = fields["attention"]
    if variant is not None:
        attention.update(space.variants[variant])
    else:
        take("attention.kind")
    kind = attention.get("kind", "none")
    attention["kind"] = kind
    if kind == "cbam" and "order" not in attention:
        take("attention.order")
    probe = AttentionSpec(kind=kind, order=attention.get("order", "channel-spatial"))
    if probe.uses_channel_gate:
        if kind == "cbam" and "pooling" not in attention:
            take("channel.pooling")
        for key in ("channel.reduction", "channel.min_hidden"):
            if PARAM_FIELDS[key][1] not in attention:
                take(key)
    if probe.uses_spatial_gate:
        for key in ("spatial.descriptor", "spatial.kernel", "spatial.bn"):
            if PARAM_FIELDS[key][1] not in attention:
                take(key)
    if kind != "none":
        for key in ("placement.stages", "placement.blocks", "placement.position"):
            take(key)
    return fields["arch"], attention, fields["placement"]


def suggest_arch(trial: Suggests, space: Space) -> ArchSpec:
    """The candidate a trial describes, before it is fitted to the dataset (classes, channels, size)."""
    arch, attention, placement = suggest_fields(trial, space)
    return ArchSpec(
        space.backbone, attention=AttentionSpec(**attention), placement=PlacementSpec(**placement), **arch
    )


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
