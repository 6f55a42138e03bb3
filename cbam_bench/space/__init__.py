"""Search spaces: YAML files (schema in search_spaces/README.md), validated into a Space, and the
link from an Optuna trial to an ArchSpec.

model (what a Space is), files (finding and reading files), check (validation), codec (a choice to
the value Optuna stores and back), sampling (trial to ArchSpec, and every candidate of a space).
"""

from cbam_bench.metrics import Objective
from cbam_bench.space.codec import decode, decode_variant, encode, variant_key
from cbam_bench.space.files import SPACES_DIR, find_space, load_space, space_names
from cbam_bench.space.model import (
    APPLIES_WHEN,
    CONFIRM_EPOCH_FACTOR,
    DEFAULT_TRIALS,
    MAX_SEEDS,
    MAX_TRIALS,
    PARAM_FIELDS,
    SAMPLERS,
    STOP_SIGNALS,
    ConfirmSetup,
    EarlyStop,
    LatencySetup,
    Space,
)
from cbam_bench.space.sampling import count_candidates, default_trials, iter_candidates, suggest_arch, suggest_fields

__all__ = [
    "APPLIES_WHEN",
    "CONFIRM_EPOCH_FACTOR",
    "DEFAULT_TRIALS",
    "MAX_SEEDS",
    "MAX_TRIALS",
    "PARAM_FIELDS",
    "SAMPLERS",
    "SPACES_DIR",
    "STOP_SIGNALS",
    "ConfirmSetup",
    "EarlyStop",
    "LatencySetup",
    "Objective",
    "Space",
    "count_candidates",
    "decode",
    "decode_variant",
    "default_trials",
    "encode",
    "find_space",
    "iter_candidates",
    "load_space",
    "space_names",
    "suggest_arch",
    "suggest_fields",
    "variant_key",
]
