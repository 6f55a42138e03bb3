"""`cbam-bench ablate TABLE`: the paper's Tables 1-3 as grid studies, printed beside the paper's numbers."""

from __future__ import annotations

from typing import Annotated

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.progress import SearchDisplay
from cbam_bench.cli.study_options import (
    JsonOpt,
    SpaceDataDirOpt,
    SpaceDeviceOpt,
    SpaceEpochsOpt,
    SpaceSeedsOpt,
    StorageOpt,
)
from cbam_bench.errors import allowed
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.storage import DEFAULT_STORAGE

TABLE_CHOICES = (
    "channel (Table 1), spatial (Table 2), arrangement (Table 3), all (the three), "
    "or detection (Table 6: none / SE / CBAM in a Faster R-CNN's backbone)"
)

EXAMPLES = """
Examples:

  cbam-bench ablate channel                   # Table 1 on cifar_resnet20 / digits-clutter, 3 seeds per row

  cbam-bench ablate all --epochs 10 --seeds 5

  cbam-bench ablate arrangement --backbone cifar_resnet56 --dataset cifar10 --data-dir ~/data --device cuda

  cbam-bench ablate spatial --json > spatial.json

  cbam-bench ablate detection --device cpu     # none / SE / CBAM detectors on digits-detect, 3 seeds each
"""


@reports_errors
def ablate(
    table: Annotated[str, typer.Argument(help=f"Which of the paper's ablations: {TABLE_CHOICES}.", show_default=False)],
    backbone: Annotated[
        str | None,
        typer.Option(
            "--backbone",
            help=f"Network to ablate on (default: the paper-* spaces', cifar_resnet20): {allowed(BACKBONES)}.",
            show_default=False,
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", help="Dataset to train on (default: the paper-* spaces', digits-clutter).", show_default=False
        ),
    ] = None,
    seeds: SpaceSeedsOpt = None,
    epochs: SpaceEpochsOpt = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    device: SpaceDeviceOpt = None,
    data_dir: SpaceDataDirOpt = None,
    json: JsonOpt = False,
) -> None:
    """Re-run the CBAM paper's ablation tables as grid studies and set them beside the paper.

    Every row of a table is trained --seeds times (3 by default) in a grid study of the shipped
    paper-channel, paper-spatial or paper-arrangement space; running the same command again resumes
    it, or only prints once every row is trained. Each row shows our validation accuracy (mean ± std
    over seeds), params, MACs and latency beside the paper's ImageNet ResNet50 top-1 / top-5 error,
    then whether our order of the rows agrees with the paper's and which differences a 95% Welch
    interval leaves unresolved. The study is named after the space, plus any option that departs
    from it (e.g. paper-channel-resnet18-1ep), so `cbam-bench report` and `compare` read it too.

    `detection` trains a Faster R-CNN per row (the paper-detection space: none, SE, CBAM in a
    ResNet-18 backbone on digits-detect, the default detection recipe) and shows each row's
    mAP@[.5:.95] and mAP@.5 with 95% intervals over seeds, params, MACs and latency, each
    attention row's mAP gain over none with a 95% Welch interval, and the paper's Table 6 mAP.
    """
    from cbam_bench.ablate import DETECTION_TABLE, plan_ablation, run_ablation, tables_named
    from cbam_bench.ablate_detection import read_detection_ablation

    plans = [
        plan_ablation(t, backbone=backbone, dataset=dataset, epochs=epochs, seeds=seeds) for t in tables_named(table)
    ]

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cheap: dict = {}  # Table 3 repeats networks of Tables 1 and 2: measure each once
    with SearchDisplay() as display:
        ablations = [
            run_ablation(
                plan,
                storage=storage,
                device=device,
                data_dir=data_dir,
                observer=display,
                cheap_cache=cheap,
                read=read_detection_ablation if plan.table == DETECTION_TABLE else None,
            )
            for plan in plans
        ]
    if json:
        from cbam_bench.search.storage import redact

        output.print_json({"storage": redact(storage), "tables": [a.to_dict() for a in ablations]})
        return
    _print_tables(ablations)


def _print_tables(ablations: list) -> None:
    """Each table, then its verdict: the paper tables' ordering, or the detection rows against none."""
    from cbam_bench.ablate_detection import DetectionAblation
    from cbam_bench.ablate_detection import verdict_lines as detection_lines
    from cbam_bench.ablation_order import verdict_lines
    from cbam_bench.report.ablation_detection import detection_ablation_table
    from cbam_bench.report.ablation_table import ablation_table

    console = output.stdout()
    for ablation in ablations:
        detection = isinstance(ablation, DetectionAblation)
        output.print_table(console, detection_ablation_table(ablation) if detection else ablation_table(ablation))
        for line in detection_lines(list(ablation.rows)) if detection else verdict_lines(ablation.ordering):
            console.print(line, markup=False, soft_wrap=True)
        console.print()


output.add_examples(ablate, EXAMPLES)
