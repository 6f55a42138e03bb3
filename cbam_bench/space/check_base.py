"""What every check of a space file shares: problems collected as one line per key, and the mapping
and integer checks that name the key and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cbam_bench.errors import allowed, did_you_mean, integer_range
from cbam_bench.space.codec import is_int as _is_int
from cbam_bench.space.codec import show as _show


def _key_hint(key: str, names: list[str]) -> str:
    suffix = [n for n in names if n.endswith(f".{key}")]
    return f" (did you mean {suffix[0]!r}?)" if len(suffix) == 1 else did_you_mean(key, names)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class CheckerBase:
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

    def integer(self, key: str, value: Any, low: int, high: int) -> int | None:
        if _is_int(value) and low <= value <= high:
            return value
        self.bad(key, f"{_show(value)} is not allowed; allowed: {integer_range(low, high)}")
        return None
