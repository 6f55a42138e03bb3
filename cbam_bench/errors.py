"""Errors that mean "the input is wrong": the CLI prints their message as one line and exits 2."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


class CbamBenchError(Exception):
    """Bad input a user can fix; the message names the key or option and what is allowed."""


class SpecError(CbamBenchError, ValueError):
    """An architecture or training spec holds a value outside what it allows.

    It carries the key (`attention.kernel`, `--lr`, a file path) and the reason apart, so a caller
    that knows the key under another name (the CLI's flag, a space file's key) swaps the key
    instead of editing text; str() is "key: reason".
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(key, reason)
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"

    def rekeyed(self, key: str) -> SpecError:
        """The same reason under another key."""
        return type(self)(key, self.reason)


class SpaceError(CbamBenchError, ValueError):
    """A search-space file is malformed."""


class DataError(CbamBenchError):
    """A dataset is unknown, missing or unreadable."""


class StudyError(CbamBenchError):
    """A study or trial named by the user does not exist or cannot be used."""


def allowed(values: Iterable[object]) -> str:
    """Render allowed values the same way in every message."""
    return ", ".join(str(v) for v in values)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    """Raise SpecError unless value is one of choices."""
    options = list(choices)
    if value not in options:
        hint = did_you_mean(str(value), [str(c) for c in options])
        raise SpecError(name, f"{value!r} is not allowed{hint}; allowed: {allowed(options)}")


def integer_range(low: int, high: int) -> str:
    """The allowed range of an integer, worded the same way in every message and --help."""
    return f"an integer in [{low}, {high}]"


def check_int(name: str, value: object, low: int, high: int) -> None:
    """Raise SpecError unless value is an integer (not a bool) from low to high.

    Every integer has an upper bound: a slip (10**30 trials, a seed past what samplers take) is
    refused here, with the range, instead of failing deep inside numpy or torch.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(name, f"{value!r} is not allowed; allowed: {integer_range(low, high)}")


def check_number(name: str, value: object, low: float, *, above: bool = False) -> None:
    """Raise SpecError unless value is a finite number >= low (> low with `above`); nan and inf never are."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= low if above else value < low):  # type: ignore[operator]
        raise SpecError(name, f"{value!r} is not allowed; allowed: a finite number {'>' if above else '>='} {low:g}")
