"""What `cbam-bench train` is asked to train: the network and the recipe to start from, from the
options and the defaults, or from a stored trial (--from-trial) and its study."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cbam_bench.cli.option_specs import arch_from_options, as_flag
from cbam_bench.cli.train_options import TRAIN_DEFAULTS
from cbam_bench.errors import CbamBenchError, SpecError, allowed
from cbam_bench.models.catalog import BACKBONES

if TYPE_CHECKING:
    from cbam_bench.retrain import StoredTrial
    from cbam_bench.spec import ArchSpec
    from cbam_bench.train_spec import TrainSpec


def _refuse_with_trial(model: str | None, arch_options: dict[str, object]) -> None:
    """--from-trial retrains the stored network as it is: naming another one is bad input."""
    if model is not None:
        raise SpecError(
            "MODEL",
            f"{model!r} is not allowed with --from-trial (the trial names its network); allowed: one or the other",
        )
    given = [flag for flag, value in arch_options.items() if value is not None]
    if given:
        raise SpecError(
            ", ".join(given),
            "not allowed with --from-trial (the trial's architecture is retrained as "
            "stored); allowed with it: training and data options such as --epochs, --dataset, --lr",
        )


def network_and_recipe(
    model: str | None, from_trial: str | None, storage: str, dataset: str | None, arch_options: dict[str, Any]
) -> tuple[ArchSpec, TrainSpec, StoredTrial | None]:
    """The network and the recipe to start from: the options' and the defaults, or a stored trial's
    and its study's (`arch_options` by arch_from_options' names; with a trial, none may be given)."""
    from cbam_bench.measure.profile import default_stride_on
    from cbam_bench.retrain import stored_trial

    if from_trial is not None:
        _refuse_with_trial(model, {"--" + name.replace("_", "-"): value for name, value in arch_options.items()})
        stored = stored_trial(storage, from_trial)
        return stored.arch, _stored_recipe(stored, dataset), stored
    if model is None:
        raise SpecError("MODEL", f"missing; allowed: a backbone ({allowed(BACKBONES)}), or --from-trial STUDY:N")
    options = arch_options | {"stride_on": arch_options["stride_on"] or default_stride_on(False)}
    return arch_from_options(model, **options, input_size=None, num_classes=None), TRAIN_DEFAULTS, None


def _stored_recipe(stored: StoredTrial, dataset: str | None) -> TrainSpec:
    """The study's recipe, on --dataset when given; errors name the option."""
    try:
        return stored.recipe_on(dataset)
    except CbamBenchError as exc:
        raise as_flag(exc) from None
