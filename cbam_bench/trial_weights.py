"""A trial's trained weights as an Optuna artifact, so a front member is inspected or fine-tuned
instead of trained again.

The file is a cbam-bench checkpoint (cbam_bench.checkpoint: tensors and plain containers, loadable
with weights_only=True) of the first seed's final weights, uploaded with optuna.artifacts to a
file-system artifact store. Optuna records the artifact on the trial (optuna-dashboard lists it);
the trial's `weights_artifact` key names it, and a trial that reuses an earlier one's measures
copies that key, so it points at its original's file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact

from cbam_bench.checkpoint import save_state
from cbam_bench.errors import SpecError, StudyError, allowed
from cbam_bench.spec import ArchSpec
from cbam_bench.storage import sqlite_file
from cbam_bench.train_spec import TrainSpec

if TYPE_CHECKING:
    from cbam_bench.records import TrialRecord

KEEP = ("all", "none")
FOLDER = "artifacts"
DEFAULT_FOLDER = Path("results") / FOLDER  # for a storage that is not a file (PostgreSQL)
MIMETYPE = "application/x-pytorch"


def check_keep(value: str) -> str:
    if value not in KEEP:
        raise SpecError("--keep-weights", f"{value!r} is not allowed; allowed: {allowed(KEEP)}")
    return value


def artifacts_folder(storage: str, given: str | Path | None = None) -> Path:
    """--artifacts if given, else `artifacts/` beside a SQLite database, else results/artifacts."""
    if given is not None:
        return Path(given).expanduser()
    database = sqlite_file(storage)
    return database.parent / FOLDER if database is not None else DEFAULT_FOLDER


def open_store(folder: Path, create: bool = False) -> FileSystemArtifactStore:
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


def upload_weights(
    trial: optuna.Trial, store: FileSystemArtifactStore, state: dict[str, Any], arch: ArchSpec, spec: TrainSpec
) -> tuple[str, int]:
    """Store `state` as the trial's artifact; returns its id and its size in bytes."""
    with tempfile.TemporaryDirectory(prefix="cbam-bench-weights-") as tmp:
        path = Path(tmp) / f"trial-{trial.number}.pt"
        save_state(path, state, arch, spec, {"trial": trial.number, "study": trial.study.study_name})
        size = path.stat().st_size
        artifact_id = upload_artifact(
            artifact_store=store, file_path=str(path), study_or_trial=trial, mimetype=MIMETYPE
        )
    return artifact_id, size


def download_weights(folder: Path, artifact_id: str, dest: Path, ref: str) -> Path:
    """The artifact `artifact_id` of the store in `folder`, as a file in `dest`; StudyError naming
    the trial when the store lacks it."""
    path = dest / f"{artifact_id}.pt"
    try:
        download_artifact(artifact_store=open_store(folder), file_path=str(path), artifact_id=artifact_id)
    except Exception as exc:  # each store has its own error for a missing file
        raise StudyError(
            f"{ref}: its weights (artifact {artifact_id}) are not in {folder}; "
            "allowed: the artifact folder the study was run with (--artifacts)"
        ) from exc
    return path


def fetch_trial_weights(record: TrialRecord, ref: str, storage: str, artifacts: str | Path | None, dest: Path) -> Path:
    """The stored trial's weights as a checkpoint file in `dest`; StudyError when it has none."""
    artifact = record.attrs.weights_artifact
    if artifact is None:
        raise StudyError(
            f"{ref}: the study stored no weights for this trial (it is {record.status}); allowed: a trial "
            "trained by `cbam-bench search --keep-weights all`, or a `train --save` checkpoint"
        )
    return download_weights(artifacts_folder(storage, artifacts), artifact, dest, ref)
