"""`cbam-bench search [SPACE]`: run or resume a study, then print its Pareto front."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.options import ranged
from cbam_bench.cli.progress import SearchDisplay
from cbam_bench.cli.study_options import (
    JsonOpt,
    SpaceDataDirOpt,
    SpaceDeviceOpt,
    SpaceEpochsOpt,
    SpaceSeedsOpt,
    StorageOpt,
)
from cbam_bench.cli.train_options import FusedOpt
from cbam_bench.errors import allowed, check_int
from cbam_bench.search.storage import HEARTBEAT_S, MAX_HEARTBEAT_S
from cbam_bench.space import MAX_TRIALS, SAMPLERS
from cbam_bench.space.model import MAX_TOP
from cbam_bench.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    from cbam_bench.confirmation import Confirmation
    from cbam_bench.records import TrialRecord
    from cbam_bench.report.summary import StudySummary
    from cbam_bench.search.slots import Counts

EXAMPLES = """
Examples:

  cbam-bench search                      # the default space, into results/cbam-bench.db

  cbam-bench search placement --trials 40 --epochs 10

  cbam-bench search my-space.yaml --seeds 3 --no-early-stop --json

  # one study on several machines: the same command on each
  cbam-bench search cifar10-resnet18 --storage postgresql://cbam:PASSWORD@db-host/cbam
"""


def _front_item(trial: TrialRecord) -> dict[str, Any]:
    """A front member as the search's --json shows it: report's trial item plus the objective values."""
    from cbam_bench.report.summary import trial_item

    return {**trial_item(trial, rank=1), "values": list(trial.values or ())}


def confirm_command(study: str, storage: str) -> str:
    """The command that confirms `study`: what a user runs before acting on its short-run front."""
    where = "" if storage == DEFAULT_STORAGE else f" --storage {shlex.quote(storage)}"
    return f"cbam-bench confirm {shlex.quote(study)}{where}"


def _render(summary: StudySummary, counts: Counts, storage: str, target: int, confirmed: bool) -> None:
    """The front exactly as `cbam-bench report` shows it, then where the study stands and, unless this
    run confirmed it, how to confirm it: the front is a short-run ranking until then."""
    from cbam_bench.report.tables import front_table

    study = summary.study
    console = output.stdout()
    if summary.front:
        output.print_table(console, front_table(summary))
    else:
        console.print("Pareto front: no feasible complete trial yet.", markup=False)
    trained = counts.complete - counts.infeasible - counts.reused
    console.print(
        f"study {study.name!r} in {storage}: {counts.finished} of {target} trials finished "
        f"({trained} complete, {counts.reused} reused an earlier trial's measures, {counts.infeasible} over budget, "
        f"{counts.pruned} stopped early), {counts.failed} failed, {counts.duplicates} duplicate proposals not trained; "
        f"`cbam-bench report {study.name}` shows more.",
        markup=False,
        soft_wrap=True,
    )
    if summary.front and not confirmed:
        epochs = (study.train or {}).get("epochs")
        console.print(
            f"Next: this front is a {f'{epochs}-epoch' if epochs else 'short-run'} ranking; retrain its best members "
            f"and the baseline longer, with seeds, to see whether it holds: {confirm_command(study.name, storage)}",
            markup=False,
            soft_wrap=True,
        )


def _document(
    result: Any, space: Any, storage: str, target: int, summary: StudySummary, confirmation: Confirmation | None
) -> dict[str, Any]:
    """The --json document: the study, where it stands, its front and its confirmation (or null)."""
    from cbam_bench.search.slots import count_trials
    from cbam_bench.search.study import missing_baseline

    return {
        "study": result.study_name,
        "storage": storage,
        "space": space.name,
        "objectives": result.user_attrs.get("objectives"),
        "budgets": result.user_attrs.get("budgets"),
        "target": target,
        "counts": count_trials(result).to_dict(),
        "baseline_missing": missing_baseline(result, space),  # why there is no no-attention baseline, or null
        "front": [_front_item(t) for t in summary.front],
        "confirmation": None if confirmation is None else confirmation.to_dict(),
    }


@reports_errors
def search(
    space: Annotated[
        str, typer.Argument(help="A shipped space's name (see `cbam-bench spaces list`) or a YAML file.")
    ] = "default",
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            help=ranged(
                "Finished trials (complete, stopped early or over budget) the study should have; default: the space's.",
                1,
                MAX_TRIALS,
            ),
            show_default=False,
        ),
    ] = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default: the space's name).", show_default=False)
    ] = None,
    epochs: SpaceEpochsOpt = None,
    seeds: SpaceSeedsOpt = None,
    sampler: Annotated[
        str | None,
        typer.Option("--sampler", help=f"Override the space's sampler: {allowed(SAMPLERS)}.", show_default=False),
    ] = None,
    early_stop: Annotated[
        bool,
        typer.Option(
            "--early-stop/--no-early-stop", help="Stop trials below the median of earlier ones at the same epoch."
        ),
    ] = True,
    device: SpaceDeviceOpt = None,
    data_dir: SpaceDataDirOpt = None,
    fused: FusedOpt = None,
    heartbeat: Annotated[
        int,
        typer.Option(
            "--heartbeat",
            help=ranged(
                "Seconds between a running trial's heartbeats; a trial silent for twice that is failed and retried.",
                1,
                MAX_HEARTBEAT_S,
            ),
        ),
    ] = HEARTBEAT_S,
    confirm: Annotated[
        int | None,
        typer.Option(
            "--confirm",
            help=ranged(
                "Then retrain this many best front members and the baseline at the space's confirm: fidelity (see `cbam-bench confirm`).",
                1,
                MAX_TOP,
            ),
            show_default=False,
        ),
    ] = None,
    keep_weights: Annotated[
        str,
        typer.Option(
            "--keep-weights", help="Store each trained trial's weights (first seed) as an Optuna artifact: all or none."
        ),
    ] = "all",
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="Folder of the artifact store (default: artifacts/ beside a SQLite --storage, else results/artifacts).",
            show_default=False,
        ),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Run or resume a multi-objective study over a search space; print its Pareto front.

    Running the same command again resumes the study; several processes (on one machine or many,
    sharing one --storage) split the work and together stop at exactly --trials finished trials.
    """
    import optuna

    from cbam_bench.records import records_from_study
    from cbam_bench.report.summary import summarize
    from cbam_bench.search.run import run_search
    from cbam_bench.search.slots import count_trials
    from cbam_bench.search.storage import redact
    from cbam_bench.space import default_trials, find_space, load_space

    if confirm is not None:
        check_int("--confirm", confirm, 1, MAX_TOP)
    loaded = load_space(find_space(space))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    confirmation = None
    with SearchDisplay() as display:
        result = run_search(
            loaded,
            trials=trials,
            storage=storage,
            study_name=study,
            epochs=epochs,
            seeds=seeds,
            sampler=sampler,
            early_stop=early_stop,
            device=device,
            data_dir=data_dir,
            fused=fused,
            heartbeat_s=heartbeat,
            observer=display,
            keep_weights=keep_weights,
            artifacts=artifacts,
        )
        if confirm is not None:
            from cbam_bench.search.confirm import run_confirm

            confirmation = run_confirm(
                storage,
                result.study_name,
                top=confirm,
                device=device,
                data_dir=data_dir,
                heartbeat_s=heartbeat,
                observer=display,
            )
    target = display.target or trials or default_trials(loaded)
    summary = summarize(records_from_study(result, redact(storage)))
    counts = count_trials(result)
    if json:
        output.print_json(_document(result, loaded, redact(storage), target, summary, confirmation))
        return
    _render(summary, counts, redact(storage), target, confirmation is not None)
    if confirmation is not None:
        from cbam_bench.cli.confirm import show

        show(confirmation)


output.add_examples(search, EXAMPLES)
