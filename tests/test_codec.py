"""Search-space values: one codec from a file's choice to Optuna's stored value and back, round-tripped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cbam_bench.space.codec import BadChoice, decode, decode_variant, encode, variant_key
from cbam_bench.spec import KERNELS, ORDERS, POOLINGS, ArchSpec, AttentionSpec, PlacementSpec

poolings = st.lists(st.sampled_from(POOLINGS), min_size=1, max_size=4, unique=True)
stages = st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True)


@settings(max_examples=60, deadline=None)
@given(pooling=poolings, stage_list=stages)
def test_encode_then_decode_gives_the_spec_value_and_encoding_it_again_the_same_choice(pooling, stage_list) -> None:
    stored = encode("channel.pooling", pooling, "cifar_resnet20")
    assert decode("channel.pooling", stored) == AttentionSpec(pooling=tuple(pooling)).pooling
    assert encode("channel.pooling", list(decode("channel.pooling", stored)), "cifar_resnet20") == stored
    stored = encode("placement.stages", stage_list, "cifar_resnet20")
    assert decode("placement.stages", stored) == PlacementSpec(stages=tuple(stage_list)).stages
    assert encode("placement.stages", list(decode("placement.stages", stored)), "cifar_resnet20") == stored


def test_plain_choices_are_stored_as_they_are_and_all_stages_as_all() -> None:
    assert encode("spatial.kernel", 5, None) == decode("spatial.kernel", 5) == 5
    assert encode("spatial.bn_momentum", 0.1, None) == 0.1
    assert encode("placement.stages", "all", None) == "all" and decode("placement.stages", "all") is None
    assert encode("channel.pooling", "max, avg", None) == "avg+max"  # the spec's order of pools


@pytest.mark.parametrize(
    "key, item, reason",
    [
        ("spatial.kernel", 4, "4 is not allowed; allowed: 3, 5, 7"),
        ("spatial.kernel", "7", "'7' is not allowed; allowed: integers"),
        ("spatial.bn", "yes", "'yes' is not allowed; allowed: true, false"),
        ("spatial.bn_momentum", 2, "2 is not allowed; allowed: a number in (0, 1]"),
        ("placement.stages", [4], "4 is out of range for cifar_resnet20; allowed: 1, 2, 3"),
    ],
)
def test_a_bad_choice_says_why_without_a_key(key, item, reason) -> None:
    with pytest.raises(BadChoice) as info:
        encode(key, item, "cifar_resnet20")
    assert str(info.value) == reason


fields = st.fixed_dictionaries(
    {"kind": st.sampled_from(["se", "cbam"])},
    optional={
        "order": st.sampled_from(ORDERS),
        "pooling": poolings.map(tuple),
        "reduction": st.integers(1, 64),
        "kernel": st.sampled_from(KERNELS),
        "spatial_bn": st.booleans(),
        "mlp_bias": st.booleans(),
        "bn_momentum": st.floats(0.001, 1.0),
    },
)


@settings(max_examples=100, deadline=None)
@given(row=fields)
def test_a_variant_key_decodes_to_the_fields_it_was_made_from(row) -> None:
    canonical = {k: (tuple(p for p in POOLINGS if p in v) if k == "pooling" else v) for k, v in row.items()}
    key = variant_key(canonical)
    assert decode_variant(key) == canonical
    AttentionSpec(**decode_variant(key))


def test_variant_keys_keep_the_form_stored_studies_hold() -> None:
    # Studies written before this codec stored these strings as their choices; resuming needs them unchanged.
    assert (
        variant_key({"kind": "cbam", "order": "channel-only", "pooling": ("max",)})
        == "cbam order=channel-only pooling=max"
    )
    assert variant_key({"kind": "cbam", "spatial_bn": False, "kernel": 3}) == "cbam kernel=3 spatial_bn=false"
    assert variant_key({"kind": "none"}) == "none"
    assert ArchSpec("cifar_resnet20")  # the codec does not change what a spec is
