"""The non-dominated trials of a study: what the search prints at the end.

Kept to one function on purpose; cbam_bench/pareto.py (fronts, hypervolume, knee) supersedes it.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """Complete, feasible, trained-here trials no other such trial dominates, by accuracy (best first).

    A trial that reused another's measures is left out: the original stands for both.
    """
    signs = [1.0 if d == optuna.study.StudyDirection.MAXIMIZE else -1.0 for d in study.directions]
    pool = [
        t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.user_attrs.get("feasible", True) and "reused_from" not in t.user_attrs
    ]
    scored = [(t, [s * v for s, v in zip(signs, t.values)]) for t in pool]

    def dominated(a: list[float]) -> bool:
        return any(all(x >= y for x, y in zip(b, a)) and b != a for _, b in scored)

    front = [t for t, score in scored if not dominated(score)]
    return sorted(front, key=lambda t: (-t.user_attrs.get("accuracy", 0.0), t.number))
