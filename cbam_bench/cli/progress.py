"""Progress of a running search on stderr: a bar on a terminal, and always a line per finished trial.

Shared by every command that runs studies (search, ablate), as the SearchObserver they pass to
run_search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cbam_bench.cli import output
from cbam_bench.trial_attrs import TrialAttrs

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial
    from rich.progress import Progress

    from cbam_bench.search.slots import Counts
    from cbam_bench.search.study import Plan


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _accuracy(attrs: TrialAttrs) -> str:
    if attrs.accuracy is None:
        return "-"
    std = attrs.accuracy_std
    seeds = 1 if attrs.seeds is None else attrs.seeds
    return _pct(attrs.accuracy) + (f" ± {100 * std:.2f}" if std is not None and seeds > 1 else "")


def _ratio(attrs: TrialAttrs) -> str:
    """The latency ratio with its interval, where stored: steadier between trials than the ms beside it."""
    from cbam_bench.uncertainty import ratio_bounds

    if attrs.latency_ratio is None:
        return ""
    bounds = ratio_bounds(attrs)
    exact = bounds is None or bounds[0] == bounds[1]  # the plain network's [1, 1], or no interval
    return f", ratio {attrs.latency_ratio:.2f}" + ("" if exact else f" (95 % {bounds[0]:.2f}-{bounds[1]:.2f})")


def trial_line(trial: FrozenTrial, budgets: dict[str, float]) -> str:
    """One line per finished trial, for the log on stderr."""
    from optuna.trial import TrialState

    attrs = TrialAttrs.from_user_attrs(trial.user_attrs)
    from cbam_bench.report.format import attention_label

    head = f"trial {trial.number}: {attention_label(attrs.summary, attrs.arch or {})}"
    if trial.state == TrialState.FAIL:
        return f"{head}: failed: {'no reason recorded' if attrs.fail_reason is None else attrs.fail_reason}"
    if trial.state == TrialState.PRUNED:
        return f"{head}: stopped early: {attrs.stopped_reason or ''}"
    costs = f"MACs {output.human(attrs.macs or 0)}, params {output.human(attrs.params or 0)}, latency {attrs.latency_ms or 0:.2f} ms"
    costs += _ratio(attrs)
    if attrs.feasible is False:
        over = [
            f"{m} {value:.4g} > {limit:g}" for m, limit in budgets.items() if (value := getattr(attrs, m) or 0) > limit
        ]
        return f"{head}: over budget ({'; '.join(over)}), not trained; {costs}"
    reused = f" (same network as trial {attrs.reused_from}: measures reused)" if attrs.reused_from is not None else ""
    accuracy = f"accuracy {_accuracy(attrs)} %, " if attrs.accuracy is not None else ""
    took = f", trained in {attrs.train_s:.1f} s" if attrs.train_s and not reused else ""
    return f"{head}: {accuracy}{costs}{took}{reused}"


class SearchDisplay:
    """Progress on stderr: a bar only on a terminal, a line per finished trial always."""

    def __init__(self) -> None:
        self.console = output.stderr()
        self.progress: Progress | None = None
        self.task: Any = None
        self.budgets: dict[str, float] = {}
        self.study: optuna.Study | None = None
        self.target: int | None = None  # the run's target, at most the space's candidates

    def __enter__(self) -> SearchDisplay:
        if output.interactive():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("trials"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[status]}"),
                console=self.console,
                transient=True,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _print(self, text: str) -> None:
        (self.progress.console if self.progress else self.console).print(
            text, markup=False, soft_wrap=True, highlight=False
        )

    def _best(self) -> str:
        from optuna.trial import TrialState

        assert self.study is not None
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        done = [
            (t.number, a.accuracy)
            for t in complete
            if (a := TrialAttrs.from_user_attrs(t.user_attrs)).feasible is not False and a.accuracy is not None
        ]
        if not done:
            return ""
        number, accuracy = max(done, key=lambda pair: pair[1])
        return f"best so far: {_pct(accuracy)} % (trial {number})"

    def _update(self, counts: Counts, target: int, status: str) -> None:
        if self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task("trials", total=target, status="")
            self.progress.update(self.task, completed=min(counts.finished, target), status=status)

    # SearchObserver
    def opened(self, study: optuna.Study, plan: Plan, counts: Counts) -> None:
        self.study = study
        self.target = plan.trials
        self.budgets = dict(plan.space.budgets)
        objectives = ", ".join(str(o) for o in plan.space.objectives)
        self._print(
            f"study {study.study_name!r}: {counts.finished} of {plan.trials} trials finished; "
            f"objectives {objectives}; sampler {plan.sampler}; {plan.train.epochs} epochs x {plan.seeds} seed(s)"
        )
        self._update(counts, plan.trials, self._best())

    def trial_started(self, number: int, counts: Counts, target: int) -> None:
        self._update(counts, target, f"trial {number}: measuring  {self._best()}")

    def epoch(self, number: int, seed_index: int, epoch: int, epochs: int, accuracy: float) -> None:
        if self.progress is not None and self.task is not None:
            seed = f" seed {seed_index + 1}" if seed_index else ""
            status = f"trial {number}{seed}: epoch {epoch}/{epochs}, val {_pct(accuracy)} %  {self._best()}"
            self.progress.update(self.task, status=status)

    def trial_finished(self, trial: FrozenTrial, counts: Counts, target: int) -> None:
        self._print(f"[{min(counts.finished, target)}/{target}] {trial_line(trial, self.budgets)}")
        self._update(counts, target, self._best())

    def waiting(self, counts: Counts, target: int) -> None:
        self._print(f"waiting: {counts.running} trial(s) running in other workers would complete the study")

    def note(self, text: str) -> None:
        self._print(text)
