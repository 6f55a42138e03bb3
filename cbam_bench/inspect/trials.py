"""Networks of stored trials (STUDY:N), rebuilt from the weights the study kept for them."""

from __future__ import annotations

from cbam_bench.errors import StudyError
from cbam_bench.inspect.nets import Network


def trial_network(text: str, storage: str) -> Network:
    """The trial's network with its stored weights; StudyError when the study kept none."""
    raise StudyError(f"{text}: studies do not store trial weights yet; allowed: a `train --save` checkpoint "
                     f"(retrain it with `cbam-bench train --from-trial {text} --save FILE.pt`)")
