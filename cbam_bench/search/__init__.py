"""Studies: one Optuna study per search space, resumable, shared by any number of workers.

    from cbam_bench.search import run_search
    from cbam_bench.space import find_space, load_space

    study = run_search(load_space(find_space("default")), trials=8)

Split by job: storage (URLs, heartbeats), study (create / resume, samplers), slots (exactly N
trials across workers), trial (one candidate: cheap measures, budgets, dedup, training), early_stop,
measures (cheap measures and the environment), run (the loop). A study's front is
cbam_bench.pareto's, on cbam_bench.records.records_from_study(study). Names are imported lazily so
the command line's --help does not import Optuna or torch.
"""

from __future__ import annotations

from cbam_bench.lazy import lazy_exports

_EXPORTS = {
    "run_search": "cbam_bench.search.run",
    "SearchObserver": "cbam_bench.search.observer",
    "Trainer": "cbam_bench.search.trainer",
    "DEFAULT_STORAGE": "cbam_bench.search.storage",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
