"""Stopping hopeless trials early when there are several objectives.

Optuna refuses trial.report() in multi-objective studies, so its pruners cannot be used there. Our
rule is the median rule, on validation accuracy: after the warm-up, a trial whose accuracy at epoch
e is below the median of earlier trials' accuracy at epoch e is stopped. Each trained trial stores
its first seed's curve (`curve`: validation accuracy per epoch), which is what later trials are
compared with; only the first seed is checked, so a trial that passed it trains its other seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from cbam_bench.space import EarlyStop

CURVE = "curve"


def median_rule(earlier: Iterable[Any], epoch: int, accuracy: float, rule: EarlyStop) -> str | None:
    """Why the trial should stop at this 1-based epoch, or None to go on.

    `earlier` are finished trials (FrozenTrial-like: user_attrs with a curve); those without a
    value at this epoch are ignored.
    """
    if epoch <= rule.warmup_epochs:
        return None
    values = [t.user_attrs[CURVE][epoch - 1] for t in earlier if len(t.user_attrs.get(CURVE, ())) >= epoch]
    if len(values) < rule.min_trials:
        return None
    median = statistics.median(values)
    if accuracy >= median:
        return None
    return (
        f"validation accuracy {accuracy:.4f} at epoch {epoch} is below the median {median:.4f} "
        f"of {len(values)} earlier trials"
    )
