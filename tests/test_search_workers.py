"""Searches as separate processes: killed mid-trial and resumed, and several workers on one study.

The processes run `python -m cbam_bench search` with the stand-in trainer (tests/fake_training.py,
selected through CBAM_BENCH_TRAINER) whose epochs sleep, so a trial is reliably in flight.

The PostgreSQL test uses the suite's own server (tests/postgres_server.py, started by the
`postgres` fixture in conftest.py). Without its binaries it fails when the CI environment variable
is set (.ci/run sets it and installs the package) and is skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from postgres_server import ADMIN_PASSWORD

optuna.logging.set_verbosity(optuna.logging.WARNING)

ROOT = Path(__file__).resolve().parents[1]
SPACE = """
backbone: cifar_resnet20
objectives: [accuracy:max, macs:min]
early_stop: false
latency: {warmup: 0, repeats: 2}
train: {epochs: 4}
params:
  attention.kind: [none, se, cbam]
  channel.reduction: [4, 8, 16]
  spatial.kernel: [3, 5, 7]
"""


def command(space: Path, storage: str, trials: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cbam_bench",
        "search",
        str(space),
        "--storage",
        storage,
        "--trials",
        str(trials),
        "--heartbeat",
        "1",
        "--json",
    ]


def environment(epoch_s: float) -> dict[str, str]:
    return os.environ | {
        "CBAM_BENCH_TRAINER": "fake_training",
        # The tests' helpers and the checkout first, then whatever the caller's environment adds.
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "FAKE_EPOCH_S": str(epoch_s),
        "COLUMNS": "120",
    }


def space_file(tmp_path: Path) -> Path:
    path = tmp_path / "workers.yaml"
    path.write_text(SPACE)
    return path


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out), err


def load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="workers", storage=storage)


def wait_for(predicate, timeout: float = 120) -> None:  # noqa: ANN001 - a zero-argument callable
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except KeyError:  # the study does not exist yet
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_sigkill_mid_trial_loses_nothing_and_the_rerun_finishes(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    space = space_file(tmp_path)
    proc = subprocess.Popen(
        command(space, storage, 4),
        cwd=ROOT,
        env=environment(0.4),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def one_done_and_one_training() -> bool:
        trials = load(storage).trials
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        return bool(done) and any(t.state == TrialState.RUNNING and "env" in t.user_attrs for t in trials)

    try:
        wait_for(one_done_and_one_training)
        time.sleep(0.6)  # inside an epoch of the running trial
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    before = load(storage).trials
    killed = next(t for t in before if t.state == TrialState.RUNNING)
    complete = {t.number: (t.values, t.user_attrs) for t in before if t.state == TrialState.COMPLETE}
    assert complete

    rerun = subprocess.run(
        command(space, storage, 4), cwd=ROOT, env=environment(0.0), capture_output=True, text=True, timeout=240
    )
    assert rerun.returncode == 0, rerun.stderr
    doc = json.loads(rerun.stdout)
    after = load(storage).trials
    assert doc["counts"]["finished"] == 4 and doc["counts"]["running"] == 0
    assert [t for t in after if t.state == TrialState.RUNNING] == []
    assert after[killed.number].state == TrialState.FAIL
    retry = next(t for t in after if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert {t.number: (t.values, t.user_attrs) for t in after if t.number in complete} == complete


def training(storage: str, wanted) -> optuna.trial.FrozenTrial | None:  # noqa: ANN001 - a predicate on a trial
    """The running trial that `wanted` accepts, once it is training (its cheap measures are stored)."""
    return next(
        (t for t in load(storage).trials if t.state == TrialState.RUNNING and "env" in t.user_attrs and wanted(t)), None
    )


@pytest.mark.slow
def test_sigterm_records_the_trial_queues_it_and_exits_143(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    space = space_file(tmp_path)
    proc = subprocess.Popen(
        command(space, storage, 3),
        cwd=ROOT,
        env=environment(0.4),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: training(storage, lambda t: True))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)  # promptly: no waiting for a heartbeat to go stale
    assert proc.returncode == 143, err
    assert out == ""
    stopped = next(t for t in load(storage).trials if t.state == TrialState.FAIL)
    assert stopped.user_attrs["fail_reason"] == "interrupted (SIGTERM); queued again"
    assert err.strip().splitlines()[-1] == (
        f"interrupted by SIGTERM: trial {stopped.number} recorded as FAIL (interrupted) and queued again; "
        "run the same command to resume"
    )
    (queued,) = load(storage).get_trials(states=(TrialState.WAITING,))
    assert queued.system_attrs["fixed_params"] == stopped.params
    assert load(storage).get_trials(states=(TrialState.RUNNING,)) == []

    doc, _ = finish(
        subprocess.Popen(
            command(space, storage, 3),
            cwd=ROOT,
            env=environment(0.0),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    assert doc["counts"]["finished"] == 3 and doc["counts"]["running"] == 0
    assert load(storage).trials[queued.number].state == TrialState.COMPLETE


@pytest.mark.slow
def test_the_baseline_survives_three_kills(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    space = space_file(tmp_path)
    killed: list[int] = []
    for _ in range(3):  # one more than the retries any other trial gets
        proc = subprocess.Popen(
            command(space, storage, 3),
            cwd=ROOT,
            env=environment(0.4),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(
                lambda: training(storage, lambda t: t.params == {"attention.kind": "none"} and t.number not in killed)
            )
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
        killed.append(training(storage, lambda t: t.params == {"attention.kind": "none"}).number)

    doc, err = finish(
        subprocess.Popen(
            command(space, storage, 3),
            cwd=ROOT,
            env=environment(0.0),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    assert doc["counts"]["finished"] == 3 and "no no-attention baseline" not in err
    trials = load(storage).trials
    for number in killed:
        assert trials[number].state == TrialState.FAIL
        assert (
            trials[number]
            .user_attrs["fail_reason"]
            .startswith("heartbeat stale: no heartbeat for over 2 s (its worker was killed or lost); queued again")
        )
    assert (
        trials[killed[-1]]
        .user_attrs["fail_reason"]
        .endswith("(the no-attention baseline is retried until it finishes)")
    )
    (baseline,) = [t for t in trials if t.params == {"attention.kind": "none"} and t.state == TrialState.COMPLETE]
    assert baseline.system_attrs["retry_history"] == killed and baseline.system_attrs["failed_trial"] == killed[0]


def run_workers(space: Path, storage: str, trials: int, workers: int = 2) -> list[tuple[dict, str]]:
    procs = [
        subprocess.Popen(
            command(space, storage, trials),
            cwd=ROOT,
            env=environment(0.25),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    return [finish(p) for p in procs]


def assert_exactly(storage: str, runs: list[tuple[dict, str]], trials: int) -> None:
    study = load(storage)
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == trials
    assert study.get_trials(states=(TrialState.RUNNING,)) == []
    for doc, _ in runs:
        assert doc["counts"]["finished"] == trials
    # Every finished trial was run by exactly one worker (each logs the trials it finished).
    logged = sorted(
        int(line.split("trial ")[1].split(":")[0])
        for _, err in runs
        for line in err.splitlines()
        if line.startswith("[")
    )
    assert logged == sorted(t.number for t in finished)


@pytest.mark.slow
def test_two_workers_reach_exactly_n_on_sqlite(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runs = run_workers(space_file(tmp_path), storage, 7)
    assert_exactly(storage, runs, 7)
    # Running it again at the target trains nothing and prints the same front.
    again = subprocess.run(
        command(space_file(tmp_path), storage, 7),
        cwd=ROOT,
        env=environment(0.0),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and json.loads(again.stdout)["front"] == runs[0][0]["front"]


@pytest.fixture(scope="module")
def postgres_url(postgres) -> str:  # noqa: ANN001 - the conftest's server
    return postgres.url()


@pytest.mark.slow
def test_two_workers_reach_exactly_n_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    runs = run_workers(space_file(tmp_path), postgres_url, 7)
    assert_exactly(postgres_url, runs, 7)
    assert runs[0][0]["storage"] == postgres_url.replace(ADMIN_PASSWORD, "***")
    assert all(ADMIN_PASSWORD not in out + err for out, err in ((json.dumps(doc), err) for doc, err in runs))


@pytest.mark.slow
def test_two_workers_never_train_one_network_twice(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'db.sqlite'}"
    space = tmp_path / "workers.yaml"
    space.write_text(
        SPACE.replace("  channel.reduction: [4, 8, 16]\n", "").replace("[3, 5, 7]", "[3, 7]")
    )  # 4 candidates
    calls = tmp_path / "calls.txt"
    env = environment(0.25) | {"FAKE_CALLS": str(calls)}
    procs = [
        subprocess.Popen(
            command(space, storage, 6), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    runs = [finish(p) for p in procs]
    trained = [line.split()[0] for line in calls.read_text().splitlines()]
    finished = load(storage).get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(trained) == len(set(trained)) == 4  # every network once, by one worker
    assert sorted(t.user_attrs["archid"] for t in finished) == sorted(trained)
    for doc, err in runs:
        assert doc["target"] == 4 and doc["counts"]["finished"] == 4
        assert "the space holds 4 candidates, fewer than the 6 trials asked for" in err


ASK_AT = """
import sys, time
import optuna
from cbam_bench.search.storage import open_storage

study = optuna.load_study(study_name="queue", storage=open_storage(sys.argv[1], 10))
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # both workers ask at the same moment
print(study.ask().number)
"""


@pytest.mark.slow
def test_two_workers_asking_at_once_never_get_the_same_queued_trial(tmp_path: Path) -> None:
    # Optuna hands out a queued trial by reading WAITING and then writing RUNNING; on SQLite without
    # BEGIN IMMEDIATE both workers read WAITING in 7 of 15 such pairs and ran the same trial twice.
    from cbam_bench.search.storage import open_storage

    for pair in range(5):
        url = f"sqlite:///{tmp_path / f'queue{pair}.sqlite'}"
        optuna.create_study(study_name="queue", storage=open_storage(url, 10)).enqueue_trial({"x": 1})
        start = time.time() + 4.0  # after both have imported torch-free optuna and opened the storage
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", ASK_AT, url, str(start)],
                cwd=ROOT,
                env=environment(0.0),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        numbers = sorted(int(finish_plain(p)) for p in procs)
        assert numbers == [0, 1], f"pair {pair}: both workers were handed trial {numbers[0]}"


def finish_plain(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out.strip()
