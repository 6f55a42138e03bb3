"""The attention registry is the one home of a kind: every reader (spec, factory, sampler, counter) follows it."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cbam_bench.attention.factory import build_attention
from cbam_bench.attention.registry import ATTENTION_KINDS, COMMON_ELEMENTWISE, KINDS, SPACE_KEYS, applies_when
from cbam_bench.errors import SpecError
from cbam_bench.measure.counting import ELEMENTWISE_HANDLES
from cbam_bench.space import APPLIES_WHEN, PARAM_FIELDS
from cbam_bench.spec import ArchSpec, AttentionSpec

# A value other than the default for every option field: a new field without one fails here first.
OTHER = {
    "pooling": ("max",),
    "reduction": 4,
    "min_hidden": 2,
    "mlp_bias": False,
    "descriptor": "conv1x1",
    "kernel": 3,
    "spatial_bn": False,
    "order": "parallel",
    "bn_momentum": 0.1,
    "combine": "product",
}
OPTION_FIELDS = [f.name for f in dataclasses.fields(AttentionSpec) if f.name != "kind"]


def _archid(attention: AttentionSpec) -> str:
    return ArchSpec("cifar_resnet20", attention=attention).archid


def test_an_unknown_kind_is_refused_by_the_spec_naming_the_registered_ones() -> None:
    with pytest.raises(SpecError) as info:
        AttentionSpec(kind="cbam2")
    assert info.value.key == "attention.kind"
    assert info.value.reason.endswith(f"allowed: {', '.join(ATTENTION_KINDS)}")


@pytest.mark.parametrize("kind", [k for k in ATTENTION_KINDS if k != "none"])
def test_every_option_a_kind_applies_changes_its_archid_and_no_other_does(kind) -> None:
    base = AttentionSpec(kind=kind)
    assert set(OTHER) == set(OPTION_FIELDS)
    for name in OPTION_FIELDS:
        changed = dataclasses.replace(base, **{name: OTHER[name]})
        assert (_archid(changed) != _archid(base)) == (name in base.applied()), name


@pytest.mark.parametrize("kind", [k for k in ATTENTION_KINDS if k != "none"])
def test_every_kind_builds_a_module_that_keeps_the_shape_and_has_a_label(kind) -> None:
    spec = AttentionSpec(kind=kind, reduction=4)
    module = build_attention(32, spec).eval()
    x = torch.randn(2, 32, 8, 8)
    with torch.no_grad():
        assert module(x).shape == x.shape
    assert spec.summary().split()[0] == kind
    assert build_attention(32, AttentionSpec(kind="none")) is None


def test_space_keys_and_their_when_come_from_the_registry() -> None:
    assert {key: ("attention", name) for name, key in SPACE_KEYS.items()}.items() <= PARAM_FIELDS.items()
    assert APPLIES_WHEN["channel.reduction"] == applies_when("reduction")
    assert applies_when("kernel") == "kind is cbam with a spatial gate"
    assert applies_when("min_hidden").startswith("kind is se, ") and "cbam with a channel gate" in applies_when(
        "min_hidden"
    )
    assert applies_when("no_such_field") == "never"


def test_the_counter_has_a_handle_for_every_primitive_a_kind_names() -> None:
    ops = set(COMMON_ELEMENTWISE) | {op for kind in KINDS.values() for op in kind.elementwise}
    assert {f"aten::{op}" for op in ops} == set(ELEMENTWISE_HANDLES)
