"""`cbam-bench search [SPACE]`: run or resume a study, then print its Pareto front."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.options import JsonOpt, StorageOpt
from cbam_bench.errors import allowed
from cbam_bench.search.storage import HEARTBEAT_S
from cbam_bench.space import SAMPLERS
from cbam_bench.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial
    from rich.progress import Progress

    from cbam_bench.search.slots import Counts
    from cbam_bench.search.study import Plan

EXAMPLES = """
Examples:

  cbam-bench search                      # the default space, into results/cbam-bench.db

  cbam-bench search placement --trials 40 --epochs 10

  cbam-bench search my-space.yaml --seeds 3 --no-early-stop --json

  # one study on several machines: the same command on each
  cbam-bench search cifar10-resnet18 --storage postgresql://cbam:PASSWORD@db-host/cbam
"""

TRAINING = "Training"
CAPTION = (
    "accuracy: top-1 on the validation split, mean ± std over seeds. MACs: multiply-adds of convolutions "
    "and linear layers, one image (paper convention). latency: median forward time of one batch."
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _accuracy(attrs: dict[str, Any]) -> str:
    if "accuracy" not in attrs:
        return "-"
    std = attrs.get("accuracy_std")
    seeds = attrs.get("seeds", 1)
    return _pct(attrs["accuracy"]) + (f" ± {100 * std:.2f}" if std is not None and seeds > 1 else "")


def _placement(attrs: dict[str, Any]) -> str:
    placement = attrs.get("arch", {}).get("placement", {})
    stages = placement.get("stages")
    where = "all stages" if stages is None else "stages " + ",".join(str(s) for s in stages)
    return f"{where}, {placement.get('blocks', 'all')}, {placement.get('position', 'residual')}"


def _trial_line(trial: FrozenTrial, budgets: dict[str, float]) -> str:
    """One line per finished trial, for the log on stderr."""
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    head = f"trial {trial.number}: {attrs.get('summary', '?')}"
    if trial.state == TrialState.FAIL:
        return f"{head}: failed: {attrs.get('fail_reason', 'no reason recorded')}"
    if trial.state == TrialState.PRUNED:
        return f"{head}: stopped early: {attrs.get('stopped_reason', '')}"
    costs = f"MACs {output.human(attrs.get('macs', 0))}, params {output.human(attrs.get('params', 0))}, latency {attrs.get('latency_ms', 0):.2f} ms"
    if attrs.get("feasible") is False:
        over = [f"{m} {attrs[m]:.4g} > {limit:g}" for m, limit in budgets.items() if attrs.get(m, 0) > limit]
        return f"{head}: over budget ({'; '.join(over)}), not trained; {costs}"
    reused = f" (same network as trial {attrs['reused_from']}: measures reused)" if "reused_from" in attrs else ""
    accuracy = f"accuracy {_accuracy(attrs)} %, " if "accuracy" in attrs else ""
    took = f", trained in {attrs['train_s']:.1f} s" if attrs.get("train_s") and not reused else ""
    return f"{head}: {accuracy}{costs}{took}{reused}"


class _Display:
    """Progress on stderr: a bar only on a terminal, a line per finished trial always."""

    def __init__(self) -> None:
        self.console = output.stderr()
        self.progress: Progress | None = None
        self.task: Any = None
        self.budgets: dict[str, float] = {}
        self.study: optuna.Study | None = None

    def __enter__(self) -> _Display:
        if output.interactive():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[status]}"), console=self.console, transient=True,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _print(self, text: str) -> None:
        (self.progress.console if self.progress else self.console).print(text, markup=False, soft_wrap=True, highlight=False)

    def _best(self) -> str:
        from optuna.trial import TrialState

        assert self.study is not None
        done = [
            t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("feasible", True) and "accuracy" in t.user_attrs
        ]
        if not done:
            return ""
        best = max(done, key=lambda t: t.user_attrs["accuracy"])
        return f"best so far: {_pct(best.user_attrs['accuracy'])} % (trial {best.number})"

    def _update(self, counts: Counts, target: int, status: str) -> None:
        if self.progress is not None:
            if self.task is None:
                self.task = self.progress.add_task("trials", total=target, status="")
            self.progress.update(self.task, completed=min(counts.finished, target), status=status)

    # SearchObserver
    def opened(self, study: optuna.Study, plan: Plan, counts: Counts) -> None:
        from cbam_bench.search.storage import redact

        self.study = study
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
        self._print(f"[{min(counts.finished, target)}/{target}] {_trial_line(trial, self.budgets)}")
        self._update(counts, target, self._best())

    def waiting(self, counts: Counts, target: int) -> None:
        self._print(f"waiting: {counts.running} trial(s) running in other workers would complete the study")

    def note(self, text: str) -> None:
        self._print(text)


def _front_item(trial: FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    keys = ("archid", "summary", "accuracy", "accuracy_std", "seed_accuracies", "top5", "test_accuracy",
            "test_top5", "macs", "params", "elementwise_ops", "latency_ms", "latency_p90_ms", "seeds", "arch")
    return {"trial": trial.number, "values": list(trial.values), **{k: attrs.get(k) for k in keys}}


def _render(study: optuna.Study, storage: str, target: int, searched_placement: bool) -> None:
    from cbam_bench.search.front import pareto_front
    from cbam_bench.search.slots import count_trials

    front = pareto_front(study)
    counts = count_trials(study)
    columns = ["trial", "attention"] + (["placement"] if searched_placement else []) + [
        "accuracy (%)", "MACs", "params", "latency (ms)"]
    rows = [
        [str(t.number), t.user_attrs.get("summary", "?")]
        + ([_placement(t.user_attrs)] if searched_placement else [])
        + [_accuracy(t.user_attrs), output.human(t.user_attrs["macs"]), output.human(t.user_attrs["params"]),
           f"{t.user_attrs['latency_ms']:.2f}"]
        for t in front
    ]
    caption = (
        f"study {study.study_name!r} in {storage}: {counts.finished} of {target} trials finished "
        f"({counts.complete - counts.infeasible} complete, {counts.infeasible} over budget, {counts.pruned} stopped early), "
        f"{counts.failed} failed; objectives {', '.join(study.user_attrs.get('objectives', []))}.\n{CAPTION}"
    )
    console = output.stdout()
    console.print(output.table("Pareto front", columns, rows, caption=caption))
    if not front:
        console.print("No feasible complete trial yet.")


@reports_errors
def search(
    space: Annotated[str, typer.Argument(help="A shipped space's name (see `cbam-bench spaces list`) or a YAML file.")] = "default",
    trials: Annotated[int | None, typer.Option("--trials", "-n", min=1, help="Finished trials (complete, stopped early or over budget) the study should have; default: the space's.", show_default=False)] = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    study: Annotated[str | None, typer.Option("--study", help="Study name (default: the space's name).", show_default=False)] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs per candidate (default: the space's).", rich_help_panel=TRAINING, show_default=False)] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", min=1, help="Train each candidate this many times: accuracy is the mean, its std is stored (default: the space's).", rich_help_panel=TRAINING, show_default=False)] = None,
    sampler: Annotated[str | None, typer.Option("--sampler", help=f"Override the space's sampler: {allowed(SAMPLERS)}.", show_default=False)] = None,
    early_stop: Annotated[bool, typer.Option("--early-stop/--no-early-stop", help="Stop trials below the median of earlier ones at the same epoch.")] = True,
    device: Annotated[str | None, typer.Option("--device", help="Training device: auto, cpu or cuda (default: the space's).", rich_help_panel=TRAINING, show_default=False)] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", help="Folder holding dataset files (CIFAR batches, image folders).", rich_help_panel=TRAINING, show_default=False)] = None,
    heartbeat: Annotated[int, typer.Option("--heartbeat", min=1, help="Seconds between a running trial's heartbeats; a trial silent for twice that is failed and retried.")] = HEARTBEAT_S,
    json: JsonOpt = False,
) -> None:
    """Run or resume a multi-objective study over a search space; print its Pareto front.

    Running the same command again resumes the study; several processes (on one machine or many,
    sharing one --storage) split the work and together stop at exactly --trials finished trials.
    """
    import optuna

    from cbam_bench.search.front import pareto_front
    from cbam_bench.search.run import run_search
    from cbam_bench.search.slots import count_trials
    from cbam_bench.search.storage import redact
    from cbam_bench.space import find_space, load_space

    loaded = load_space(find_space(space))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with _Display() as display:
        result = run_search(
            loaded, trials=trials, storage=storage, study_name=study, epochs=epochs, seeds=seeds, sampler=sampler,
            early_stop=early_stop, device=device, data_dir=data_dir, heartbeat_s=heartbeat, observer=display,
        )
    target = trials or loaded.default_trials
    if json:
        output.print_json({
            "study": result.study_name,
            "storage": redact(storage),
            "space": loaded.name,
            "objectives": result.user_attrs.get("objectives"),
            "budgets": result.user_attrs.get("budgets"),
            "target": target,
            "counts": count_trials(result).to_dict(),
            "front": [_front_item(t) for t in pareto_front(result)],
        })
        return
    _render(result, redact(storage), target, any(k.startswith("placement.") for k in loaded.searched))


search.__doc__ = inspect.cleandoc(search.__doc__ or "") + "\n" + EXAMPLES
