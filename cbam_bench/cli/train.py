"""`cbam-bench train MODEL` / `--from-trial STUDY:N`: train one network (given by options, or a stored
trial's candidate) on a dataset; report accuracy, cost, latency and speed."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.option_specs import as_flag, train_spec_from_options
from cbam_bench.cli.options import (
    AttentionOpt,
    BlocksOpt,
    BnMomentumOpt,
    DescriptorOpt,
    KernelOpt,
    MinHiddenOpt,
    OrderOpt,
    PoolingOpt,
    PositionOpt,
    ReductionOpt,
    StagesOpt,
    StrideOnOpt,
    WeightsOpt,
    WidthOpt,
)
from cbam_bench.cli.study_options import (
    ForceOpt,
    JsonOpt,
    StorageOpt,
)
from cbam_bench.cli.train_options import (
    BatchSizeOpt,
    DataDirOpt,
    DatasetOpt,
    DeviceOpt,
    DownloadOpt,
    EpochsOpt,
    FusedOpt,
    ImageSizeOpt,
    LrOpt,
    SeedOpt,
    TrainImagesOpt,
)
from cbam_bench.cli.train_output import epoch_progress, render
from cbam_bench.cli.train_request import network_and_recipe
from cbam_bench.errors import CbamBenchError, SpecError, allowed
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    from cbam_bench.retrain import StoredTrial
    from cbam_bench.spec import ArchSpec
    from cbam_bench.train_spec import TrainSpec

EXAMPLES = """
Examples:

  cbam-bench train cifar_resnet20 --attention cbam --dataset digits-clutter

  cbam-bench train cifar_resnet20 -a se --seed 1 --save se.pt --json

  cbam-bench train resnet18 -a cbam --dataset cifar10 --download --epochs 30 --device cuda

  cbam-bench train cifar_resnet56 -a cbam --dataset imagefolder:~/data/flowers --image-size 64

  cbam-bench train --from-trial default:12 --epochs 30

  cbam-bench train --from-trial default:12 --dataset cifar10 --epochs 60 --device cuda --save best.pt
"""

TrainModelArg = Annotated[
    str | None,
    typer.Argument(help=f"Backbone: {allowed(BACKBONES)}. Leave it out with --from-trial.", show_default=False),
]
FromTrialOpt = Annotated[
    str | None,
    typer.Option(
        "--from-trial",
        help="Retrain a stored trial's network, STUDY:N, with its study's recipe; training and data options given here override it.",
        show_default=False,
    ),
]


def _check_save_path(save: str | None, storage: str, force: bool) -> None:
    """Refuse a --save that could not be written before training, not after it."""
    from cbam_bench.outputs import CHECKPOINT, check_output

    if save is not None:
        check_output(Path(save), "--save", CHECKPOINT, storage=storage, force=force, make_folders=True)


def _warn_odd_batch(spec: TrainSpec, train_images: int) -> None:
    """A batch larger than the training split is legal (the trainer takes the whole split each step,
    and records that batch) but seldom meant: say so in one line."""
    if spec.batch_size > train_images:
        output.stderr().print(
            f"warning: --batch-size {spec.batch_size} is more than the {train_images} training images; "
            f"each step trains on the whole set (batch {train_images})",
            markup=False,
            soft_wrap=True,
        )


def _check_weights_options(weights_from_trial: bool, from_trial: str | None, weights: str | None) -> None:
    if weights_from_trial and from_trial is None:
        raise SpecError(
            "--weights-from-trial", "needs --from-trial STUDY:N, the trial whose stored weights to start from"
        )
    if weights_from_trial and weights is not None:
        raise SpecError("--weights-from-trial", "not allowed together with --weights; allowed: one of the two")


@contextlib.contextmanager
def _start_weights(
    stored: StoredTrial | None, storage: str, artifacts: str | None, weights: str | None
) -> Iterator[str | None]:
    """The weights file training starts from: --weights, or the trial's stored weights fetched into
    a temporary folder for the run (a mismatch is reported under --weights-from-trial)."""
    if stored is None:
        yield weights
        return
    from cbam_bench.trial_weights import fetch_trial_weights

    with tempfile.TemporaryDirectory(prefix="cbam-bench-finetune-") as tmp:
        path = fetch_trial_weights(stored.record, stored.ref, storage, artifacts, Path(tmp))
        try:
            yield str(path)
        except SpecError as exc:
            raise SpecError("--weights-from-trial", f"{stored.ref}: {exc.reason}") from None


def _fit_and_load(arch: ArchSpec, spec: TrainSpec, download: bool) -> ArchSpec:
    """The network fitted to the dataset, once its files are there (fetched first with
    --download); a missing file or folder fails here, as a flag error, before anything is built."""
    from cbam_bench.data.fit import fit_arch
    from cbam_bench.data.load import download as fetch
    from cbam_bench.data.load import load_data
    from cbam_bench.device import resolve_device

    try:
        torch_device = resolve_device(spec.device)
        if download:
            fetch(spec)
        fitted = fit_arch(arch, spec)
        data = load_data(spec, torch_device)  # the trainer loads the same data again, from the cache
    except CbamBenchError as exc:
        raise as_flag(exc) from None
    _warn_odd_batch(spec, len(data.train))
    return fitted


@reports_errors
def train(
    model: TrainModelArg = None,
    attention: AttentionOpt = None,
    reduction: ReductionOpt = None,
    min_hidden: MinHiddenOpt = None,
    pooling: PoolingOpt = None,
    descriptor: DescriptorOpt = None,
    kernel: KernelOpt = None,
    order: OrderOpt = None,
    bn_momentum: BnMomentumOpt = None,
    stages: StagesOpt = None,
    blocks: BlocksOpt = None,
    position: PositionOpt = None,
    width: WidthOpt = None,
    stride_on: StrideOnOpt = None,
    weights: WeightsOpt = None,
    dataset: DatasetOpt = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    image_size: ImageSizeOpt = None,
    train_images: TrainImagesOpt = None,
    epochs: EpochsOpt = None,
    batch_size: BatchSizeOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    fused: FusedOpt = None,
    from_trial: FromTrialOpt = None,
    weights_from_trial: Annotated[
        bool,
        typer.Option(
            "--weights-from-trial",
            help="With --from-trial: start from the weights the study stored for the trial (fine-tune) instead of from scratch.",
        ),
    ] = False,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="Artifact folder of the study's weights (default: artifacts/ beside a SQLite --storage, else results/artifacts).",
            show_default=False,
        ),
    ] = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    save: Annotated[
        str | None,
        typer.Option(
            "--save",
            help="Write weights + ArchSpec + TrainSpec to this file (loads with torch.load(weights_only=True)).",
            show_default=False,
        ),
    ] = None,
    json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Train one network on a dataset and report its accuracy, cost, latency and training speed.

    The network's classifier, input channels and input size follow the dataset. Accuracy is top-1 on
    the validation split; the test split (digits-clutter, CIFAR) is reported beside it.

    --from-trial STUDY:N retrains a stored trial's network, for longer or on another dataset, with its
    study's training recipe unless options here say otherwise, and sets its stored accuracy beside the new one.
    """
    from cbam_bench.checkpoint import save_checkpoint
    from cbam_bench.train_report import train_and_measure

    _check_weights_options(weights_from_trial, from_trial, weights)
    arch, recipe, stored = network_and_recipe(
        model,
        from_trial,
        storage,
        dataset,
        {
            "attention": attention,
            "reduction": reduction,
            "min_hidden": min_hidden,
            "pooling": pooling,
            "descriptor": descriptor,
            "kernel": kernel,
            "order": order,
            "bn_momentum": bn_momentum,
            "stages": stages,
            "blocks": blocks,
            "position": position,
            "width": width,
            "stride_on": stride_on,
        },
    )
    spec = train_spec_from_options(
        recipe,
        dataset=dataset,
        data_dir=data_dir,
        image_size=image_size,
        train_images=train_images,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        fused=fused,
    )
    _check_save_path(save, storage, force)
    fitted = _fit_and_load(arch, spec, download)
    for note in stored.notes if stored is not None else ():
        output.stderr().print(f"note: {note}", markup=False, soft_wrap=True)

    bar, on_epoch = epoch_progress(output.interactive() and not json, spec.epochs)
    with _start_weights(stored if weights_from_trial else None, storage, artifacts, weights) as start, bar:
        net, report = train_and_measure(fitted, spec, on_epoch=on_epoch, weights=start)
    provenance = (
        None
        if stored is None
        else stored.to_dict() | {"refitted": fitted.archid != stored.archid, "weights_from_trial": weights_from_trial}
    )
    if save is not None:
        metrics = report.result.to_dict() | ({"from_trial": provenance} if provenance else {})
        save_checkpoint(save, net, fitted, spec, metrics=metrics)
    if json:
        output.print_json(report.to_json(saved=save, from_trial=provenance))
        return
    render(report, save, stored)


output.add_examples(train, EXAMPLES)
