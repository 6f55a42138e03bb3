"""What a running search reports as it goes, as a class with one no-op method per event.

Its own module because both the run loop and each trial call it: kept apart, neither needs the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from cbam_bench.search.slots import Counts
    from cbam_bench.search.study import Plan


class SearchObserver:
    """What a run reports as it goes; this one ignores everything, the command line shows it."""

    def opened(self, study: optuna.Study, plan: Plan, counts: Counts) -> None:
        """The study is open; `counts` is where it stands."""

    def trial_started(self, number: int, counts: Counts, target: int) -> None:
        """This worker starts trial `number`."""

    def epoch(self, number: int, seed_index: int, epoch: int, epochs: int, accuracy: float) -> None:
        """Trial `number` finished an epoch of its `seed_index`-th seed."""

    def trial_finished(self, trial: FrozenTrial, counts: Counts, target: int) -> None:
        """A trial of this worker is recorded (COMPLETE, PRUNED or FAIL)."""

    def waiting(self, counts: Counts, target: int) -> None:
        """Trials running elsewhere would complete the study; this worker waits for them."""

    def note(self, text: str) -> None:
        """Something worth a line that is not a trial's outcome."""
