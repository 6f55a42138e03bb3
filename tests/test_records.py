"""Reading stored studies: plain records from SQLite, statuses and counts, and errors that write nothing."""

from __future__ import annotations

import pytest
from synthetic_studies import MIXED, Fake, make_study

from cbam_bench.errors import StudyError
from cbam_bench.metrics import Objective
from cbam_bench.records import load_records
from cbam_bench.storage import study_names


@pytest.fixture
def db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    make_study(MIXED, storage=url, name="mixed", budgets={"latency_ms": 5.0})
    make_study([Fake(kind="none")], storage=url, name="other", objectives=("accuracy:max", "params:min"))
    return url


def test_records_carry_objectives_budgets_and_every_trial(db) -> None:
    study = load_records(db, "mixed")
    assert study.objectives == (Objective("accuracy", "max"), Objective("macs", "min"), Objective("latency_ms", "min"))
    assert study.budgets == {"latency_ms": 5.0}
    assert (study.dataset, study.backbone, study.storage) == ("digits-clutter", "cifar_resnet20", db)
    assert [t.status for t in study.trials] == ["complete"] * 4 + ["infeasible", "pruned", "failed"]
    assert study.counts() == {
        "total": 7,
        "complete": 4,
        "reused": 0,
        "infeasible": 1,
        "pruned": 1,
        "failed": 1,
        "duplicate": 0,
        "running": 0,
    }
    cbam = study.trial(2)
    assert cbam.values == (pytest.approx(0.88), 40.2e6, 2.0)
    assert cbam.params == {"attention.kind": "cbam", "channel.reduction": 16}
    assert cbam.summary == "cbam avg+max r16 k7 c-s" and cbam.attention_kind == "cbam" and cbam.device == "cpu"
    assert cbam.attrs.seed_accuracies == [0.87, 0.88, 0.89]
    assert [t.number for t in study.usable] == [0, 1, 2, 3]


def test_objectives_fall_back_to_metric_names_and_directions(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    study = make_study([Fake()], storage=url, name="bare", objectives=("accuracy:max", "params:min"))
    study.set_user_attr("objectives", None)
    assert load_records(url, "bare").objectives == (Objective("accuracy", "max"), Objective("params", "min"))


def test_feasibility_comes_from_constraints_when_the_verdict_is_missing() -> None:
    from cbam_bench.records import TrialRecord
    from cbam_bench.trial_attrs import TrialAttrs

    assert TrialRecord(0, "complete", (1.0,), attrs=TrialAttrs(constraints=[0.0, -2.0])).status == "complete"
    assert TrialRecord(0, "complete", (1.0,), attrs=TrialAttrs(constraints=[0.5])).status == "infeasible"
    assert TrialRecord(0, "running", None).status == "running"
    assert not TrialRecord(0, "complete", (float("nan"),)).usable


def test_missing_study_names_the_studies_that_exist(db) -> None:
    with pytest.raises(StudyError) as err:
        load_records(db, "mixd")
    assert str(err.value) == f"study 'mixd' not found in {db} (did you mean 'mixed'?); studies there: mixed, other"


def test_reading_a_missing_sqlite_file_creates_nothing(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert study_names(url) == []
    with pytest.raises(StudyError, match="no studies there yet"):
        load_records(url, "x")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_optuna_storage_is_refused_untouched(tmp_path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"my notes\n")
    with pytest.raises(StudyError, match="'.*notes.db' is not a SQLite database"):
        study_names(f"sqlite:///{path}")
    assert path.read_bytes() == b"my notes\n"


def test_an_empty_file_is_an_empty_database_and_stays_empty(tmp_path) -> None:
    path = tmp_path / "new.db"
    path.write_bytes(b"")
    assert study_names(f"sqlite:///{path}") == []
    assert path.read_bytes() == b"" and list(tmp_path.iterdir()) == [path]


def test_text_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(StudyError, match="--storage: 'results.db' is not a database URL"):
        study_names("results.db")


def test_latency_is_labelled_by_how_it_was_timed_not_the_training_device() -> None:
    from synthetic_studies import CPU_LATENCY, GPU_LATENCY

    from cbam_bench.records import TrialRecord
    from cbam_bench.report.format import conventions
    from cbam_bench.trial_attrs import TrialAttrs

    gpu_trained = {"env": {"device": "NVIDIA H100"}}
    cpu_timed = TrialRecord(0, "complete", (0.9,), attrs=TrialAttrs(**gpu_trained, latency_setup=CPU_LATENCY))
    gpu_timed = TrialRecord(
        1, "complete", (0.9,), attrs=TrialAttrs(**gpu_trained, latency_setup={**GPU_LATENCY, "threads": 4})
    )
    four_threads = TrialRecord(2, "complete", (0.9,), attrs=TrialAttrs(latency_setup={**CPU_LATENCY, "threads": 4}))
    older = TrialRecord(3, "complete", (0.9,), attrs=TrialAttrs(**gpu_trained))
    assert cpu_timed.latency_label == "cpu, 1 thread, batch 1, float32"
    assert gpu_timed.latency_label == "NVIDIA H100, batch 8, float16, channels_last"  # threads mean nothing there
    assert four_threads.latency_label == "cpu, 4 threads, batch 1, float32"
    assert older.latency_label == "NVIDIA H100" and TrialRecord(4, "complete", (0.9,)).latency_label is None
    text = conventions([cpu_timed, gpu_timed, cpu_timed], ["latency_ms"])["latency_ms"]
    assert text.endswith(
        "not the training device; here: NVIDIA H100, batch 8, float16, channels_last; cpu, 1 thread, batch 1, float32"
    )
    assert conventions([TrialRecord(4, "complete", (0.9,))], ["latency_p90_ms"])["latency_p90_ms"].startswith(
        "90th percentile of timed forward passes of one batch"
    )
