"""Reading torch files a user hands us (--weights, checkpoints): tensors and plain containers only.

torch.load(weights_only=True) never runs code from a file, but its refusals are paragraphs of
advice; here each is one line naming the file, with torch's text kept as the cause for --debug.
"""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from cbam_bench.errors import SpecError

_GLOBAL = re.compile(r"GLOBAL (\S+)")


def _first_sentence(text: str) -> str:
    return " ".join(text.split()).split(". ")[0].rstrip(".")


def load_tensors(path: str | Path, name: str) -> Any:
    """The file's contents loaded weights-only onto the CPU; SpecError starting with `name` otherwise."""
    try:
        with warnings.catch_warnings():
            # torch warns (on stderr, before the error line) about a pickle protocol it then refuses anyway.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SpecError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{name}: is a folder; allowed: a file written by torch.save") from None
    except pickle.UnpicklingError as exc:
        found = _GLOBAL.search(str(exc))
        if found:  # a class or function to call: what a malicious pickle needs
            raise SpecError(
                f"{name}: not a weights-only checkpoint: it holds executable objects ({found.group(1)}); refused"
            ) from exc
        raise SpecError(f"{name}: not loadable (UnpicklingError: not a file torch.save wrote, or a damaged one)") from exc
    except Exception as exc:  # a truncated file, or not a torch file at all
        raise SpecError(f"{name}: not loadable ({type(exc).__name__}: {_first_sentence(str(exc))})") from exc


def check_tensors(state: dict[Any, Any], name: str) -> None:
    """SpecError naming the first key whose value is not a tensor: load_state_dict would fail on it
    with an AttributeError or a message of several lines."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise SpecError(
                f"{name}: {key!r} is of type {type(value).__name__}, not a tensor; "
                "allowed: a state_dict mapping parameter names to tensors"
            )
