"""The stored record of a trial, parsed once for each finished trial a worker holds.

Each pass of the search loop reads every earlier trial's record several times (counting, the
dedup check, the early-stop rule at every epoch): with 10,000 trials that is seconds of parsing
per trial. A finished trial's user_attrs never change (Optuna refuses writes to it), and Optuna's
cached storage hands out the same FrozenTrial object for it on every read, so its parsed record
is kept for as long as that object lives.
"""

from __future__ import annotations

import weakref
from typing import Any

from cbam_bench.trial_attrs import TrialAttrs

# id(FrozenTrial) -> its parsed user_attrs; an entry leaves with its trial object (weakref.finalize),
# so an id is never seen again for another object while its entry is here.
_PARSED: dict[int, TrialAttrs] = {}


def stored_attrs(trial: Any) -> TrialAttrs:
    """TrialAttrs.from_user_attrs(trial.user_attrs), parsed once per finished trial object."""
    key = id(trial)
    found = _PARSED.get(key)
    if found is not None:
        return found
    attrs = TrialAttrs.from_user_attrs(trial.user_attrs)
    state = getattr(trial, "state", None)
    if state is not None and state.is_finished():
        _PARSED[key] = attrs
        weakref.finalize(trial, _PARSED.pop, key, None)
    return attrs
