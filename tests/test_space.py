"""Search-space files: what they parse to, what they reject (and how), and the candidates they yield."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from cbam_bench.errors import SpaceError
from cbam_bench.paper import ABLATIONS
from cbam_bench.space import (
    PARAM_FIELDS,
    SPACES_DIR,
    count_candidates,
    default_trials,
    find_space,
    iter_candidates,
    load_space,
    space_names,
    suggest_arch,
)
from cbam_bench.spec import ArchSpec, AttentionSpec

MINIMAL = """
backbone: cifar_resnet20
objectives: [accuracy:max, macs:min]
params:
  attention.kind: [none, cbam]
"""

EVERY_PARAM = """
backbone: resnet50
objectives: [accuracy, params]
params:
  backbone.width: [0.5, 1.0]
  backbone.stride_on: [1x1, 3x3]
  attention.kind: [se, cbam, bam, coord]
  attention.order: [channel-spatial, spatial-channel, parallel, channel-only, spatial-only]
  attention.combine: [sum, product]
  channel.pooling: [avg, [avg, max], max+lse]
  channel.reduction: [8, 16]
  channel.min_hidden: [1, 4]
  spatial.descriptor: [avg+max, conv1x1]
  spatial.kernel: [3, 5]
  spatial.bn: [true, false]
  spatial.bn_momentum: [0.01, 0.1]
  placement.stages: [all, [2, 3], 4]
  placement.blocks: [all, first, every-2]
  placement.position: [residual, post-add, pre, between-stages]
"""


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    return [line.removeprefix(f"{path}: ") for line in lines]


class Fixed:
    """A trial stand-in that answers from a dict and records what was asked."""

    def __init__(self, answers: dict) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def suggest_categorical(self, name: str, choices: list) -> object:
        assert self.answers[name] in choices
        self.asked.append(name)
        return self.answers[name]


def test_minimal_space_gets_documented_defaults(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, MINIMAL, "mine.yaml"))
    assert space.name == "mine"  # the file's stem
    assert space.dataset == "digits-clutter" and space.sampler == "tpe" and space.seed == 0
    assert [str(o) for o in space.objectives] == ["accuracy:max", "macs:min"]
    assert space.budgets == {} and space.seeds == 1 and default_trials(space) == 20
    assert space.early_stop is not None and space.early_stop.warmup_epochs == 1
    assert space.params == {"attention.kind": ("none", "cbam")}


def test_objectives_take_their_metrics_direction(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, EVERY_PARAM))
    assert [(o.metric, o.direction) for o in space.objectives] == [("accuracy", "max"), ("params", "min")]


def test_every_parameter_reaches_the_arch_spec(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, EVERY_PARAM))
    answers = {
        "backbone.width": 0.5,
        "backbone.stride_on": "1x1",
        "attention.kind": "cbam",
        "attention.order": "parallel",
        "channel.pooling": "max+lse",
        "channel.reduction": 8,
        "channel.min_hidden": 4,
        "spatial.descriptor": "conv1x1",
        "spatial.kernel": 5,
        "spatial.bn": True,
        "spatial.bn_momentum": 0.1,
        "placement.stages": "2,3",
        "placement.blocks": "every-2",
        "placement.position": "pre",
    }
    trial = Fixed(answers)
    arch = suggest_arch(trial, space)
    # Every parameter but BAM's own (combine applies to bam only).
    assert sorted(trial.asked) == sorted(PARAM_FIELDS.keys() - {"attention.variant", "attention.combine"})
    assert arch == ArchSpec(
        "resnet50",
        width=0.5,
        stride_on="1x1",
        attention=AttentionSpec(
            kind="cbam",
            order="parallel",
            pooling=("max", "lse"),
            reduction=8,
            min_hidden=4,
            descriptor="conv1x1",
            kernel=5,
            spatial_bn=True,
            bn_momentum=0.1,
        ),
        placement=arch.placement,
    )
    assert (arch.placement.stages, arch.placement.blocks, arch.placement.position) == ((2, 3), "every-2", "pre")


def test_every_choice_of_every_parameter_appears_among_the_candidates(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, EVERY_PARAM))
    seen: dict[str, set] = {k: set() for k in space.params}
    for params in iter_candidates(space):
        for k, v in params.items():
            seen[k].add(v)
    assert seen == {k: set(v) for k, v in space.params.items()}


def test_options_that_do_not_apply_are_not_sampled(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, EVERY_PARAM))
    se = Fixed(
        {
            "backbone.width": 1.0,
            "backbone.stride_on": "3x3",
            "attention.kind": "se",
            "channel.reduction": 16,
            "channel.min_hidden": 1,
            "placement.stages": "all",
            "placement.blocks": "all",
            "placement.position": "residual",
        }
    )
    suggest_arch(se, space)
    assert not any(k.startswith("spatial.") or k in ("attention.order", "channel.pooling") for k in se.asked)
    spatial_only = Fixed(
        {
            "backbone.width": 1.0,
            "backbone.stride_on": "3x3",
            "attention.kind": "cbam",
            "attention.order": "spatial-only",
            "spatial.descriptor": "avg+max",
            "spatial.kernel": 3,
            "spatial.bn": True,
            "spatial.bn_momentum": 0.01,
            "placement.stages": "all",
            "placement.blocks": "all",
            "placement.position": "residual",
        }
    )
    suggest_arch(spatial_only, space)
    assert not any(k.startswith("channel.") for k in spatial_only.asked)
    between = Fixed(
        {
            "backbone.width": 1.0,
            "backbone.stride_on": "3x3",
            "attention.kind": "se",
            "channel.reduction": 8,
            "channel.min_hidden": 1,
            "placement.stages": "all",
            "placement.position": "between-stages",
        }
    )
    arch = suggest_arch(between, space)
    assert "placement.blocks" not in between.asked  # a module between stages follows each stage's last block
    assert arch.sites() == [(1, 2), (2, 3), (3, 5)]
    bam = Fixed(
        {
            "backbone.width": 1.0,
            "backbone.stride_on": "3x3",
            "attention.kind": "bam",
            "attention.combine": "product",
            "channel.reduction": 8,
            "channel.min_hidden": 1,
            "placement.stages": "all",
            "placement.position": "between-stages",
        }
    )
    arch = suggest_arch(bam, space)
    assert arch.attention == AttentionSpec(kind="bam", combine="product", reduction=8)
    assert [k for k in bam.asked if k.startswith(("attention.", "channel.", "spatial."))] == [
        "attention.kind",
        "attention.combine",
        "channel.reduction",
        "channel.min_hidden",
    ]
    coord = Fixed(
        {
            "backbone.width": 1.0,
            "backbone.stride_on": "3x3",
            "attention.kind": "coord",
            "channel.reduction": 8,
            "placement.stages": "all",
            "placement.blocks": "all",
            "placement.position": "residual",
        }
    )
    suggest_arch(coord, space)
    assert [k for k in coord.asked if k.startswith(("attention.", "channel.", "spatial."))] == [
        "attention.kind",
        "channel.reduction",
    ]
    none = load_space(
        write(tmp_path, MINIMAL.replace("[none, cbam]", "[none, se]") + "  placement.stages: [all, [3]]\n")
    )
    trial = Fixed({"attention.kind": "none"})
    assert suggest_arch(trial, none).attention.kind == "none" and trial.asked == ["attention.kind"]


def test_candidates_are_counted_over_the_conditional_tree(tmp_path: Path) -> None:
    text = MINIMAL.replace("[none, cbam]", "[none, se, cbam]") + (
        "  channel.reduction: [4, 16]\n  spatial.kernel: [3, 5, 7]\n  placement.stages: [all, [3]]\n"
    )
    space = load_space(write(tmp_path, text))
    # none: 1; se: 2 reductions x 2 placements; cbam: 2 x 3 kernels x 2 placements
    assert count_candidates(space) == 1 + 2 * 2 + 2 * 3 * 2
    assert len({tuple(sorted(p.items())) for p in iter_candidates(space)}) == 17


def test_single_choices_are_fixed_not_sampled(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, MINIMAL + "  channel.reduction: 8\n  spatial.kernel: [3]\n"))
    assert space.searched == {"attention.kind": ("none", "cbam")}
    trial = Fixed({"attention.kind": "cbam"})
    arch = suggest_arch(trial, space)
    assert (arch.attention.reduction, arch.attention.kernel) == (8, 3) and trial.asked == ["attention.kind"]


def test_stage_subsets_expand_to_every_non_empty_subset(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, MINIMAL + "  placement.stages: {subsets_of: [3, 1, 2]}\n"))
    expected = [",".join(map(str, c)) for r in (1, 2, 3) for c in itertools.combinations((1, 2, 3), r)]
    assert sorted(space.params["placement.stages"]) == sorted(expected)


@pytest.mark.parametrize("table", sorted(ABLATIONS))
def test_paper_variants_are_the_rows_of_paper_py(tmp_path: Path, table: str) -> None:
    space = load_space(
        write(
            tmp_path,
            f"backbone: cifar_resnet20\nobjectives: [accuracy]\nsampler: grid\nparams:\n  attention.variant: [paper:{table}]\n",
        )
    )
    rows = [AttentionSpec(**fields) for fields, _ in ABLATIONS[table]]
    built = [AttentionSpec(**fields) for fields in space.variants.values()]
    assert built == rows
    assert count_candidates(space) == default_trials(space) == len(rows)
    trial = Fixed({"attention.variant": list(space.variants)[1]})
    assert suggest_arch(trial, space).attention == rows[1]


def test_shipped_spaces_are_valid_and_found_by_name() -> None:
    names = space_names()
    assert {
        "default",
        "placement",
        "paper-channel",
        "paper-spatial",
        "paper-arrangement",
        "mobile-budget",
        "cifar10-resnet18",
    } <= set(names)
    for name in names:
        path = find_space(name)
        assert path == SPACES_DIR / f"{name}.yaml" and load_space(path).name == name


def test_paper_spaces_are_grids_over_paper_rows() -> None:
    for table in ABLATIONS:
        space = load_space(find_space(f"paper-{table}"))
        assert space.sampler == "grid" and space.searched.keys() == {"attention.variant"}
        assert len(space.variants) == len(ABLATIONS[table])


def test_unknown_space_name_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"space 'defualt' not found \(did you mean 'default'\?\); shipped: "):
        find_space("defualt")
    with pytest.raises(SpaceError, match="no such file"):
        find_space(str(tmp_path / "missing.yaml"))


def test_every_problem_is_reported_once_with_its_key(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
backbone: cifar_resnet200
objectives: [accuracy:min, flops]
budgets: {accuracy: 0.9, latency_ms: -1}
sampler: tpee
trials: 0
params:
  attention.kind: [none, cbma]
  channel.reductoin: [4]
  spatial.kernel: [4]
""",
    )
    assert found == [
        "backbone: 'cifar_resnet200' is not allowed (did you mean 'cifar_resnet20'?); allowed: "
        + found[0].split("allowed: ")[1],
        "objectives: 'accuracy:min' is not allowed: accuracy can only be maximised (accuracy:max)",
        "objectives: 'flops' is not allowed; "
        "allowed: accuracy, top5, macs, params, latency_ms, latency_ratio, elementwise_ops",
        "budgets.accuracy: only measures known before training can carry a budget; "
        "allowed: params, macs, elementwise_ops, latency_ms, latency_p90_ms, latency_ratio",
        "budgets.latency_ms: -1 is not allowed; allowed: a number > 0 (the maximum)",
        "sampler: 'tpee' is not allowed (did you mean 'tpe'?); allowed: tpe, nsga2, random, grid, gp",
        "trials: 0 is not allowed; allowed: an integer in [1, 100000]",
        "params.channel.reductoin: unknown key (did you mean 'channel.reduction'?); allowed: "
        + found[7].split("allowed: ")[1],
        "params.attention.kind: 'cbma' is not allowed (did you mean 'cbam'?); allowed: none, se, eca, cbam, bam, coord",
        "params.spatial.kernel: 4 is not allowed; allowed: 3, 5, 7",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "file: is empty; a space needs at least backbone, objectives and params"),
        ("- a\n- b\n", "the file must be a mapping with keys from: name, description"),
        ("backbone: resnet18\n", "objectives: is required"),
        (MINIMAL + "order: [parallel]\n", "order: unknown key"),
        (MINIMAL.replace("attention.kind", "order"), "params.order: unknown key (did you mean 'attention.order'?)"),
        (
            MINIMAL + "  placement.stages: [[4]]\n",
            "params.placement.stages: 4 is out of range for cifar_resnet20; allowed: 1, 2, 3",
        ),
        (MINIMAL + "  channel.pooling: [avg, avg]\n", "params.channel.pooling: 'avg' is listed twice"),
        (MINIMAL + "  channel.reduction: []\n", "params.channel.reduction: must list at least one choice"),
        (MINIMAL + "  channel.reduction: [true]\n", "params.channel.reduction: True is not allowed; allowed: integers"),
        (MINIMAL + "  attention.variant: [paper:chanel]\n", "params.attention.kind: is also set by attention.variant"),
        (
            MINIMAL.replace("attention.kind: [none, cbam]", "attention.variant: [paper:chanel]"),
            "params.attention.variant: 'paper:chanel' is not allowed (did you mean 'paper:channel'?)",
        ),
        (
            MINIMAL.replace("attention.kind: [none, cbam]", "attention.variant: [{order: parallel}]"),
            "params.attention.variant: {'order': 'parallel'} needs a kind",
        ),
        (MINIMAL + "train: {epochs: 0}\n", "train.epochs: 0 is not allowed; allowed: an integer in [1, 10000]"),
        (MINIMAL + "train: {epocs: 3}\n", "train.epocs: unknown key (did you mean 'epochs'?)"),
        (MINIMAL + "train: {lr: .nan}\n", "train.lr: nan is not allowed; allowed: a finite number > 0"),
        (MINIMAL + "train: {lr: .inf}\n", "train.lr: inf is not allowed; allowed: a finite number > 0"),
        (
            MINIMAL + "train: {weight_decay: -.inf}\n",
            "train.weight_decay: -inf is not allowed; allowed: a finite number >= 0",
        ),
        (
            MINIMAL + "train: {train_images: 1}\n",
            "train.train_images: 1 is not allowed; allowed: an integer in [10, 100000000]",
        ),
        (MINIMAL + f"trials: {10**30}\n", f"trials: {10**30} is not allowed; allowed: an integer in [1, 100000]"),
        (MINIMAL + "seeds: 101\n", "seeds: 101 is not allowed; allowed: an integer in [1, 100]"),
        (MINIMAL + "seed: 4294967296\n", "seed: 4294967296 is not allowed; allowed: an integer in [0, 4294967295]"),
        (
            MINIMAL + "latency: {repeats: 1000000000}\n",
            "latency.repeats: 1000000000 is not allowed; allowed: an integer in [1, 100000]",
        ),
        (
            MINIMAL + "budgets: {latency_ms: .inf}\n",
            "budgets.latency_ms: inf is not allowed; allowed: a number > 0 (the maximum)",
        ),
        (
            MINIMAL + "  backbone.width: [.nan]\n",
            "params.backbone.width: nan is not allowed; allowed: a number in (0, 8]",
        ),
        (MINIMAL + "train: {dataset: cifar10}\n", "train.dataset: set the dataset at the top level"),
        (MINIMAL + "early_stop: {warmup_epochs: -1}\n", "early_stop.warmup_epochs: -1 is not allowed"),
        (
            MINIMAL + "early_stop: {signal: lr}\n",
            "early_stop.signal: 'lr' is not allowed; allowed: accuracy, loss",
        ),
        (MINIMAL + "latency: {device: tpu}\n", "latency.device: 'tpu' is not allowed; allowed: cpu, cuda"),
        (MINIMAL + "name: a b\n", "name: 'a b' is not allowed"),
        ("backbone: x\nbackbone: y\n", "not valid YAML at line 2, column 1: duplicate key 'backbone'"),
        ("backbone: [unclosed\n", "not valid YAML"),
        ("params:\n  attention.kind: cbam\n", "backbone: is required"),
    ],
)
def test_problem_messages_name_the_key_and_what_is_allowed(tmp_path: Path, text: str, expected: str) -> None:
    assert any(expected in p for p in problems(tmp_path, text)), problems(tmp_path, text)


def test_yaml_exponent_numbers_are_numbers(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, MINIMAL + "budgets: {params: 3e5, macs: 1.5e9}\ntrain: {lr: 5e-2}\n"))
    assert space.budgets == {"params": 3e5, "macs": 1.5e9} and space.train.lr == 0.05


def test_non_utf8_file_is_one_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"backbone: \xff\xfe\n")
    with pytest.raises(SpaceError, match="not UTF-8 text"):
        load_space(path)
