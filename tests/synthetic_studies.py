"""Optuna studies made by hand, shaped like the ones the search stores (see the train contract).

Reports are tested against these instead of real searches: every number in them is chosen by the
test, so fronts, volumes and deltas can be checked against values worked out by hand.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from cbam_bench.data.fit import fit_arch
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec
from cbam_bench.train_spec import TrainSpec

OBJECTIVES = ("accuracy:max", "macs:min", "latency_ms:min")
STATES = {
    "complete": TrialState.COMPLETE,
    "infeasible": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "fail": TrialState.FAIL,
    "running": TrialState.RUNNING,
}
ENV = {"python": "3.11.2", "torch": "2.14.1", "cuda": None, "device": "cpu", "cbam_bench": "0.1.0"}
# What the search stores by default: latency timed on one CPU thread, whatever the training device.
CPU_LATENCY = {
    "batch": 1,
    "device": "cpu",
    "dtype": "float32",
    "memory_format": "contiguous",
    "threads": 1,
    "repeats": 20,
}
GPU_LATENCY = {
    "batch": 8,
    "device": "NVIDIA H100",
    "dtype": "float16",
    "memory_format": "channels_last",
    "threads": 16,
    "repeats": 50,
}

# A recipe small enough to train in a test (1 epoch, 128 images of 16x16), with values that differ
# from TrainSpec's defaults so tests can tell where each came from.
TINY_RECIPE = TrainSpec(
    epochs=1, batch_size=32, lr=0.05, weight_decay=1e-3, seed=3, image_size=16, train_images=128, val_images=64
)
# A real candidate as the search stores it: fitted to the study's data (digits-clutter: 1 channel).
TINY_ARCH = fit_arch(
    ArchSpec(
        "cifar_resnet20",
        width=0.25,
        attention=AttentionSpec(kind="cbam", reduction=4),
        placement=PlacementSpec(stages=(2, 3)),
    ),
    TINY_RECIPE,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def stored_recipe(spec: TrainSpec) -> dict[str, object]:
    """The study's `train` user_attr as the search writes it: without where a worker trains."""
    return {k: v for k, v in spec.to_dict().items() if k not in ("data_dir", "device", "precision")}


@dataclass(frozen=True)
class Fake:
    """One synthetic trial: its status, measures, and the architecture behind them."""

    status: str = "complete"  # complete, infeasible, pruned, fail, running
    accuracy: float = 0.9
    macs: float = 40e6
    params: float = 270e3
    latency_ms: float = 2.0
    latency_ratio: float = 1.0
    elementwise_ops: float = 1e5
    kind: str = "cbam"
    reduction: int = 16
    stages: tuple[int, ...] | None = None
    seed_accuracies: tuple[float, ...] | None = None
    device: str = "cpu"
    backbone: str = "cifar_resnet20"
    reused_from: int | None = None  # a complete trial that copied this earlier trial's measures
    latency_setup: dict[str, object] | None = field(default_factory=lambda: dict(CPU_LATENCY))  # None: not stored
    arch: ArchSpec | None = (
        None  # stored as given (e.g. fitted to the study's data) instead of built from the fields above
    )


def arch_of(fake: Fake) -> ArchSpec:
    if fake.arch is not None:
        return fake.arch
    return ArchSpec(
        fake.backbone,
        attention=AttentionSpec(kind=fake.kind, reduction=fake.reduction),
        placement=PlacementSpec(stages=fake.stages),
    )


def user_attrs(fake: Fake, budgets: dict[str, float] | None = None) -> dict[str, object]:
    """The contract's per-trial user_attrs for this fake; only what its status would have stored."""
    arch = arch_of(fake)
    attrs: dict[str, object] = {
        "archid": arch.archid,
        "arch": arch.to_dict(),
        "summary": arch.attention.summary(),
        "params": int(fake.params),
        "macs": int(fake.macs),
        "elementwise_ops": int(fake.elementwise_ops),
        "latency_ms": fake.latency_ms,
        "latency_p90_ms": round(fake.latency_ms * 1.1, 6),
        "latency_ratio": fake.latency_ratio,
        "env": {**ENV, "device": fake.device},
        "feasible": fake.status != "infeasible",
    }
    if fake.reused_from is not None:
        attrs["reused_from"] = fake.reused_from
    if fake.latency_setup is not None:
        attrs["latency_setup"] = dict(fake.latency_setup)
    limits = budgets or {}
    attrs["constraints"] = [float(attrs[m]) - cap for m, cap in limits.items()]  # type: ignore[arg-type]
    if fake.status == "infeasible":
        attrs["accuracy"] = 0.0
        if not limits:
            attrs["constraints"] = [1.0]
        return attrs
    if fake.status == "fail":
        attrs["fail_reason"] = "TrainingError: loss became nan at epoch 1, step 3 (lr 0.1)"
        return attrs
    if fake.status != "complete":
        return attrs
    runs = list(fake.seed_accuracies or [fake.accuracy])
    mean = statistics.fmean(runs)
    attrs.update(
        {
            "accuracy": mean,
            "top5": min(1.0, mean + 0.05),
            "accuracy_std": statistics.stdev(runs) if len(runs) > 1 else 0.0,
            "seed_accuracies": runs,
            "seeds": len(runs),
            "test_accuracy": mean - 0.01,
            "test_top5": min(1.0, mean + 0.04),
            "train_s": 12.5,
            "images_per_s": 850.0,
        }
    )
    return attrs


def frozen_trial(
    fake: Fake, objectives: Sequence[str], budgets: dict[str, float] | None = None
) -> optuna.trial.FrozenTrial:
    attrs = user_attrs(fake, budgets)
    params: dict[str, object] = {"attention.kind": fake.kind}
    dists = {"attention.kind": CategoricalDistribution(["none", "se", "eca", "cbam"])}
    if fake.kind in ("se", "cbam"):
        params["channel.reduction"] = fake.reduction
        dists["channel.reduction"] = CategoricalDistribution([4, 8, 16, 32])
    values = None
    if fake.status in ("complete", "infeasible"):
        values = [float(attrs[o.split(":")[0]]) for o in objectives]  # type: ignore[arg-type]
    return optuna.trial.create_trial(
        state=STATES[fake.status], values=values, params=params, distributions=dists, user_attrs=attrs
    )


def make_study(
    fakes: Sequence[Fake],
    *,
    storage: str | None = None,
    name: str = "synthetic",
    objectives: Sequence[str] = OBJECTIVES,
    budgets: dict[str, float] | None = None,
    dataset: str = "digits-clutter",
    backbone: str = "cifar_resnet20",
    train: dict[str, object] | None = None,
) -> optuna.Study:
    """A study holding these fakes as trials 0, 1, ... (storage None: in memory); `train` is the
    stored training recipe (TrainSpec fields), left out when None."""
    directions = ["maximize" if o.endswith(":max") else "minimize" for o in objectives]
    study = optuna.create_study(study_name=name, storage=storage, directions=directions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.split(":")[0] for o in objectives])
    study.set_user_attr("objectives", list(objectives))
    study.set_user_attr("budgets", dict(budgets or {}))
    study.set_user_attr("space", {"name": name, "backbone": backbone, "dataset": dataset})
    study.set_user_attr("dataset", dataset)
    study.set_user_attr("backbone", backbone)
    if train is not None:
        study.set_user_attr("train", dict(train))
    for fake in fakes:
        study.add_trial(frozen_trial(fake, objectives, budgets))
    return study


# A small study with one of everything: baseline, SE, CBAM variants, over budget, pruned, failed.
MIXED = (
    Fake(
        kind="none",
        accuracy=0.80,
        macs=40.0e6,
        params=270e3,
        latency_ms=1.0,
        elementwise_ops=0,
        seed_accuracies=(0.79, 0.80, 0.81),
    ),
    Fake(
        kind="se",
        accuracy=0.85,
        macs=40.1e6,
        params=275e3,
        latency_ms=1.4,
        latency_ratio=1.3,
        seed_accuracies=(0.84, 0.85, 0.86),
    ),
    Fake(
        kind="cbam",
        accuracy=0.88,
        macs=40.2e6,
        params=276e3,
        latency_ms=2.0,
        latency_ratio=1.6,
        seed_accuracies=(0.87, 0.88, 0.89),
    ),
    Fake(
        kind="cbam",
        reduction=4,
        accuracy=0.84,
        macs=40.3e6,
        params=290e3,
        latency_ms=2.2,
        seed_accuracies=(0.83, 0.84, 0.85),
    ),
    Fake(status="infeasible", kind="cbam", reduction=8, macs=40.25e6, latency_ms=9.0),
    Fake(status="pruned", kind="se", reduction=4),
    Fake(status="fail", kind="cbam", reduction=32),
)
