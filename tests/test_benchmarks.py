"""The benchmark scripts run end to end on tiny settings and print every figure they promise.

No timing is asserted (these machines are noisy); what is checked is that each figure is there and
is a positive number, so a change to the library cannot leave a benchmark broken unnoticed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def figures(pattern: str, text: str) -> list[float]:
    found = re.findall(pattern, text)
    assert found, f"no line matching {pattern!r} in:\n{text}"
    return [float(v) for match in found for v in ((match,) if isinstance(match, str) else match)]


def test_train_throughput_prints_both_ratios_and_the_ceiling() -> None:
    out = run("train_throughput.py", "--steps", "2", "--rounds", "1", "--batch-size", "16", "--image-size", "16",
              "--width", "0.25")
    labels = {"ours": "cbam-bench trainer", "raw": r"\(a\) raw loop", "loader": r"\(b\) DataLoader",
              "ours_input": "cbam-bench batches, no network", "loader_input": r"\(b\)'s DataLoader, no network"}
    speed = {name: figures(rf"{label}.*?{NUMBER} images/s", out)[0] for name, label in labels.items()}
    assert all(v > 0 for v in speed.values()), speed
    # One round: each ratio is the quotient of the two speeds printed (rounded to whole images/s).
    close = {"rel": 0.02, "abs": 0.01}
    assert figures(rf"ours / raw\s+= {NUMBER}", out)[0] == pytest.approx(speed["ours"] / speed["raw"], **close)
    to_loader, ceiling = figures(rf"ours / loader = {NUMBER} .*ceiling for any trainer here: {NUMBER}", out)
    assert to_loader == pytest.approx(speed["ours"] / speed["loader"], **close)
    assert ceiling == pytest.approx(1 + speed["raw"] / speed["loader_input"], **close)
    alone = figures(rf"input paths alone, ours / loader = {NUMBER}", out)[0]
    assert alone == pytest.approx(speed["ours_input"] / speed["loader_input"], rel=0.02, abs=0.1)


def test_attention_speed_prints_every_gate_the_step_and_the_latency() -> None:
    out = run("attention_speed.py", "--image-size", "8", "--batch-size", "4", "--repeats", "1", "--rounds", "1")
    rows = re.findall(rf"(channel|spatial|cbam)\s+(\d+) x\s+(\d+).*speed-up {NUMBER}", out)
    assert [(gate, int(c), int(s)) for gate, c, s, _ in rows] == [
        (gate, width, side) for width, side in ((16, 8), (32, 4)) for gate in ("channel", "spatial", "cbam")
    ]
    assert all(float(speedup) > 0 for *_, speedup in rows)
    assert figures(rf"plain\s+{NUMBER} ms\s+ours\s+{NUMBER} ms\s+speed-up {NUMBER}", out)
    assert all(v > 0 for v in figures(rf"without attention {NUMBER} ms; with CBAM plain {NUMBER} ms, ours {NUMBER} ms", out))
