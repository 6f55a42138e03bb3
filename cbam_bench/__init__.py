"""cbam-bench: architecture and ablation search over CBAM-style attention.

The library works without the command line. The main verbs are imported lazily so that
`import cbam_bench` (and `cbam-bench --help`) does not pay for torch:

    from cbam_bench import ArchSpec, AttentionSpec, build_model, profile
    from cbam_bench import load_records, pareto_front
"""

from __future__ import annotations

from cbam_bench.lazy import lazy_exports

__version__ = "0.3.0"

_EXPORTS = {
    "ArchSpec": "cbam_bench.spec",
    "AttentionSpec": "cbam_bench.spec",
    "PlacementSpec": "cbam_bench.spec",
    "TrainSpec": "cbam_bench.train_spec",
    "build_model": "cbam_bench.models.build",
    "load_records": "cbam_bench.records",
    "pareto_front": "cbam_bench.pareto",
    "profile": "cbam_bench.measure.profile",
}

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
