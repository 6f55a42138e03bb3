"""The search's own cost per trial when its study already holds 1k or 10k trials (SQLite, PostgreSQL).

Training is the test suite's stand-in (tests/fake_training.py, instant) and the cheap measures
(params, MACs, latency) are a stand-in too, a function of the network's id: what is left is the
search's bookkeeping per trial, ask (the sampler included), the slot and stale checks, the
dedup check over earlier trials, the early-stop rule over earlier trials at every epoch, tell and
the heartbeat. Set-up: a short real search creates the study; its stored trials are then cloned
N times (each clone a network of its own, its measures varied, so the dedup check and the
early-stop rule have every one of them to look at) straight into Optuna's tables
(scale_study.insert); then --new more trials run and the time between consecutive recorded trials
is taken, median and worst, with the median CPU time of this process (every thread's, user +
system) over the same spans. --postgres starts a throw-away server as the test suite does.

    python benchmarks/search_overhead.py                          # 1k and 10k existing, SQLite
    python benchmarks/search_overhead.py --postgres --sizes 10000
    python benchmarks/search_overhead.py --sampler tpe            # the default space's sampler
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import scale_study

TESTS = Path(__file__).resolve().parent.parent / "tests"
SPACE = """name: overhead
backbone: cifar_resnet20
dataset: digits-clutter
objectives: [accuracy:max, macs:min]
sampler: {sampler}
seed: 0
trials: 4
early_stop: {{warmup_epochs: 1, min_trials: 3}}
train: {{epochs: 3}}
params:
  attention.kind: [se, cbam]
  channel.reduction: [2, 4, 8, 16, 32]
  channel.pooling: [avg, max, avg+max, avg+max+lse]
  spatial.descriptor: [avg+max, conv1x1]
  spatial.kernel: [3, 5, 7]
  attention.order: [channel-spatial, spatial-channel, parallel]
  placement.stages: {{subsets_of: [1, 2, 3]}}
  placement.blocks: [all, first, last, every-2]
  placement.position: [residual, post-add, pre]
"""
# The space holds 30,660 networks: more than the largest study measured, since a search stops once
# every candidate of its space has had its trial.


def stand_in_cheap(arch, setup, fused="auto"):  # noqa: ANN001, ANN201 - the signature of search.measures.cheap_measures
    from cbam_bench.trial_attrs import TrialAttrs

    x = int(hashlib.sha256(arch.archid.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return TrialAttrs(
        params=int(270e3 * (1 + x)),
        macs=int(40e6 * (1 + x)),
        elementwise_ops=int(1e5 * (1 + x)),
        latency_ms=1.0 + x,
        latency_p90_ms=1.1 + x,
        latency_ratio=1.0 + x,
        latency_setup={"device": "cpu", "threads": 1, "batch": 1, "dtype": "float32"},
    )


class Clock:
    """Times at which this worker recorded its trials."""

    def __init__(self) -> None:
        from cbam_bench.search.observer import SearchObserver

        class Observer(SearchObserver):
            def trial_finished(inner, trial, counts, target) -> None:  # noqa: ANN001, N805
                self.stamps.append(time.perf_counter())
                self.cpu.append(time.process_time())

        self.stamps: list[float] = []
        self.cpu: list[float] = []  # this process's CPU seconds (every thread's) at the same moments
        self.observer = Observer()


def clone(url: str, name: str, count: int, seed: int = 0) -> None:
    """`count` copies of the study's complete and pruned trials, numbered after them, each a network of its own."""
    import optuna

    storage = optuna.storages.RDBStorage(url)
    study_id = storage.get_study_id_from_name(name)
    stored = [t for t in storage.get_all_trials(study_id) if t.state.name in ("COMPLETE", "PRUNED")]
    distributions = {k: d for t in stored for k, d in t.distributions.items()}
    rng = random.Random(seed)
    first = len(storage.get_all_trials(study_id))
    rows = []
    for i in range(count):
        t = stored[i % len(stored)]
        attrs = dict(t.user_attrs)
        attrs["archid"] = f"{i:012x}"
        attrs["macs"] = int(attrs.get("macs", 40e6) * (1 + rng.uniform(-0.05, 0.05)))
        attrs.pop("reused_from", None)
        values = (attrs.get("accuracy", 0.5), float(attrs["macs"])) if t.values else None
        rows.append(scale_study.Row(first + i, t.state.name, values, t.params, attrs, dict(t.system_attrs)))
    for start in range(0, count, 5000):
        scale_study.insert(storage.engine, study_id, rows[start : start + 5000], distributions)
    storage.engine.dispose()


def measure(url: str, existing: int, new: int, sampler: str, space_file: Path) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds between consecutive trials recorded after `existing` trials were in the study."""
    sys.path.insert(0, str(TESTS))
    import fake_training

    from cbam_bench.search import trial as trial_module
    from cbam_bench.search.run import run_search
    from cbam_bench.search.trainer import Trainer
    from cbam_bench.space import load_space

    trial_module.cheap_measures = stand_in_cheap
    space_file.write_text(SPACE.format(sampler=sampler))
    space = load_space(space_file)
    trainer = Trainer(fake_training.train, fake_training.fit_arch, fake_training.dataset_info)
    name = f"overhead-{existing}"
    run_search(space, trials=4, storage=url, study_name=name, trainer=trainer, heartbeat_s=60)
    clone(url, name, existing - 4)
    clock = Clock()
    run_search(
        space,
        trials=existing + new,
        storage=url,
        study_name=name,
        trainer=trainer,
        heartbeat_s=60,
        observer=clock.observer,
    )
    return [b - a for a, b in zip(clock.stamps, clock.stamps[1:])], [b - a for a, b in zip(clock.cpu, clock.cpu[1:])]


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    sys.path.insert(0, str(TESTS))
    from postgres_server import running_server, server_binaries

    bindir = server_binaries()
    if bindir is None:
        raise SystemExit("--postgres: PostgreSQL's initdb and pg_ctl are not installed")
    with running_server(bindir) as server:
        yield server.url()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="trials already in the study")
    parser.add_argument("--new", type=int, default=12, help="trials run and timed after them")
    parser.add_argument("--sampler", default="random", help="the space's sampler (random: the search's own cost alone)")
    parser.add_argument("--postgres", action="store_true", help="on a throw-away PostgreSQL server, not SQLite")
    args = parser.parse_args()
    os.environ.setdefault("FAKE_EPOCH_S", "0")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(
        f"{'storage':<10} {'existing':>8} {'sampler':<8} {'median s/trial':>15} {'worst':>7} {'CPU s/trial':>12} {'trials':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp, postgres_url() if args.postgres else contextlib.nullcontext() as pg:
        for size in args.sizes:
            url = pg or f"sqlite:///{Path(tmp) / f'overhead-{size}.db'}"
            gaps, cpu = measure(url, size, args.new, args.sampler, Path(tmp) / "space.yaml")
            kind = "postgresql" if pg else "sqlite"
            print(
                f"{kind:<10} {size:>8} {args.sampler:<8} {statistics.median(gaps):>15.3f} {max(gaps):>7.3f} "
                f"{statistics.median(cpu):>12.3f} {len(gaps):>7}",
                flush=True,
            )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
