"""Specs validate, round-trip through JSON, and hash to the same archid exactly when the network is the same."""

from __future__ import annotations

import pickle

import pytest

from cbam_bench.cli.option_specs import arch_from_options, as_flag
from cbam_bench.errors import SpecError
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec
from cbam_bench.train_spec import TrainSpec


def test_arch_spec_json_round_trip() -> None:
    spec = ArchSpec(
        "resnet50",
        width=1.5,
        stride_on="1x1",
        attention=AttentionSpec(kind="cbam", pooling=("max", "avg", "lse"), reduction=8, kernel=5, order="parallel"),
        placement=PlacementSpec(stages=(3, 2), blocks="every-2", position="pre"),
    )
    back = ArchSpec.from_json(spec.to_json())
    assert back == spec
    assert back.archid == spec.archid
    assert back.attention.pooling == ("avg", "max", "lse")  # canonical order
    assert back.placement.stages == (2, 3)


def test_defaults_are_resolved_from_the_backbone() -> None:
    assert (ArchSpec("resnet18").num_classes, ArchSpec("resnet18").input_size) == (1000, 224)
    assert (ArchSpec("cifar_resnet20").num_classes, ArchSpec("cifar_resnet20").input_size) == (10, 32)
    assert ArchSpec("resnet18").archid == ArchSpec("resnet18", num_classes=1000, input_size=224).archid


def test_unused_options_do_not_change_the_archid() -> None:
    plain = ArchSpec("resnet50")
    assert ArchSpec("resnet50", attention=AttentionSpec(kind="none", reduction=4, kernel=3)).archid == plain.archid
    assert (
        ArchSpec("resnet50", attention=AttentionSpec(kind="none"), placement=PlacementSpec(stages=(2,))).archid
        == plain.archid
    )
    # stride_on only matters for bottlenecks
    assert ArchSpec("resnet18", stride_on="1x1").archid == ArchSpec("resnet18", stride_on="3x3").archid
    assert ArchSpec("resnet50", stride_on="1x1").archid != ArchSpec("resnet50", stride_on="3x3").archid
    se = ArchSpec("resnet50", attention=AttentionSpec(kind="se", kernel=3, pooling=("max",)))
    assert se.archid == ArchSpec("resnet50", attention=AttentionSpec(kind="se")).archid
    # SE is CBAM's channel gate with average pooling: the same network
    channel_avg = ArchSpec(
        "resnet50", attention=AttentionSpec(kind="cbam", order="channel-only", pooling=("avg",), kernel=3)
    )
    assert channel_avg.archid == se.archid
    # every stage listed is the same as all stages; every-1 is all
    cbam = AttentionSpec(kind="cbam")
    assert (
        ArchSpec("resnet50", attention=cbam, placement=PlacementSpec(stages=(1, 2, 3, 4))).archid
        == ArchSpec("resnet50", attention=cbam, placement=PlacementSpec(blocks="every-1")).archid
        == ArchSpec("resnet50", attention=cbam).archid
    )


def test_options_that_change_the_network_change_the_archid() -> None:
    base = AttentionSpec(kind="cbam")
    variants = [
        base,
        AttentionSpec(kind="cbam", reduction=8),
        AttentionSpec(kind="cbam", kernel=3),
        AttentionSpec(kind="cbam", order="parallel"),
        AttentionSpec(kind="cbam", pooling=("avg",)),
        AttentionSpec(kind="cbam", descriptor="conv1x1"),
        AttentionSpec(kind="cbam", spatial_bn=False),
        AttentionSpec(kind="eca"),
    ]
    ids = {ArchSpec("cifar_resnet20", attention=a).archid for a in variants}
    assert len(ids) == len(variants)
    placements = [
        PlacementSpec(),
        PlacementSpec(stages=(3,)),
        PlacementSpec(blocks="first"),
        PlacementSpec(position="pre"),
    ]
    ids = {ArchSpec("cifar_resnet20", attention=base, placement=p).archid for p in placements}
    assert len(ids) == len(placements)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: AttentionSpec(kind="cbm"),
            "attention.kind: 'cbm' is not allowed (did you mean 'cbam'?); allowed: none, se, eca, cbam, bam, coord",
        ),
        (lambda: AttentionSpec(pooling=()), "attention.pooling: must be a non-empty set of avg, max, lp, lse"),
        (lambda: AttentionSpec(pooling=("avg", "mean")), "attention.pooling: 'mean' is not allowed"),
        (lambda: AttentionSpec(kernel=4), "attention.kernel: 4 is not allowed; allowed: 3, 5, 7"),
        (lambda: AttentionSpec(reduction=0), "attention.reduction: 0 is not allowed; allowed: an integer in [1, 4096]"),
        (
            lambda: PlacementSpec(blocks="every-0"),
            "placement.blocks: 'every-0' is not allowed; allowed: all, first, last, every-K",
        ),
        (lambda: PlacementSpec(position="after"), "placement.position: 'after' is not allowed"),
        (
            lambda: ArchSpec("resnet50", placement=PlacementSpec(stages=(5,))),
            "placement.stages: 5 is out of range for resnet50; allowed: 1, 2, 3, 4",
        ),
        (lambda: ArchSpec("resnet51"), "backbone: 'resnet51' is not allowed (did you mean"),
        (lambda: ArchSpec("resnet50", width=0), "width: 0 is not allowed"),
        (
            lambda: ArchSpec.from_dict({"backbone": "resnet50", "atention": {}}),
            "atention: unknown key (did you mean 'attention'?)",
        ),
        (
            lambda: ArchSpec.from_dict({"backbone": "resnet50", "attention": {"kernal": 3}}),
            "attention.kernal: unknown key (did you mean 'kernel'?)",
        ),
        (lambda: ArchSpec.from_json("{"), "arch: not valid JSON"),
        (lambda: TrainSpec(epochs=0), "train.epochs: 0 is not allowed"),
        (lambda: TrainSpec(schedule="step"), "train.schedule: 'step' is not allowed"),
    ],
)
def test_invalid_values_raise_spec_error_naming_key_and_allowed(make, message) -> None:
    with pytest.raises(SpecError) as info:
        make()
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TrainSpec(lr=float("nan")), "train.lr: nan is not allowed; allowed: a finite number > 0"),
        (lambda: TrainSpec(lr=float("inf")), "train.lr: inf is not allowed; allowed: a finite number > 0"),
        (lambda: TrainSpec(momentum=float("nan")), "train.momentum: nan is not allowed; allowed: a finite number >= 0"),
        (
            lambda: TrainSpec(weight_decay=float("inf")),
            "train.weight_decay: inf is not allowed; allowed: a finite number >= 0",
        ),
        (
            lambda: TrainSpec(warmup_epochs=float("-inf")),
            "train.warmup_epochs: -inf is not allowed; allowed: a finite number >= 0",
        ),
        (lambda: TrainSpec(epochs=10**30), f"train.epochs: {10**30} is not allowed; allowed: an integer in [1, 10000]"),
        (
            lambda: TrainSpec(batch_size=65_537),
            "train.batch_size: 65537 is not allowed; allowed: an integer in [1, 65536]",
        ),
        (
            lambda: TrainSpec(seed=2**32),
            "train.seed: 4294967296 is not allowed; allowed: an integer in [0, 4294967295]",
        ),
        (
            lambda: TrainSpec(train_images=1),
            "train.train_images: 1 is not allowed; allowed: an integer in [10, 100000000]",
        ),
        (
            lambda: TrainSpec(train_images=9),
            "train.train_images: 9 is not allowed; allowed: an integer in [10, 100000000]",
        ),
        (lambda: TrainSpec(image_size=4097), "train.image_size: 4097 is not allowed; allowed: an integer in [8, 4096]"),
        (
            lambda: ArchSpec("resnet18", num_classes=10**9),
            "num_classes: 1000000000 is not allowed; allowed: an integer in [1, 100000]",
        ),
        (
            lambda: ArchSpec("resnet18", input_size=10**6),
            "input_size: 1000000 is not allowed; allowed: an integer in [8, 4096]",
        ),
        (lambda: ArchSpec("resnet18", width=float("nan")), "width: nan is not allowed; allowed: a number in (0, 8]"),
        (
            lambda: AttentionSpec(reduction=10**30),
            f"attention.reduction: {10**30} is not allowed; allowed: an integer in [1, 4096]",
        ),
    ],
)
def test_numbers_that_cannot_be_meant_are_refused_with_the_range(make, message) -> None:
    with pytest.raises(SpecError) as info:
        make()
    assert str(info.value) == message


def test_the_bounds_themselves_are_allowed() -> None:
    spec = TrainSpec(epochs=10_000, batch_size=65_536, seed=2**32 - 1, train_images=10, image_size=4096, lr=1e-9)
    assert (spec.epochs, spec.batch_size, spec.seed, spec.train_images) == (10_000, 65_536, 2**32 - 1, 10)
    assert ArchSpec("resnet18", num_classes=100_000, input_size=8).num_classes == 100_000


def test_sites_follow_placement() -> None:
    cbam = AttentionSpec(kind="cbam")
    assert len(ArchSpec("resnet50", attention=cbam).sites()) == 16
    assert ArchSpec("resnet50", attention=cbam, placement=PlacementSpec(blocks="first")).sites() == [
        (1, 0),
        (2, 0),
        (3, 0),
        (4, 0),
    ]
    assert ArchSpec("resnet50", attention=cbam, placement=PlacementSpec(stages=(4,), blocks="last")).sites() == [(4, 2)]
    assert ArchSpec("resnet34", attention=cbam, placement=PlacementSpec(stages=(3,), blocks="every-2")).sites() == [
        (3, 0),
        (3, 2),
        (3, 4),
    ]
    assert ArchSpec("resnet50").sites() == []


def test_train_spec_round_trip() -> None:
    spec = TrainSpec(epochs=3, lr=0.05, seed=7)
    assert TrainSpec.from_dict(spec.to_dict()) == spec


def test_spatial_bn_momentum_is_the_authors_and_counts_only_where_there_is_a_spatial_bn() -> None:
    cbam = ArchSpec("cifar_resnet20", attention=AttentionSpec(kind="cbam"))
    assert cbam.attention.bn_momentum == 0.01
    assert cbam.attention.canonical()["bn_momentum"] == 0.01
    old = ArchSpec("cifar_resnet20", attention=AttentionSpec(kind="cbam", bn_momentum=0.1))
    assert old.archid != cbam.archid and old.attention.summary() == "cbam avg+max r16 k7 bn-m0.1 c-s"
    assert cbam.attention.summary() == "cbam avg+max r16 k7 c-s"
    # no spatial gate, or a spatial gate without its BatchNorm: the momentum changes nothing
    for attention in (
        {"kind": "se"},
        {"kind": "eca"},
        {"kind": "cbam", "order": "channel-only"},
        {"kind": "cbam", "spatial_bn": False},
    ):
        specs = [ArchSpec("cifar_resnet20", attention=AttentionSpec(**attention, bn_momentum=m)) for m in (0.01, 0.5)]
        assert specs[0].archid == specs[1].archid and "bn_momentum" not in specs[0].attention.canonical()


def test_bn_momentum_round_trips_and_old_specs_without_it_read_as_the_default() -> None:
    spec = ArchSpec("resnet18", attention=AttentionSpec(kind="cbam", bn_momentum=0.1))
    assert spec.to_dict()["attention"]["bn_momentum"] == 0.1
    assert ArchSpec.from_json(spec.to_json()) == spec
    stored = spec.to_dict()
    del stored["attention"]["bn_momentum"]  # what 0.2 wrote
    assert ArchSpec.from_dict(stored).attention.bn_momentum == 0.01


@pytest.mark.parametrize("value", [0, -0.1, 1.5, True, "0.1", None])
def test_bn_momentum_outside_0_1_is_refused(value) -> None:
    with pytest.raises(SpecError) as err:
        AttentionSpec(bn_momentum=value)
    assert str(err.value) == f"attention.bn_momentum: {value!r} is not allowed; allowed: a number in (0, 1]"


def test_bn_momentum_reaches_the_module_and_the_command_line_names_its_flag() -> None:
    spec = arch_from_options("cifar_resnet20", attention="cbam", bn_momentum=0.1, stride_on="3x3")
    assert build_model(spec).layer1[0].attention.spatial.bn.momentum == 0.1
    assert (
        build_model(ArchSpec("cifar_resnet20", attention=AttentionSpec())).layer1[0].attention.spatial.bn.momentum
        == 0.01
    )
    with pytest.raises(SpecError, match=r"^--bn-momentum: 2.0 is not allowed; allowed: a number in \(0, 1\]$"):
        arch_from_options("cifar_resnet20", attention="cbam", bn_momentum=2.0, stride_on="3x3")


def test_spec_error_carries_key_and_reason_and_the_command_line_swaps_only_the_key() -> None:
    with pytest.raises(SpecError) as info:
        TrainSpec(lr=-1.0)
    exc = info.value
    assert (exc.key, exc.reason) == ("train.lr", "-1.0 is not allowed; allowed: a finite number > 0")
    assert str(exc) == "train.lr: -1.0 is not allowed; allowed: a finite number > 0"
    flagged = as_flag(exc)
    assert isinstance(flagged, SpecError) and (flagged.key, flagged.reason) == ("--lr", exc.reason)
    # A key the command line does not know stays as it is; the error survives a trip to a worker process.
    assert as_flag(SpecError("arch", "must be a JSON object")).key == "arch"
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.key, copy.reason, str(copy)) == (exc.key, exc.reason, str(exc))


def test_between_stages_is_after_each_stages_last_block_and_one_network_with_post_add_there() -> None:
    between = ArchSpec(
        "resnet50", attention=AttentionSpec(kind="se"), placement=PlacementSpec(position="between-stages")
    )
    assert between.sites() == [(1, 2), (2, 3), (3, 5)]  # after stages 1, 2 and 3, not after the last
    chosen = ArchSpec(
        "resnet50",
        attention=AttentionSpec(kind="se"),
        placement=PlacementSpec(stages=(2, 4), position="between-stages"),
    )
    assert chosen.sites() == [(2, 3), (4, 2)]
    same = ArchSpec(
        "resnet50",
        attention=AttentionSpec(kind="se"),
        placement=PlacementSpec(stages=(1, 2, 3), blocks="last", position="post-add"),
    )
    assert same.sites() == between.sites() and same.archid == between.archid
    with pytest.raises(SpecError) as info:
        PlacementSpec(blocks="first", position="between-stages")
    assert info.value.key == "placement.blocks" and info.value.reason.endswith("allowed: all")
