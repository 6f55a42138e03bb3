"""Trials side by side against a baseline: what attention buys (accuracy, or a detector's mAP:
the study task's primary score) and what it costs.

Deltas are relative to a baseline trial: by default the no-attention trial of the same network
(backbone, width, input size, classes) on the same dataset, so "+CBAM" is always read against
the plain network it was added to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cbam_bench.errors import StudyError
from cbam_bench.metrics import TASK_SCORES
from cbam_bench.records import StudyRecords, TrialRecord
from cbam_bench.stats import Interval, Sample, welch_interval

# ArchSpec fields that make two networks "the same backbone" apart from their attention.
_NETWORK_KEYS = ("backbone", "width", "stride_on", "num_classes", "input_size", "in_channels")


@dataclass(frozen=True)
class Entry:
    """One trial named for comparison, with the study it came from."""

    study: StudyRecords
    trial: TrialRecord

    @property
    def ref(self) -> str:
        return f"{self.study.name}:{self.trial.number}"


@dataclass(frozen=True)
class Comparison:
    """One entry against its baseline. Delta `score` (accuracy, or map for detection) is a difference
    of fractions; the rest are %."""

    entry: Entry
    baseline: Entry | None
    delta: dict[str, float | None] = field(default_factory=dict)
    interval: Interval | None = None
    interval_source: str | None = None
    notes: tuple[str, ...] = ()
    is_baseline: bool = False
    score: str = "accuracy"
    latency_from: str | None = None  # the measure delta["latency_pct"] compares (see latency_change)


def parse_target(text: str) -> tuple[str, int | None]:
    """'STUDY:N' -> (STUDY, N); anything else is a study name (its front)."""
    name, sep, number = text.rpartition(":")
    if sep and name and number.strip().isdigit():
        return name, int(number)
    return text, None


def trial_entry(study: StudyRecords, number: int, text: str) -> Entry:
    """The named trial, which must be complete and within budget to be compared."""
    trial = study.trial(number)
    if trial is None:
        numbers = [t.number for t in study.trials]
        there = f"trials there: {min(numbers)}-{max(numbers)}" if numbers else "it has no trials"
        raise StudyError(f"{text}: study {study.name!r} has no trial {number}; {there}")
    if trial.status == "reused":
        original = f"{study.name}:{trial.reused_from}"
        raise StudyError(
            f"{text}: trial {number} reused the measures of trial {trial.reused_from} (the same network); "
            f"allowed: complete trials within budget, here {original}"
        )
    if not trial.usable:
        raise StudyError(f"{text}: trial {number} is {trial.status}; allowed: complete trials within budget")
    return Entry(study, trial)


def seed_sample(trial: TrialRecord, score: str = "accuracy") -> tuple[Sample, str] | None:
    """Per-seed values of `score` when stored (accuracy: seed_accuracies, detection's map or map50:
    seed_maps), else for accuracy mean/std/seeds (std taken as ddof=1); None with one seed."""
    if score != "accuracy":
        runs = (trial.attrs.seed_maps or {}).get(score)
        ok = isinstance(runs, list) and len(runs) >= 2 and all(isinstance(v, (int, float)) for v in runs)
        return (Sample.of([float(v) for v in runs]), "seed_maps") if ok else None
    runs = trial.attrs.seed_accuracies
    if runs is not None and len(runs) >= 2 and all(isinstance(v, (int, float)) for v in runs):
        return Sample.of([float(v) for v in runs]), "seed_accuracies"
    seeds, mean, sd = trial.attrs.seeds, trial.attrs.accuracy, trial.attrs.accuracy_std
    if seeds is not None and seeds >= 2 and mean is not None and sd is not None:
        return Sample(float(mean), float(sd), seeds), "accuracy_std"
    return None


def network_key(trial: TrialRecord) -> tuple[Any, ...]:
    arch = trial.arch
    return tuple(arch.get(k) for k in _NETWORK_KEYS)


def find_baseline(entry: Entry, pool: list[Entry]) -> Entry | None:
    """The no-attention trial of entry's network and dataset: same study first, most seeds, earliest."""
    key = network_key(entry.trial)

    def same_data(other: Entry) -> bool:
        a, b = entry.study.dataset, other.study.dataset
        return a is None or b is None or a == b

    candidates = [
        c
        for c in pool
        if c.trial.attention_kind == "none" and key[0] is not None and network_key(c.trial) == key and same_data(c)
    ]
    if not candidates:
        return None

    def seeds(c: Entry) -> int:
        sample = seed_sample(c.trial)
        return sample[0].n if sample else 1

    return min(candidates, key=lambda c: (c.study.name != entry.study.name, -seeds(c), c.study.name, c.trial.number))


def _pct(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base == 0:
        return None
    return 100.0 * (value / base - 1.0)


def latency_change(a: TrialRecord, b: TrialRecord) -> tuple[float | None, str]:
    """Latency of a relative to b, in %, and the measure it comes from. Two trials of one network
    each store their latency over that network's without attention, timed alternately with it
    (latency_ratio, 1 without attention): their ratio cancels the drift that two medians in ms,
    timed minutes or machines apart, carry. Otherwise the medians in ms."""
    ra, rb = a.measure("latency_ratio"), b.measure("latency_ratio")
    if ra is not None and rb is not None and network_key(a) == network_key(b):
        return _pct(ra, rb), "latency_ratio"
    return _pct(a.measure("latency_ms"), b.measure("latency_ms")), "latency_ms"


def compare(entry: Entry, baseline: Entry | None) -> Comparison:
    """Deltas of entry against baseline, and a Welch interval when both have two or more seeds."""
    score = TASK_SCORES[entry.study.task][0]
    if baseline is not None and baseline.ref == entry.ref:
        return Comparison(entry, None, is_baseline=True, score=score)
    if baseline is None:
        return Comparison(
            entry,
            None,
            notes=("no baseline: no no-attention trial of this network; name one with --baseline",),
            score=score,
        )
    a, b = entry.trial, baseline.trial
    notes: list[str] = []
    acc, base_acc = a.measure(score), b.measure(score)
    latency, latency_from = latency_change(a, b)
    where_a, where_b = a.latency_label, b.latency_label
    if where_a and where_b and where_a != where_b:
        latency, latency_from = None, None
        notes.append(f"latency not compared: timed on {where_a} and on {where_b}")
    if entry.study.dataset and baseline.study.dataset and entry.study.dataset != baseline.study.dataset:
        notes.append(f"different datasets: {entry.study.dataset} and {baseline.study.dataset}")
    delta = {
        score: None if acc is None or base_acc is None else acc - base_acc,
        "macs_pct": _pct(a.measure("macs"), b.measure("macs")),
        "params_pct": _pct(a.measure("params"), b.measure("params")),
        "latency_pct": latency,
    }
    sa, sb = seed_sample(a, score), seed_sample(b, score)
    interval = source = None
    if sa and sb:
        interval = welch_interval(sa[0], sb[0])
        source = sa[1] if sa[1] == sb[1] else f"{sa[1]} / {sb[1]}"
    return Comparison(entry, baseline, delta, interval, source, tuple(notes), score=score, latency_from=latency_from)


def resolve(targets: list[str], studies: dict[str, StudyRecords]) -> list[Entry]:
    """The entries targets name (a study stands for its front), each once, in the order named."""
    from cbam_bench.pareto import pareto_front

    out: dict[str, Entry] = {}
    for text in targets:
        name, number = parse_target(text)
        study = studies[name]
        if number is not None:
            found = [trial_entry(study, number, text)]
        else:
            found = [Entry(study, t) for t in pareto_front(study)]
            if not found:
                raise StudyError(f"{text}: study {name!r} has no complete trial within budget yet")
        for entry in found:
            out.setdefault(entry.ref, entry)
    return list(out.values())


def compare_all(entries: list[Entry], baseline: Entry | None = None) -> list[Comparison]:
    """Each baseline once (first), then every other entry against its baseline.

    Without a named baseline each entry gets its own from find_baseline, searched among the
    complete trials of the entries' studies.
    """
    if baseline is not None:
        bases: dict[str, Entry | None] = {e.ref: baseline for e in entries}
    else:
        studies = {e.study.name: e.study for e in entries}
        # Only no-attention trials can be a baseline: filtered once, not once per entry.
        pool = [Entry(s, t) for s in studies.values() for t in s.usable if t.attention_kind == "none"]
        bases = {e.ref: find_baseline(e, pool) for e in entries}
        if not any(bases.values()):
            backbones = sorted({str(e.trial.arch.get("backbone")) for e in entries})
            raise StudyError(
                f"no no-attention trial of {', '.join(backbones)} in {', '.join(studies)}; "
                "allowed: name a baseline with --baseline STUDY:N"
            )
    first = {b.ref: b for b in bases.values() if b is not None}
    return [compare(b, b) for b in first.values()] + [compare(e, bases[e.ref]) for e in entries if e.ref not in first]
