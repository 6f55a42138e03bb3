"""report, export and compare on studies of 1k, 10k (and, with --huge, 100k) trials: seconds and memory.

Each study is made by scale_study.py (created through Optuna, its trials bulk-inserted into
Optuna's tables with SQLAlchemy Core) in a SQLite file, once per size and kept in --db-dir for
later runs. Every command runs as a fresh subprocess (`python -m cbam_bench ...`), as a user
would type it, so imports and the database read are part of its time. Reported per command:
the median wall time over --runs runs, the median CPU time (user + system: less swayed by a
busy machine) and the child's peak resident memory (ru_utime, ru_stime, ru_maxrss from wait4). --source times another checkout's package (say, the commit before a change) on the same
files. The load average before and after is printed, since the machine may be shared.

    python benchmarks/report_scale.py                       # 1k and 10k trials, 3 runs each
    python benchmarks/report_scale.py --huge --runs 1       # and 100k
    python benchmarks/report_scale.py --source /tmp/before --timeout 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import scale_study

STUDY = "scale"
FORMATS = ("csv", "json", "md", "latex")


def commands(url: str, out: Path) -> dict[str, list[str]]:
    """Label -> the cbam-bench arguments it times."""
    base = ["--storage", url]
    out_of = {"csv": "csv", "json": "json", "md": "md", "latex": "tex"}
    return {
        "report": ["report", STUDY, *base],
        "report --json": ["report", STUDY, "--json", *base],
        "report --all": ["report", STUDY, "--all", *base],
        "report --all --json": ["report", STUDY, "--all", "--json", *base],
        **{
            f"export --format {f}": [
                "export",
                STUDY,
                "--format",
                f,
                "--out",
                str(out / f"scale.{out_of[f]}"),
                "--force",
                *base,
            ]
            for f in FORMATS
        },
        "compare": ["compare", STUDY, "--json", *base],
    }


def database(db_dir: Path, size: int) -> str:
    """The URL of the study of `size` trials, made first if it is not there yet."""
    path = db_dir / f"scale-{size}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        start = time.perf_counter()
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        scale_study.create(f"sqlite:///{partial}", STUDY, size)
        partial.rename(path)
        print(f"made {path}: {size} trials in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return url


def run_once(
    args: list[str], env: dict[str, str], timeout: float, stdout: Path, cwd: Path | None = None
) -> tuple[float | None, float, float, int]:
    """Wall seconds (None past the timeout), the child's CPU seconds and peak RSS in MiB, and its exit code.

    `python -m` puts the current folder first on sys.path, before PYTHONPATH, so a child run from a
    checkout imports that checkout's package whatever --source says: `cwd` is where it runs."""
    with stdout.open("w") as sink:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "cbam_bench", *args], stdout=sink, stderr=subprocess.DEVNULL, env=env, cwd=cwd
        )
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                child.kill()
                _, status, usage = os.wait4(child.pid, 0)
                return None, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, -9
            time.sleep(0.02)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, child.returncode


def check_counts(stdout: Path, size: int) -> None:
    """report --json must see every generated trial, or the figures are of something else."""
    total = json.loads(stdout.read_text())["counts"]["total"]
    if total != size:
        raise SystemExit(f"report --json counted {total} trials in a study of {size}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="study sizes (trials)")
    parser.add_argument("--huge", action="store_true", help="also 100,000 trials")
    parser.add_argument("--runs", type=int, default=3, help="runs per command; the median is shown")
    parser.add_argument("--only", nargs="+", help="time only the commands whose label starts with one of these")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a run is stopped and shown as >T")
    parser.add_argument(
        "--db-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cbam-bench-scale",
        help="where the studies are kept between runs",
    )
    parser.add_argument("--source", type=Path, help="import cbam_bench from this checkout instead")
    args = parser.parse_args()
    sizes = [*args.sizes, *([100_000] if args.huge else [])]
    args.db_dir = args.db_dir.resolve()  # the children may run elsewhere (--source)
    args.db_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    source = args.source.resolve() if args.source is not None else None
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), env.get("PYTHONPATH", "")])
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"{'trials':>7}  {'command':<24} {'median s':>9} {'CPU s':>7} {'runs':>5} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for size in sizes:
            url = database(args.db_dir, size)
            for label, cli in commands(url, out).items():
                if args.only and not any(label.startswith(o) for o in args.only):
                    continue
                times, cpus, peaks = [], [], []
                for _ in range(args.runs):
                    seconds, cpu, peak, code = run_once(cli, env, args.timeout, out / "stdout", source)
                    if seconds is not None and code != 0:
                        raise SystemExit(f"{label} on {size} trials exited {code}")
                    if label == "report --json" and seconds is not None:
                        check_counts(out / "stdout", size)
                    times.append(seconds)
                    cpus.append(cpu)
                    peaks.append(peak)
                    if seconds is None:
                        break  # one run past the timeout says enough
                shown = f">{args.timeout:.0f}" if None in times else f"{statistics.median(times):.2f}"
                print(
                    f"{size:>7}  {label:<24} {shown:>9} {statistics.median(cpus):>7.2f} {len(times):>5} {max(peaks):>9.0f}",
                    flush=True,
                )
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
