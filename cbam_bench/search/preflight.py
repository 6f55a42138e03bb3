"""What run_search checks before a study is created or a trial taken: devices that are here, and a
trial count the space can hold."""

from __future__ import annotations

import dataclasses

from cbam_bench.errors import SpaceError, SpecError
from cbam_bench.search.observer import SearchObserver
from cbam_bench.search.study import Plan
from cbam_bench.space import Space, count_candidates


def within_space(plan: Plan, observer: SearchObserver) -> Plan:
    """At most one trial per candidate: a space with fewer than asked stops when all are done."""
    held = count_candidates(plan.space)
    if plan.trials <= held:
        return plan
    observer.note(
        f"{plan.space.path}: the space holds {held} candidates, fewer than the {plan.trials} trials asked "
        f"for; the study stops when all {held} are done"
    )
    return dataclasses.replace(plan, trials=held)


def check_latency_device(space: Space) -> None:
    import torch

    if space.latency.device == "cuda" and not torch.cuda.is_available():
        raise SpaceError(
            f"{space.path}: latency.device: cuda is not available on this machine; "
            "run this space on a GPU machine, or measure latency on the cpu"
        )


def check_train_device(plan: Plan, option_given: bool) -> None:
    """A device that is not here is refused before the study is created or a trial is taken."""
    from cbam_bench.device import resolve_device

    try:
        resolve_device(plan.train.device)
    except SpecError as exc:
        raise exc.rekeyed("--device" if option_given else f"{plan.space.path}: train.device") from None
