"""Search-space files: load and validate one, count its candidates, and turn a trial into an ArchSpec.

The schema is documented in search_spaces/README.md. Loading collects every problem of a file and
raises one SpaceError with one line per problem (file, key, what is allowed), so a user fixes a
file in one pass; nothing else runs before a space is valid.

Only parameters that apply to what was already sampled are sampled: no spatial options for `se`,
no channel options for a spatial-only CBAM, no placement without attention. Optuna then sees a
conditional space, and two candidates that differ only in unused options never both exist.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from cbam_bench.errors import SpaceError, SpecError, allowed, did_you_mean
from cbam_bench.metrics import BUDGET_METRICS, METRICS
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.paper import ABLATIONS
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec, TrainSpec

# Shipped spaces live in the repository's search_spaces/; the package reaches them through its
# cbam_bench/search_spaces link, which a wheel replaces by a copy (package data).
SPACES_DIR = (Path(__file__).parent / "search_spaces").resolve()

SAMPLERS = ("tpe", "nsga2", "random", "grid", "gp")
DEFAULT_TRIALS = 20
LATENCY_DEVICES = ("cpu", "cuda")
PAPER_PREFIX = "paper:"

# Every searchable parameter, in sampling order, and the spec field it sets.
PARAM_FIELDS: dict[str, tuple[str, str]] = {
    "backbone.width": ("arch", "width"),
    "backbone.stride_on": ("arch", "stride_on"),
    "attention.variant": ("attention", "*"),
    "attention.kind": ("attention", "kind"),
    "attention.order": ("attention", "order"),
    "channel.pooling": ("attention", "pooling"),
    "channel.reduction": ("attention", "reduction"),
    "channel.min_hidden": ("attention", "min_hidden"),
    "spatial.descriptor": ("attention", "descriptor"),
    "spatial.kernel": ("attention", "kernel"),
    "spatial.bn": ("attention", "spatial_bn"),
    "placement.stages": ("placement", "stages"),
    "placement.blocks": ("placement", "blocks"),
    "placement.position": ("placement", "position"),
}
# When each parameter is sampled (what suggest_fields does, in words, for `spaces show`).
APPLIES_WHEN: dict[str, str] = {
    "backbone.width": "always",
    "backbone.stride_on": "always (changes only bottleneck ResNets)",
    "attention.variant": "always",
    "attention.kind": "always",
    "attention.order": "kind is cbam",
    "channel.pooling": "kind is cbam with a channel gate (SE pools by average)",
    "channel.reduction": "kind is se, or cbam with a channel gate",
    "channel.min_hidden": "kind is se, or cbam with a channel gate",
    "spatial.descriptor": "kind is cbam with a spatial gate",
    "spatial.kernel": "kind is cbam with a spatial gate",
    "spatial.bn": "kind is cbam with a spatial gate",
    "placement.stages": "kind is not none",
    "placement.blocks": "kind is not none",
    "placement.position": "kind is not none",
}
_ATTENTION_FIELDS = [f.name for f in dataclasses.fields(AttentionSpec)]
_TOP_KEYS = (
    "name", "description", "backbone", "dataset", "objectives", "budgets", "sampler", "seed",
    "trials", "seeds", "early_stop", "latency", "train", "params",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*$")

Choice = str | int | float | bool


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str  # "max" or "min"

    def __str__(self) -> str:
        return f"{self.metric}:{self.direction}"


@dataclass(frozen=True)
class EarlyStop:
    """Stop a trial whose validation accuracy at epoch e is below the median of earlier trials at e."""

    warmup_epochs: int = 1  # never stop at or before this epoch
    min_trials: int = 4  # earlier trials needed at an epoch before the median is trusted


@dataclass(frozen=True)
class LatencySetup:
    """How the latency measure (and any latency budget) is taken for every candidate."""

    device: str = "cpu"
    batch: int = 1
    warmup: int = 5
    repeats: int = 20
    threads: int = 1  # CPU threads while timing: one is steady on a shared machine, like one phone core


@dataclass(frozen=True)
class Space:
    """A validated search space; `source` is the file as a plain dict (stored with the study)."""

    name: str
    path: str
    source: dict[str, Any]
    description: str
    backbone: str
    dataset: str
    objectives: tuple[Objective, ...]
    budgets: dict[str, float]
    params: dict[str, tuple[Choice, ...]]  # in sampling order; one choice = fixed, not sampled
    variants: dict[str, dict[str, Any]]  # attention.variant label -> AttentionSpec fields
    sampler: str
    seed: int
    trials: int | None
    seeds: int
    early_stop: EarlyStop | None
    latency: LatencySetup
    train: TrainSpec

    @property
    def searched(self) -> dict[str, tuple[Choice, ...]]:
        """The parameters Optuna samples (more than one choice)."""
        return {k: v for k, v in self.params.items() if len(v) > 1}

    @property
    def default_trials(self) -> int:
        """`trials` from the file; else every candidate once for grid, else DEFAULT_TRIALS."""
        if self.trials is not None:
            return self.trials
        return count_candidates(self) if self.sampler == "grid" else DEFAULT_TRIALS


# ---------------------------------------------------------------------------------------------
# Turning a trial into an ArchSpec


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


# ---------------------------------------------------------------------------------------------
# Finding and loading files


def space_names() -> list[str]:
    """Names of the shipped spaces (file stems in SPACES_DIR)."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def find_space(name_or_path: str) -> Path:
    """A shipped space by name, or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        if not path.is_file():
            raise SpaceError(f"{name_or_path}: no such file")
        return path
    shipped = SPACES_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    names = space_names()
    raise SpaceError(
        f"space {name_or_path!r} not found{did_you_mean(name_or_path, names)}; "
        f"shipped: {allowed(names)}; or give the path of a .yaml file"
    )


class _Loader(yaml.SafeLoader):
    """Safe YAML that rejects duplicate keys and reads 1e6 as a number (YAML 1.2), not a string."""


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable; construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpaceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SpaceError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpaceError(f"{path}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise SpaceError(f"{path}: not valid YAML: nested too deeply") from None


def load_space(path: str | Path) -> Space:
    """Read and validate a search-space file; SpaceError lists every problem, one per line."""
    path = Path(path)
    data = _read_yaml(path)
    checker = _Checker(path)
    space = checker.space(data)
    if checker.problems or space is None:
        raise SpaceError("\n".join(f"{path}: {p}" for p in checker.problems))
    return space


# ---------------------------------------------------------------------------------------------
# Validation


class _Bad(Exception):
    """One problem with one value; the checker records it and carries on."""


def _spec_reason(exc: SpecError) -> str:
    """'attention.kernel: 4 is not allowed; ...' -> '4 is not allowed; ...' (we name our own key)."""
    text = str(exc)
    head, sep, rest = text.partition(": ")
    return rest if sep and " " not in head else text


def _key_hint(key: str, names: list[str]) -> str:
    suffix = [n for n in names if n.endswith(f".{key}")]
    return f" (did you mean {suffix[0]!r}?)" if len(suffix) == 1 else did_you_mean(key, names)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """Walks one parsed file, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def bad(self, key: str, message: str) -> None:
        self.problems.append(f"{key or 'file'}: {message}")

    def mapping(self, key: str, value: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """The mapping with unknown keys reported (and dropped)."""
        if not isinstance(value, dict):
            self.bad(key, f"must be a mapping with keys from: {allowed(names)}; got {_show(value)}")
            return {}
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                self.bad(key, f"key {_show(k)} is not allowed; keys are names from: {allowed(names)}")
            elif k not in names:
                prefix = f"{key}." if key else ""
                self.bad(f"{prefix}{k}", f"unknown key{_key_hint(k, list(names))}; allowed: {allowed(names)}")
            else:
                out[k] = v
        return out

    def integer(self, key: str, value: Any, low: int) -> int | None:
        if _is_int(value) and value >= low:
            return value
        self.bad(key, f"{_show(value)} is not allowed; allowed: an integer >= {low}")
        return None

    # -- the whole file -----------------------------------------------------------------------

    def space(self, data: Any) -> Space | None:
        if data is None:
            self.bad("file", "is empty; a space needs at least backbone, objectives and params")
            return None
        top = self.mapping("", data, _TOP_KEYS) if isinstance(data, dict) else None
        if top is None:
            self.problems.append(
                f"the file must be a mapping with keys from: {allowed(_TOP_KEYS)}; got {type(data).__name__}"
            )
            return None
        for key in ("backbone", "objectives", "params"):
            if key not in top:
                self.bad(key, "is required")
        name = self.name(top.get("name", self.path.stem))
        description = top.get("description", "")
        if not isinstance(description, str):
            self.bad("description", f"must be text; got {_show(description)}")
        backbone = self.backbone(top.get("backbone"))
        dataset = top.get("dataset", TrainSpec().dataset)
        if not isinstance(dataset, str) or not dataset:
            self.bad("dataset", f"must be a dataset name such as digits-clutter or cifar10; got {_show(dataset)}")
        objectives = self.objectives(top["objectives"]) if "objectives" in top else ()
        budgets = self.budgets(top.get("budgets", {}))
        sampler = top.get("sampler", "tpe")
        if sampler not in SAMPLERS:
            self.bad("sampler", f"{_show(sampler)} is not allowed{did_you_mean(str(sampler), SAMPLERS)}; allowed: {allowed(SAMPLERS)}")
        seed = self.integer("seed", top.get("seed", 0), 0)
        trials = self.integer("trials", top["trials"], 1) if "trials" in top else None
        seeds = self.integer("seeds", top.get("seeds", 1), 1)
        early_stop = self.early_stop(top.get("early_stop", True))
        latency = self.latency(top.get("latency", {}))
        train = self.train(top.get("train", {}), dataset if isinstance(dataset, str) and dataset else TrainSpec().dataset)
        params, variants = self.params(top["params"], backbone) if "params" in top else ({}, {})
        if self.problems or backbone is None or train is None or latency is None:
            return None
        return Space(
            name=name, path=str(self.path), source=data, description=description, backbone=backbone,
            dataset=dataset, objectives=objectives, budgets=budgets, params=params, variants=variants,
            sampler=sampler, seed=seed or 0, trials=trials, seeds=seeds or 1, early_stop=early_stop,
            latency=latency, train=train,
        )

    def name(self, value: Any) -> str:
        if isinstance(value, str) and _NAME.match(value):
            return value
        self.bad("name", f"{_show(value)} is not allowed; allowed: letters, digits, '.', '_' and '-'")
        return ""

    def backbone(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and value in BACKBONES:
            return value
        self.bad("backbone", f"{_show(value)} is not allowed{did_you_mean(str(value), BACKBONES)}; allowed: {allowed(BACKBONES)}")
        return None

    def objectives(self, value: Any) -> tuple[Objective, ...]:
        example = "a list such as [accuracy:max, macs:min]"
        if not isinstance(value, list) or not value:
            if value != []:
                self.bad("objectives", f"must be {example}; got {_show(value)}")
            else:
                self.bad("objectives", f"must name at least one metric: {example}")
            return ()
        out: list[Objective] = []
        for item in value:
            if not isinstance(item, str):
                self.bad("objectives", f"{_show(item)} is not allowed; each item is METRIC or METRIC:max|min")
                continue
            metric, _, direction = item.partition(":")
            if metric not in METRICS:
                self.bad("objectives", f"{metric!r} is not a metric{did_you_mean(metric, METRICS)}; allowed: {allowed(METRICS)}")
                continue
            best = METRICS[metric].direction
            if direction and direction != best:
                self.bad("objectives", f"{item!r} is not allowed: {metric} can only be {best}imised ({metric}:{best})")
                continue
            if any(o.metric == metric for o in out):
                self.bad("objectives", f"{metric!r} is listed twice")
                continue
            out.append(Objective(metric, best))
        return tuple(out)

    def budgets(self, value: Any) -> dict[str, float]:
        if not isinstance(value, dict):
            self.bad("budgets", f"must be a mapping of metric to maximum, such as {{latency_ms: 5}}; got {_show(value)}")
            return {}
        out: dict[str, float] = {}
        for metric, limit in value.items():
            key = f"budgets.{metric}"
            if metric in METRICS and metric not in BUDGET_METRICS:
                self.bad(key, f"only measures known before training can carry a budget; allowed: {allowed(BUDGET_METRICS)}")
            elif metric not in BUDGET_METRICS:
                self.bad(key, f"unknown metric{did_you_mean(str(metric), BUDGET_METRICS)}; allowed: {allowed(BUDGET_METRICS)}")
            elif _is_number(limit) and math.isfinite(limit) and limit > 0:
                out[metric] = float(limit)
            else:
                self.bad(key, f"{_show(limit)} is not allowed; allowed: a number > 0 (the maximum)")
        return out

    def early_stop(self, value: Any) -> EarlyStop | None:
        if value is False:
            return None
        if value is True:
            return EarlyStop()
        names = [f.name for f in dataclasses.fields(EarlyStop)]
        if not isinstance(value, dict):
            self.bad("early_stop", f"must be true, false or a mapping with {allowed(names)}; got {_show(value)}")
            return None
        fields = self.mapping("early_stop", value, names)
        warmup = self.integer("early_stop.warmup_epochs", fields.get("warmup_epochs", EarlyStop.warmup_epochs), 0)
        min_trials = self.integer("early_stop.min_trials", fields.get("min_trials", EarlyStop.min_trials), 1)
        return EarlyStop(warmup or 0, min_trials or 1)

    def latency(self, value: Any) -> LatencySetup | None:
        names = [f.name for f in dataclasses.fields(LatencySetup)]
        fields = self.mapping("latency", value, names)
        device = fields.get("device", LatencySetup.device)
        if device not in LATENCY_DEVICES:
            self.bad("latency.device", f"{_show(device)} is not allowed; allowed: {allowed(LATENCY_DEVICES)}")
        batch = self.integer("latency.batch", fields.get("batch", LatencySetup.batch), 1)
        warmup = self.integer("latency.warmup", fields.get("warmup", LatencySetup.warmup), 0)
        repeats = self.integer("latency.repeats", fields.get("repeats", LatencySetup.repeats), 1)
        threads = self.integer("latency.threads", fields.get("threads", LatencySetup.threads), 1)
        if batch is None or warmup is None or repeats is None or threads is None or device not in LATENCY_DEVICES:
            return None
        return LatencySetup(device=device, batch=batch, warmup=warmup, repeats=repeats, threads=threads)

    def train(self, value: Any, dataset: str) -> TrainSpec | None:
        names = [f.name for f in dataclasses.fields(TrainSpec) if f.name != "dataset"]
        if isinstance(value, dict) and "dataset" in value:
            self.bad("train.dataset", "set the dataset at the top level (dataset: NAME)")
            value = {k: v for k, v in value.items() if k != "dataset"}
        fields = self.mapping("train", value, names)
        if "nesterov" in fields and not isinstance(fields["nesterov"], bool):
            self.bad("train.nesterov", f"{_show(fields.pop('nesterov'))} is not allowed; allowed: true, false")
        if "data_dir" in fields and not isinstance(fields["data_dir"], (str, type(None))):
            self.bad("train.data_dir", f"{_show(fields.pop('data_dir'))} is not allowed; allowed: a folder path")
        try:
            return TrainSpec(dataset=dataset, **fields)
        except SpecError as exc:
            self.problems.append(str(exc))
            return None

    # -- parameters ---------------------------------------------------------------------------

    def params(self, value: Any, backbone: str | None) -> tuple[dict[str, tuple[Choice, ...]], dict[str, dict[str, Any]]]:
        fields = self.mapping("params", value, list(PARAM_FIELDS))
        variants: dict[str, dict[str, Any]] = {}
        if "attention.variant" in fields:
            variants = self.variants(fields["attention.variant"])
            taken = {f for row in variants.values() for f in row}
            for key in list(fields):
                group, field = PARAM_FIELDS[key]
                if key == "attention.kind" or (group == "attention" and field in taken):
                    self.bad(f"params.{key}", "is also set by attention.variant; set it in one place")
                    del fields[key]
        elif isinstance(value, dict) and "attention.kind" not in fields and not any(
            str(k).startswith("attention.") for k in value
        ):
            self.bad("params", "must set attention.kind (or attention.variant): the module to search over")
        out: dict[str, tuple[Choice, ...]] = {}
        for key in PARAM_FIELDS:
            if key not in fields:
                continue
            if key == "attention.variant":
                if variants:
                    out[key] = tuple(variants)
                continue
            choices = self.choices(key, fields[key], backbone)
            if choices:
                out[key] = choices
        return out, variants

    def choices(self, key: str, value: Any, backbone: str | None) -> tuple[Choice, ...]:
        name = f"params.{key}"
        if key == "placement.stages" and isinstance(value, dict):
            value = self.subsets(name, value)
        items = value if isinstance(value, list) else [value]
        if not items:
            self.bad(name, "must list at least one choice")
            return ()
        out: list[Choice] = []
        for item in items:
            try:
                choice = _encode(key, item, backbone)
            except _Bad as exc:
                self.bad(name, str(exc))
                continue
            if choice in out:
                self.bad(name, f"{_show(item)} is listed twice")
                continue
            out.append(choice)
        return tuple(out)

    def subsets(self, name: str, value: dict[str, Any]) -> list[Any]:
        fields = self.mapping(name, value, ["subsets_of"])
        stages = fields.get("subsets_of")
        if not isinstance(stages, list) or not stages or not all(_is_int(s) for s in stages) or len(stages) > 8:
            self.bad(f"{name}.subsets_of", f"must be a list of up to 8 stage numbers; got {_show(stages)}")
            return []
        unique = sorted(set(stages))
        return [
            [s for bit, s in enumerate(unique) if mask >> bit & 1] for mask in range(1, 2 ** len(unique))
        ]

    def variants(self, value: Any) -> dict[str, dict[str, Any]]:
        name = "params.attention.variant"
        items = value if isinstance(value, list) else [value]
        rows: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, str) and item.startswith(PAPER_PREFIX):
                table = item[len(PAPER_PREFIX):]
                if table in ABLATIONS:
                    rows.extend(dict(fields) for fields, _ in ABLATIONS[table])
                else:
                    tables = [PAPER_PREFIX + t for t in ABLATIONS]
                    self.bad(name, f"{item!r} is not allowed{did_you_mean(item, tables)}; allowed: {allowed(tables)} or a mapping of attention fields")
            elif isinstance(item, dict):
                row = self.mapping(name, item, _ATTENTION_FIELDS)
                if "kind" not in row:
                    self.bad(name, f"{_show(item)} needs a kind")
                    continue
                rows.append(row)
            else:
                self.bad(name, f"{_show(item)} is not allowed; allowed: paper:TABLE ({allowed(ABLATIONS)}) or a mapping of attention fields such as {{kind: cbam, kernel: 3}}")
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            try:
                spec = AttentionSpec(**row)
            except SpecError as exc:
                self.bad(name, f"{_show(row)}: {exc}")
                continue
            canonical = {k: (list(spec.pooling) if k == "pooling" else getattr(spec, k)) for k in row}
            label = variant_label(canonical)
            if label in out:
                self.bad(name, f"{label!r} is listed twice")
                continue
            out[label] = {k: (tuple(v) if k == "pooling" else v) for k, v in canonical.items()}
        if not out and not any(p.startswith(name) for p in self.problems):
            self.bad(name, "must list at least one variant")
        return out


def variant_label(fields: dict[str, Any]) -> str:
    """'cbam order=channel-only pooling=max': the kind, then the fields a variant sets."""
    rest = " ".join(
        f"{k}={'+'.join(v) if isinstance(v, (list, tuple)) else str(v).lower() if isinstance(v, bool) else v}"
        for k, v in sorted(fields.items())
        if k != "kind"
    )
    return f"{fields['kind']} {rest}".strip()


def _encode(key: str, item: Any, backbone: str | None) -> Choice:
    """A YAML choice to the plain value Optuna stores, checked against the spec; _Bad when wrong."""
    group, field = PARAM_FIELDS[key]
    if key == "channel.pooling":
        if isinstance(item, str):
            item = [p for p in re.split(r"[+, ]+", item) if p]
        if not isinstance(item, list) or not item or not all(isinstance(p, str) for p in item):
            raise _Bad(f"{_show(item)} is not allowed; each choice is a set of poolings such as [avg, max] or avg+max")
    if key == "placement.stages":
        if item == "all":
            return "all"
        if _is_int(item):
            item = [item]
        if not isinstance(item, list) or not item or not all(_is_int(s) for s in item):
            raise _Bad(f"{_show(item)} is not allowed; each choice is all or a list of stage numbers such as [2, 3]")
    if key in ("channel.reduction", "channel.min_hidden", "spatial.kernel") and not _is_int(item):
        raise _Bad(f"{_show(item)} is not allowed; allowed: integers")
    if key == "spatial.bn" and not isinstance(item, bool):
        raise _Bad(f"{_show(item)} is not allowed; allowed: true, false")
    if key in ("attention.kind", "attention.order", "spatial.descriptor", "placement.blocks",
               "placement.position", "backbone.stride_on") and not isinstance(item, str):
        raise _Bad(f"{_show(item)} is not allowed; allowed: names such as in the README's table")
    try:
        if group == "attention":
            spec = AttentionSpec(**{field: item})
            value = getattr(spec, field)
        elif group == "placement":
            placement = PlacementSpec(**{field: item})
            value = getattr(placement, field)
            if backbone is not None:
                ArchSpec(backbone, placement=placement)
        elif backbone is None:  # already reported; the value cannot be checked against it
            value = item
        else:
            value = getattr(ArchSpec(backbone, **{field: item}), field)
    except SpecError as exc:
        raise _Bad(_spec_reason(exc)) from None
    if key == "channel.pooling":
        return "+".join(value)
    if key == "placement.stages":
        return ",".join(str(s) for s in value)
    return value
