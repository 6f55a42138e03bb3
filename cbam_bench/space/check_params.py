"""The checks of a space file's `params:` mapping: each searched field's choices, placement subsets,
and attention variants (paper tables or mappings), each problem one line naming the key."""

from __future__ import annotations

import dataclasses
from typing import Any

from cbam_bench.errors import SpecError, allowed, did_you_mean
from cbam_bench.paper import ABLATIONS
from cbam_bench.space.check_base import CheckerBase
from cbam_bench.space.codec import BadChoice, encode, variant_key
from cbam_bench.space.codec import is_int as _is_int
from cbam_bench.space.codec import show as _show
from cbam_bench.space.model import PAPER_PREFIX, PARAM_FIELDS, Choice
from cbam_bench.spec import AttentionSpec

_ATTENTION_FIELDS = [f.name for f in dataclasses.fields(AttentionSpec)]


class ParamChecks(CheckerBase):
    def params(
        self, value: Any, backbone: str | None
    ) -> tuple[dict[str, tuple[Choice, ...]], dict[str, dict[str, Any]]]:
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
        elif (
            isinstance(value, dict)
            and "attention.kind" not in fields
            and not any(str(k).startswith("attention.") for k in value)
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
                choice = encode(key, item, backbone)
            except BadChoice as exc:
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
        return [[s for bit, s in enumerate(unique) if mask >> bit & 1] for mask in range(1, 2 ** len(unique))]

    def variants(self, value: Any) -> dict[str, dict[str, Any]]:
        name = "params.attention.variant"
        items = value if isinstance(value, list) else [value]
        rows: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, str) and item.startswith(PAPER_PREFIX):
                table = item[len(PAPER_PREFIX) :]
                if table in ABLATIONS:
                    rows.extend(dict(fields) for fields, _ in ABLATIONS[table])
                else:
                    tables = [PAPER_PREFIX + t for t in ABLATIONS]
                    self.bad(
                        name,
                        f"{item!r} is not allowed{did_you_mean(item, tables)}; allowed: {allowed(tables)} or a mapping of attention fields",
                    )
            elif isinstance(item, dict):
                row = self.mapping(name, item, _ATTENTION_FIELDS)
                if "kind" not in row:
                    self.bad(name, f"{_show(item)} needs a kind")
                    continue
                rows.append(row)
            else:
                self.bad(
                    name,
                    f"{_show(item)} is not allowed; allowed: paper:TABLE ({allowed(ABLATIONS)}) or a mapping of attention fields such as {{kind: cbam, kernel: 3}}",
                )
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            try:
                spec = AttentionSpec(**row)
            except SpecError as exc:
                self.bad(name, f"{_show(row)}: {exc}")
                continue
            canonical = {k: (list(spec.pooling) if k == "pooling" else getattr(spec, k)) for k in row}
            label = variant_key(canonical)
            if label in out:
                self.bad(name, f"{label!r} is listed twice")
                continue
            out[label] = {k: (tuple(v) if k == "pooling" else v) for k, v in canonical.items()}
        if not out and not any(p.startswith(name) for p in self.problems):
            self.bad(name, "must list at least one variant")
        return out
