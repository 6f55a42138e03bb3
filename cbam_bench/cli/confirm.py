"""`cbam-bench confirm STUDY`: retrain a study's best front members longer, with seeds; rank agreement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.options import (
    ranged,
)
from cbam_bench.cli.study_options import (
    JsonOpt,
    SpaceDataDirOpt,
    SpaceDeviceOpt,
    StorageOpt,
    StudyArg,
)
from cbam_bench.search.storage import HEARTBEAT_S, MAX_HEARTBEAT_S
from cbam_bench.space.model import MAX_SEEDS, MAX_TOP
from cbam_bench.spec import MAX_EPOCHS
from cbam_bench.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    from cbam_bench.confirmation import Confirmation

EXAMPLES = """
Examples:

  cbam-bench confirm default                    # the 3 best front members and the baseline

  cbam-bench confirm default --top 5 --epochs 20 --seeds 5 --json
"""

TopOpt = Annotated[
    int,
    typer.Option(
        "--top",
        help=ranged(
            "Front members to confirm, best first by the first objective; the no-attention baseline is added.",
            1,
            MAX_TOP,
        ),
    ),
]
ConfirmEpochsOpt = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        help=ranged(
            "Epochs per confirmation run (default: the space's confirm.epochs, else 4x the search's).", 1, MAX_EPOCHS
        ),
        show_default=False,
    ),
]
ConfirmSeedsOpt = Annotated[
    int | None,
    typer.Option(
        "--seeds",
        help=ranged("Runs per member (default: the space's confirm.seeds, else 3).", 1, MAX_SEEDS),
        show_default=False,
    ),
]


def show(confirmation: Confirmation) -> None:
    """The table and the agreement lines on stdout (search --confirm prints the same)."""
    from cbam_bench.report.confirmation import confirmation_lines, confirmation_table

    console = output.stdout()
    output.print_table(console, confirmation_table(confirmation))
    for line in confirmation_lines(confirmation):
        console.print(line, markup=False, soft_wrap=True)


@reports_errors
def confirm(
    study: StudyArg,
    storage: StorageOpt = DEFAULT_STORAGE,
    top: TopOpt = 3,
    epochs: ConfirmEpochsOpt = None,
    seeds: ConfirmSeedsOpt = None,
    device: SpaceDeviceOpt = None,
    data_dir: SpaceDataDirOpt = None,
    heartbeat: Annotated[
        int, typer.Option("--heartbeat", help=ranged("Seconds between a running run's heartbeats.", 1, MAX_HEARTBEAT_S))
    ] = HEARTBEAT_S,
    json: JsonOpt = False,
) -> None:
    """Retrain the best front members and the baseline at a higher fidelity, with seeds, into STUDY-confirm.

    Running it again resumes (only missing runs are trained); several processes split the work.
    `cbam-bench report STUDY` then shows the confirmation next to the front.
    """
    import optuna

    from cbam_bench.cli.progress import SearchDisplay
    from cbam_bench.search.confirm import run_confirm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with SearchDisplay() as display:
        result = run_confirm(
            storage,
            study,
            top=top,
            epochs=epochs,
            seeds=seeds,
            device=device,
            data_dir=data_dir,
            heartbeat_s=heartbeat,
            observer=display,
        )
    if json:
        output.print_json(result.to_dict())
        return
    show(result)


output.add_examples(confirm, EXAMPLES)
