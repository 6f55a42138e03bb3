"""Reading a stored trial back for retraining: resolution, stored scores, the recipe and its errors."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from cbam_bench.errors import StudyError
from cbam_bench.retrain import parse_ref, stored_trial
from cbam_bench.train_spec import TrainSpec
from tests.synthetic_studies import TINY_ARCH, TINY_RECIPE, Fake, make_study, stored_recipe

RECIPE, ARCH = TINY_RECIPE, TINY_ARCH


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two stored studies, written once: everything here only reads them."""
    url = f"sqlite:///{tmp_path_factory.mktemp('retrain') / 'studies.db'}"
    study = make_study(
        [
            Fake(kind="cbam", accuracy=0.88, arch=ARCH, seed_accuracies=(0.87, 0.88, 0.89)),  # 0
            Fake(kind="cbam", accuracy=0.88, arch=ARCH, reused_from=0),  # 1: the same network again
            Fake(status="infeasible", kind="cbam", arch=ARCH),  # 2
            Fake(status="fail", kind="cbam", arch=ARCH),  # 3
        ],
        storage=url,
        train=stored_recipe(RECIPE),
        budgets={"macs": 1e3},
    )
    pruned = {
        "arch": ARCH.to_dict(),
        "archid": ARCH.archid,
        "curve": [0.41, 0.52],
        "stopped_at_epoch": 2,
        "stopped_reason": "below the median of 4 trials at epoch 2",
    }
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs=pruned))  # 4
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "KeyError: x"}))  # 5
    make_study([Fake(kind="se")], storage=url, name="bare")  # no stored recipe
    return url


@pytest.mark.parametrize("text", ["default", "default:", ":3", "default:-1", "default:two"])
def test_a_reference_must_be_study_colon_number(text: str) -> None:
    with pytest.raises(StudyError, match=r"--from-trial: .* is not allowed; allowed: STUDY:N"):
        parse_ref(text)


def test_study_names_may_hold_colons() -> None:
    assert parse_ref("runs:cifar:12") == ("runs:cifar", 12)


def test_a_complete_trial_gives_its_arch_recipe_and_mean_accuracy(storage: str) -> None:
    stored = stored_trial(storage, "synthetic:0")
    assert stored.arch == ARCH and stored.archid == ARCH.archid
    assert stored.recipe == RECIPE  # device and precision at their defaults, as the search leaves them out
    assert (stored.accuracy, stored.epochs, stored.seeds) == (pytest.approx(0.88), 1, 3)
    assert stored.status == "complete" and stored.notes == ()
    assert stored.measure("top5") == pytest.approx(0.93) and stored.measure("macs") == 40e6


def test_a_reused_trial_resolves_to_its_original(storage: str) -> None:
    stored = stored_trial(storage, "synthetic:1")
    assert (stored.trial, stored.requested, stored.ref) == (0, 1, "synthetic:0")
    assert stored.notes == ("synthetic:1 reused the measures of trial 0 (the same network); retraining synthetic:0",)


def test_an_over_budget_trial_has_cost_but_no_accuracy(storage: str) -> None:
    stored = stored_trial(storage, "synthetic:2")
    assert stored.status == "infeasible" and stored.accuracy is None and stored.epochs is None
    assert stored.measure("accuracy") is None and stored.measure("top5") is None  # 0.0 placeholders stored
    assert stored.measure("macs") == 40e6
    assert stored.notes == (
        "synthetic:2 is over the study's budget on macs and was never trained; retraining it anyway",
    )


def test_a_pruned_trial_reports_where_it_stopped(storage: str) -> None:
    stored = stored_trial(storage, "synthetic:4")
    assert (stored.accuracy, stored.epochs, stored.seeds) == (0.52, 2, 1)
    assert stored.notes == (
        "synthetic:4 was pruned at epoch 2 (below the median of 4 trials at epoch 2); retraining it anyway",
    )


def test_a_failed_trial_with_an_arch_is_allowed_and_says_why_it_failed(storage: str) -> None:
    stored = stored_trial(storage, "synthetic:3")
    assert stored.arch == ARCH and stored.accuracy is None
    assert stored.notes == (
        "synthetic:3 failed (TrainingError: loss became nan at epoch 1, step 3 (lr 0.1)); retraining it anyway",
    )


def test_a_study_without_a_recipe_uses_the_defaults_on_its_dataset(storage: str) -> None:
    stored = stored_trial(storage, "bare:0")
    assert stored.recipe == TrainSpec(dataset="digits-clutter") and stored.epochs is None
    assert stored.notes == ("study 'bare' stores no training recipe; using the defaults on digits-clutter",)


def test_another_dataset_drops_the_old_datasets_sizes(storage: str) -> None:
    stored = stored_trial(storage, "synthetic:0")
    assert stored.recipe_on(None) == RECIPE and stored.recipe_on("digits-clutter") == RECIPE
    moved = stored.recipe_on("cifar10")
    assert (moved.dataset, moved.image_size, moved.train_images, moved.val_images) == ("cifar10", None, None, None)
    assert (moved.epochs, moved.lr, moved.weight_decay, moved.seed) == (1, 0.05, 1e-3, 3)


@pytest.mark.parametrize(
    "text, message",
    [
        ("nosuch:0", "study 'nosuch' not found in {url}; studies there: bare, synthetic"),
        ("synthetic:9", "--from-trial: study 'synthetic' has no trial 9; trials there: 0-5"),
        (
            "synthetic:5",
            "--from-trial: synthetic:5 is failed and stores no architecture (no candidate was sampled); "
            "allowed: a trial with a stored arch",
        ),
    ],
)
def test_errors_name_what_is_wrong(storage: str, text: str, message: str) -> None:
    with pytest.raises(StudyError) as info:
        stored_trial(storage, text)
    assert str(info.value) == message.format(url=storage)


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    with pytest.raises(StudyError, match="no studies there yet"):
        stored_trial(f"sqlite:///{path}", "synthetic:0")
    assert not path.exists()
