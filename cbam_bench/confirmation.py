"""Does a search's short-run ranking hold? Its best front members retrained longer, with seeds, read back.

A study NAME is confirmed in a second study, NAME-confirm, in the same storage: one trial per
(member, seed), its parameters `confirms` (the member's trial number in NAME) and `seed`, its
value the validation accuracy after the confirmation's epochs. A second study rather than more
keys on the member: Optuna does not let a finished trial's attributes change, and trials of
their own give the confirmation what every trial has — heartbeats, retries of a killed worker's
run, several workers sharing the work — with one seed as the unit that a kill can lose.
(search/confirm.py runs it; this module only reads.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cbam_bench import pareto
from cbam_bench.errors import StudyError
from cbam_bench.metrics import TASK_SCORES
from cbam_bench.records import StudyRecords, TrialRecord, records_from_study
from cbam_bench.stats import MeanInterval, kendall_tau, mean_interval

SUFFIX = "-confirm"
# First objectives a confirmation can retrain and compare: the scores of every task.
RANKED_BY = tuple(m for scores in TASK_SCORES.values() for m in scores)


def confirm_name(study: str) -> str:
    return study + SUFFIX


def members(study: StudyRecords, top: int) -> list[TrialRecord]:
    """The `top` best front members by the first objective, then the no-attention baseline if it is not among them."""
    first = study.objectives[0].metric if study.objectives else None
    if first not in RANKED_BY:
        raise StudyError(
            f"study {study.name!r}: confirmation retrains by the first objective, which must be "
            f"{' or '.join(RANKED_BY)}; it is {first}"
        )
    front = pareto.pareto_front(study)[:top]
    if not front:
        raise StudyError(f"study {study.name!r} has no complete trial within budget to confirm")
    baseline = next((t for t in study.usable if t.attention_kind == "none"), None)
    return front + ([baseline] if baseline is not None and baseline not in front else [])


@dataclass(frozen=True)
class Confirmed:
    """One member: its search trial and its confirmation runs (seed -> accuracy)."""

    trial: TrialRecord
    runs: dict[int, float]

    @property
    def searched(self) -> float:
        return float(self.trial.values[0]) if self.trial.values else float("nan")

    @property
    def interval(self) -> MeanInterval | None:
        return mean_interval([self.runs[s] for s in sorted(self.runs)]) if self.runs else None


@dataclass(frozen=True)
class Confirmation:
    """The members of a study with their confirmation, and how far the two rankings agree."""

    study: StudyRecords
    epochs: int | None
    seeds: int | None
    confirmed: tuple[Confirmed, ...]

    @property
    def ranked(self) -> list[Confirmed]:
        """Members with at least one confirmation run: the sample the agreement is measured on."""
        return [c for c in self.confirmed if c.runs]

    @property
    def tau(self) -> float | None:
        ranked = self.ranked
        return kendall_tau([c.searched for c in ranked], [c.interval.mean for c in ranked if c.interval])

    def _with_confirmed(self) -> tuple[list[TrialRecord], list[TrialRecord]]:
        """The ranked members as searched, and the same with the confirmed mean as first objective and accuracy."""
        searched, confirmed = [], []
        for c in self.ranked:
            mean = c.interval.mean if c.interval else c.searched
            values = (mean, *(c.trial.values or ())[1:])
            attrs = dataclasses.replace(c.trial.attrs, **{self.study.objectives[0].metric: mean})
            searched.append(c.trial)
            confirmed.append(dataclasses.replace(c.trial, values=values, attrs=attrs))
        return searched, confirmed

    def picks(self) -> dict[str, tuple[int | None, int | None]]:
        """knee and (with budgets) budget pick among the ranked members: (by search, by confirmation)."""
        out: dict[str, tuple[int | None, int | None]] = {}
        views = [dataclasses.replace(self.study, trials=tuple(trials)) for trials in self._with_confirmed()]
        knees = [pareto.knee_trial(v) for v in views]
        out["knee"] = (knees[0].number if knees[0] else None, knees[1].number if knees[1] else None)
        if self.study.budgets:
            score = TASK_SCORES[self.study.task][0]
            chosen = [pareto.pick_under_budget(v.trials, self.study.budgets, score) for v in views]
            out["pick"] = (chosen[0].number if chosen[0] else None, chosen[1].number if chosen[1] else None)
        return out

    @property
    def held(self) -> bool | None:
        """Whether the short-run ranking held: the search's best member is the confirmed best, and tau > 0."""
        ranked, tau = self.ranked, self.tau
        if len(ranked) < 2 or tau is None:
            return None
        best = max(ranked, key=lambda c: c.searched).trial.number
        return tau > 0 and best == max(ranked, key=lambda c: c.interval.mean if c.interval else 0.0).trial.number

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": confirm_name(self.study.name),
            "epochs": self.epochs,
            "seeds": self.seeds,
            "members": [
                {
                    "trial": c.trial.number,
                    "summary": c.trial.summary,
                    "search_accuracy": c.searched,
                    "runs": {str(s): a for s, a in sorted(c.runs.items())},
                    "interval": c.interval.to_dict() if c.interval else None,
                }
                for c in self.confirmed
            ],
            "kendall_tau": self.tau,
            "n": len(self.ranked),
            "held": self.held,
            "picks": {k: {"search": a, "confirmed": b, "same": a == b} for k, (a, b) in self.picks().items()},
        }


def read(
    study: StudyRecords, confirm: StudyRecords, *, seeds: int | None = None, chosen: Sequence[TrialRecord] | None = None
) -> Confirmation:
    """The confirmation of `study` stored in `confirm` (planned with `seeds` per member); members are
    those it holds runs for, or `chosen`."""
    runs: dict[int, dict[int, float]] = {}
    for t in confirm.trials:
        number, seed = t.params.get("confirms"), t.params.get("seed")
        if t.state == "complete" and t.values and isinstance(number, int) and isinstance(seed, int):
            runs.setdefault(number, {})[seed] = float(t.values[0])
    wanted = list(chosen) if chosen is not None else [t for t in study.trials if t.number in runs]
    return Confirmation(
        study=study,
        epochs=(confirm.train or {}).get("epochs"),
        seeds=seeds,
        confirmed=tuple(Confirmed(t, runs.get(t.number, {})) for t in wanted),
    )


def load(storage: str, study: StudyRecords) -> Confirmation | None:
    """The stored confirmation of `study`, or None when NAME-confirm is not in the storage."""
    import optuna

    from cbam_bench.storage import open_storage, study_names

    name = confirm_name(study.name)
    if name not in study_names(storage):
        return None
    stored = optuna.load_study(study_name=name, storage=open_storage(storage))
    seeds, order = stored.user_attrs.get("seeds"), stored.user_attrs.get("members")
    chosen = [t for n in order if (t := study.trial(n)) is not None] if isinstance(order, list) else None
    return read(study, records_from_study(stored), seeds=seeds if isinstance(seeds, int) else None, chosen=chosen)
