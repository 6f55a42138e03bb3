"""The one codec for search-space values: a file's choice -> the plain value Optuna stores -> the spec's value.

Optuna stores categorical choices as plain strings, numbers or booleans, and a resumed study must
offer exactly the choices it stored. So every choice is encoded once, here, in a fixed form
(`avg+max`, `2,3`, a variant's key), decoded back here, and the two are tested as round trips.
A variant's key is a storage format, not a display: its form never changes (the label a person
reads is AttentionSpec.summary()).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from cbam_bench.errors import SpecError
from cbam_bench.space.model import PARAM_FIELDS, Choice
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec

_NAMES = ("backbone.stride_on", "placement.blocks", "placement.position")
_FIELD_TYPES = {f.name: type(f.default) for f in dataclasses.fields(AttentionSpec)}
# An attention choice's form follows its field's type, so a kind's new field needs nothing here.
# Numbers need no form check: the spec's own refusal already names the range.
_FORM_OF_TYPE = {int: "int", bool: "bool", str: "name"}


class BadChoice(Exception):
    """One choice a file lists is not allowed; the message says why (the checker names the key)."""


def show(value: Any) -> str:
    """A value as a message quotes it, cut short past 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _form(key: str) -> str | None:
    group, field = PARAM_FIELDS[key]
    if group == "attention":
        return _FORM_OF_TYPE.get(_FIELD_TYPES[field])
    return "name" if key in _NAMES else None


def _shape_check(key: str, item: Any) -> Any:
    """The item in the form its spec field takes, or BadChoice naming the form a choice must have."""
    if key == "channel.pooling":
        if isinstance(item, str):
            item = [p for p in re.split(r"[+, ]+", item) if p]
        if not isinstance(item, list) or not item or not all(isinstance(p, str) for p in item):
            raise BadChoice(
                f"{show(item)} is not allowed; each choice is a set of poolings such as [avg, max] or avg+max"
            )
    elif key == "placement.stages":
        if is_int(item):
            item = [item]
        if not isinstance(item, list) or not item or not all(is_int(s) for s in item):
            raise BadChoice(
                f"{show(item)} is not allowed; each choice is all or a list of stage numbers such as [2, 3]"
            )
    else:
        form = _form(key)
        if form == "int" and not is_int(item):
            raise BadChoice(f"{show(item)} is not allowed; allowed: integers")
        if form == "bool" and not isinstance(item, bool):
            raise BadChoice(f"{show(item)} is not allowed; allowed: true, false")
        if form == "name" and not isinstance(item, str):
            raise BadChoice(f"{show(item)} is not allowed; allowed: names such as in the README's table")
    return item


def encode(key: str, item: Any, backbone: str | None) -> Choice:
    """A file's choice for `key` as Optuna stores it, checked against the spec; BadChoice when wrong."""
    if key == "placement.stages" and item == "all":
        return "all"
    item = _shape_check(key, item)
    group, field = PARAM_FIELDS[key]
    try:
        if group == "attention":
            value = getattr(AttentionSpec(**{field: item}), field)
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
        raise BadChoice(exc.reason) from None
    if key == "channel.pooling":
        return "+".join(value)
    if key == "placement.stages":
        return ",".join(str(s) for s in value)
    return value


def decode(key: str, value: Choice) -> Any:
    """A stored choice back to its spec value ('avg+max' -> ('avg', 'max'), '2,3' -> (2, 3))."""
    if key == "channel.pooling":
        return tuple(str(value).split("+"))
    if key == "placement.stages":
        return None if value == "all" else tuple(int(s) for s in str(value).split(","))
    return value


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "+".join(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def variant_key(fields: dict[str, Any]) -> str:
    """'cbam order=channel-only pooling=max': the kind, then the fields a variant sets, sorted."""
    rest = " ".join(f"{k}={_text(v)}" for k, v in sorted(fields.items()) if k != "kind")
    return f"{fields['kind']} {rest}".strip()


def decode_variant(key: str) -> dict[str, Any]:
    """The fields a variant key stands for, typed as AttentionSpec takes them."""
    kind, *rest = key.split(" ")
    fields: dict[str, Any] = {"kind": kind}
    for part in rest:
        name, _, text = part.partition("=")
        kind_of = _FIELD_TYPES[name]
        if kind_of is tuple:
            fields[name] = tuple(text.split("+"))
        elif kind_of is bool:
            fields[name] = text == "true"
        else:
            fields[name] = kind_of(text)
    return fields
