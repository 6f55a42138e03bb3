"""Search spaces: YAML files (schema in search_spaces/README.md), validated into a Space, and the
link from an Optuna trial to an ArchSpec.

model (what a Space is), files (finding and reading files), check (validation), sampling (trial to
ArchSpec, and every candidate of a space).
"""

from cbam_bench.metrics import Objective
from cbam_bench.space.check import variant_label
from cbam_bench.space.files import SPACES_DIR, find_space, load_space, space_names
from cbam_bench.space.model import (
    APPLIES_WHEN,
    DEFAULT_TRIALS,
    MAX_SEEDS,
    MAX_TRIALS,
    PARAM_FIELDS,
    SAMPLERS,
    EarlyStop,
    LatencySetup,
    Space,
)
from cbam_bench.space.sampling import count_candidates, default_trials, iter_candidates, suggest_arch, suggest_fields

__all__ = [
    "APPLIES_WHEN",
    "DEFAULT_TRIALS",
    "MAX_SEEDS",
    "MAX_TRIALS",
    "PARAM_FIELDS",
    "SAMPLERS",
    "SPACES_DIR",
    "EarlyStop",
    "LatencySetup",
    "Objective",
    "Space",
    "count_candidates",
    "default_trials",
    "find_space",
    "iter_candidates",
    "load_space",
    "space_names",
    "suggest_arch",
    "suggest_fields",
    "variant_label",
]
