"""Errors that mean "the input is wrong": the CLI prints their message as one line and exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CbamBenchError(Exception):
    """Bad input a user can fix; the message names the key or option and what is allowed."""


class SpecError(CbamBenchError, ValueError):
    """An architecture or training spec holds a value outside what it allows."""


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
        raise SpecError(f"{name}: {value!r} is not allowed{hint}; allowed: {allowed(options)}")
