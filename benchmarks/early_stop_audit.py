"""Audit early stopping: replay a stopping rule on a study whose trials all trained to the end.

First train every candidate to the end, with seeds, into a study of its own, e.g.

    cbam-bench search default --no-early-stop --seeds 2 --study default-full

then replay a rule (the default space's early_stop:, another's with --space, or --warmup /
--min-trials / --margin / --signal instead of its settings) in several orders:

    python benchmarks/early_stop_audit.py default-full --orders 5

Per order it prints the training time the rule would save and its false stops (trials it would
stop that the full training puts on the front or in its top 3 by accuracy); cbam_bench/search/
stop_audit.py says how the replay follows the search. Before them, the most any rule could save
with no false stop: an oracle that stops, after epoch e, every trial that is neither protected
nor the baseline.
"""

from __future__ import annotations

import argparse
import dataclasses

from cbam_bench.records import load_records
from cbam_bench.search.stop_audit import audit, ceiling, early_ranking, protected, replayable
from cbam_bench.space import STOP_SIGNALS, EarlyStop, find_space, load_space
from cbam_bench.storage import DEFAULT_STORAGE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help="a study trained with --no-early-stop")
    parser.add_argument("--storage", default=DEFAULT_STORAGE)
    parser.add_argument("--orders", type=int, default=5, help="the trial-number order, then shuffles")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffles")
    parser.add_argument("--space", default="default", help="whose early_stop: rule to replay (default: default)")
    parser.add_argument("--warmup", type=int, help="instead of the space's warmup_epochs")
    parser.add_argument("--min-trials", type=int, help="instead of the space's min_trials")
    parser.add_argument("--margin", type=float, help="instead of the space's margin")
    parser.add_argument("--signal", choices=STOP_SIGNALS, help="instead of the space's signal")
    parser.add_argument(
        "--search-seeds", type=int, help="seeds per trial of the search the rule serves (default: the space's)"
    )
    args = parser.parse_args()
    study = load_records(args.storage, args.study)
    space = load_space(find_space(args.space))
    rule = space.early_stop or EarlyStop()
    seeds = args.search_seeds or space.seeds
    given = {"warmup_epochs": args.warmup, "min_trials": args.min_trials, "margin": args.margin, "signal": args.signal}
    rule = dataclasses.replace(rule, **{k: v for k, v in given.items() if v is not None})
    if not replayable(study, rule):
        parser.exit(2, f"error: study {study.name!r} has no trial with a stored {rule.signal} curve to replay\n")
    keep = sorted(protected(study))
    print(f"study {study.name}: {len(study.usable)} trials trained to the end; must never stop: {keep}")
    print(
        f"rule: median rule on {rule.signal}, warmup_epochs {rule.warmup_epochs}, min_trials {rule.min_trials}, margin {rule.margin}"
    )
    rho = ", ".join("-" if r is None else f"{r:.2f}" for r in early_ranking(study, rule.signal))
    print(f"Spearman's rho of the {rule.signal} after each epoch with the final accuracy: {rho}")
    print(f"time saved: of a search training {seeds} seed(s) per trial")
    most = ", ".join(f"after epoch {e}: {100 * c:.1f}%" for e, c in enumerate(ceiling(study, rule.signal, seeds), 1))
    print(
        "the most any rule saves with no false stop, stopping after epoch e every trial that is neither"
        f" protected nor the baseline: {most}"
    )
    print(f"{'order':>5}  {'time saved':>10}  {'stopped':>7}  false stops")
    runs = audit(study, rule, args.orders, args.seed, seeds)
    for i, r in enumerate(runs):
        false = ", ".join(f"#{n} at epoch {r.stopped[n]}" for n in r.false_stops) or "none"
        print(f"{i:>5}  {100 * r.saved:>9.1f}%  {len(r.stopped):>7}  {false}")
    worst, mean = min(r.saved for r in runs), sum(r.saved for r in runs) / len(runs)
    print(
        f"over {len(runs)} orders: time saved {100 * mean:.1f}% on average, {100 * worst:.1f}% at worst; "
        f"{sum(1 for r in runs if r.false_stops)} order(s) with a false stop"
    )


if __name__ == "__main__":
    main()
