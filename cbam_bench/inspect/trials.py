"""Networks of stored trials (STUDY:N), rebuilt from the weights the study kept as artifacts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cbam_bench.checkpoint import load_checkpoint
from cbam_bench.compare import parse_target
from cbam_bench.errors import SpecError, StudyError
from cbam_bench.inspect.network import Network
from cbam_bench.records import load_records
from cbam_bench.trial_weights import fetch_trial_weights


def trial_network(text: str, storage: str, artifacts: str | None = None) -> Network:
    """The trial's network with its stored weights (a reused trial: its original's); StudyError
    when the study, the trial or its weights are not there."""
    name, number = parse_target(text)
    assert number is not None
    study = load_records(storage, name)
    record = study.trial(number)
    if record is None:
        numbers = [t.number for t in study.trials]
        there = f"trials there: {min(numbers)}-{max(numbers)}" if numbers else "it has no trials"
        raise StudyError(f"{text}: study {name!r} has no trial {number}; {there}")
    with tempfile.TemporaryDirectory(prefix="cbam-bench-inspect-") as tmp:
        path = fetch_trial_weights(record, text, storage, artifacts, Path(tmp))
        try:
            model, arch, recipe = load_checkpoint(path)
        except SpecError as exc:
            raise StudyError(str(exc).replace(f"checkpoint {path}", f"{text}: stored weights")) from None
    return Network(text, model, arch, recipe)
