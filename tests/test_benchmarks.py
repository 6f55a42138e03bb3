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
    out = run(
        "train_throughput.py",
        "--steps",
        "2",
        "--rounds",
        "1",
        "--batch-size",
        "16",
        "--image-size",
        "16",
        "--width",
        "0.25",
    )
    labels = {
        "ours": "cbam-bench trainer",
        "raw": r"\(a\) raw loop",
        "loader": r"\(b\) DataLoader",
        "ours_input": "cbam-bench batches, no network",
        "loader_input": r"\(b\)'s DataLoader, no network",
    }
    speed = {name: figures(rf"{label}.*?{NUMBER} images/s", out)[0] for name, label in labels.items()}
    assert all(v > 0 for v in speed.values()), speed
    # One round: each ratio is the quotient of the two speeds printed (rounded to whole images/s).
    close = {"rel": 0.02, "abs": 0.01}
    assert figures(rf"ours / raw\s+= {NUMBER}", out)[0] == pytest.approx(speed["ours"] / speed["raw"], **close)
    to_loader, ceiling = figures(rf"ours / loader = {NUMBER} .*ceiling for any trainer here: {NUMBER}", out)
    assert to_loader == pytest.approx(speed["ours"] / speed["loader"], **close)
    assert ceiling == pytest.approx(1 + speed["raw"] / speed["loader_input"], **close)
    alone = figures(rf"input paths alone, ours / loader = {NUMBER}", out)[0]
    # The speeds are printed to whole images/s and the ratio to 0.1: it lies within what that rounding allows.
    low = (speed["ours_input"] - 0.5) / (speed["loader_input"] + 0.5) - 0.05
    high = (speed["ours_input"] + 0.5) / max(speed["loader_input"] - 0.5, 1e-9) + 0.05
    assert low <= alone <= high, (alone, speed)


def test_attention_speed_prints_every_gate_the_step_and_the_latency() -> None:
    out = run(
        "attention_speed.py",
        "--image-size",
        "8",
        "--batch-size",
        "4",
        "--repeats",
        "1",
        "--rounds",
        "1",
        "--gate-shapes",
        "2x8x6x6,1x40x4x4",
    )
    rows = re.findall(rf"(channel|spatial|cbam)\s+(\d+) x\s+(\d+).*speed-up {NUMBER}", out)
    assert [(gate, int(c), int(s)) for gate, c, s, _ in rows] == [
        (gate, width, side) for width, side in ((16, 8), (32, 4)) for gate in ("channel", "spatial", "cbam")
    ]
    assert all(float(speedup) > 0 for *_, speedup in rows)
    assert figures(rf"plain\s+{NUMBER} ms\s+ours\s+{NUMBER} ms\s+speed-up {NUMBER}", out)
    assert all(
        v > 0 for v in figures(rf"without attention {NUMBER} ms; with CBAM plain {NUMBER} ms, ours {NUMBER} ms", out)
    )
    floors = re.findall(
        rf"(\d+x\d+x\d+x\d+)\s+plain\s+{NUMBER} ms\s+ours\s+{NUMBER} ms\s+ours/plain {NUMBER}\s+"
        r"(?:timm\s+[\d.]+ ms\s+ours/timm [\d.]+\s+)?"  # where timm is installed (the bench extra)
        rf"floor\s+{NUMBER} ms\s+ours/floor {NUMBER}",
        out,
    )
    assert [row[0] for row in floors] == ["2x8x6x6", "1x40x4x4"]
    # One round: each ratio is the quotient of the printed times (rounded as printed).
    for _, plain, ours, over_plain, floor, over_floor in floors:
        assert float(over_plain) == pytest.approx(float(ours) / float(plain), rel=0.05, abs=0.02)
        assert float(over_floor) == pytest.approx(float(ours) / float(floor), rel=0.05, abs=0.02)
    step = figures(
        rf"without {NUMBER} ms; with CBAM plain {NUMBER} ms \({NUMBER}x\), ours {NUMBER} ms \({NUMBER}x\)", out
    )
    assert len(step) == 5 and all(v > 0 for v in step)


def test_cuda_path_prints_every_setup_with_speedups_over_fp32() -> None:
    out = run(
        "cuda_path.py",
        "--device",
        "cpu",
        "--models",
        "cifar_resnet20",
        "--attention",
        "none",
        "--image-size",
        "8",
        "--batch-size",
        "4",
        "--inference-batch",
        "4",
        "--steps",
        "1",
        "--repeats",
        "1",
        "--rounds",
        "1",
    )
    rows = re.findall(
        rf"(train, batch 4 \(images/s\)|inference, batch [14] \(ms\))\s+{NUMBER} \({NUMBER}x\)\s+"
        rf"{NUMBER} \({NUMBER}x\)\s+{NUMBER} \({NUMBER}x\)",
        out,
    )
    assert [row[0] for row in rows] == [
        "train, batch 4 (images/s)",
        "inference, batch 1 (ms)",
        "inference, batch 4 (ms)",
    ]
    for label, fp32, base, *others in rows:
        assert float(base) == 1.0 and float(fp32) > 0  # fp32 against itself
        # One round: each speed-up is the quotient of the printed medians, within what their rounding
        # (whole images/s, or 0.001 ms) and the speed-up's own (0.01) allow.
        half = 0.5 if "images/s" in label else 0.0005
        for value, speedup in zip(others[::2], others[1::2]):
            top, bottom = (float(value), float(fp32)) if "images/s" in label else (float(fp32), float(value))
            low, high = (top - half) / (bottom + half), (top + half) / max(bottom - half, 1e-9)
            assert low - 0.005 <= float(speedup) <= high + 0.005, (label, value, fp32, speedup)


def test_attention_cuda_prints_the_gate_against_its_floor_and_the_step_ratios() -> None:
    out = run(
        "attention_cuda.py",
        "--device",
        "cpu",
        "--gate-shapes",
        "2x8x6x6,1x40x4x4",
        "--dtype",
        "fp32",
        "--models",
        "cifar_resnet20",
        "--image-size",
        "8",
        "--batch-size",
        "4",
        "--steps",
        "1",
        "--repeats",
        "1",
        "--rounds",
        "1",
    )
    gates = re.findall(
        rf"(\d+x\d+x\d+x\d+)\s+fp32 (nchw|channels_last)\s+formula\s+{NUMBER} ms\s+recorded\s+[\d.]+ ms\s+"
        rf"fused\s+{NUMBER} ms\s+floor\s+{NUMBER} ms\s+fused/formula {NUMBER}\s+fused/floor {NUMBER}\s+"
        rf"eager: formula\s+{NUMBER} ms\s+recorded\s+{NUMBER} ms\s+fused\s+{NUMBER} ms",
        out,
    )
    assert [g[:2] for g in gates] == [
        (s, layout) for s in ("2x8x6x6", "1x40x4x4") for layout in ("nchw", "channels_last")
    ]
    # One round: each ratio is the quotient of the printed times (rounded as printed).
    for _, _, formula, fused, floor, over_formula, over_floor, *eager in gates:
        assert float(over_formula) == pytest.approx(float(fused) / float(formula), rel=0.05, abs=0.02)
        assert float(over_floor) == pytest.approx(float(fused) / float(floor), rel=0.05, abs=0.02)
        assert all(float(v) > 0 for v in eager)
    step = figures(
        rf"cifar_resnet20\s+\(fp32\) without\s+{NUMBER} images/s; with CBAM: formula\s+{NUMBER} \({NUMBER}x the step\), "
        rf"fused\s+{NUMBER} \({NUMBER}x the step\)",
        out,
    )
    none, formula, formula_ratio, fused, fused_ratio = step
    assert formula_ratio == pytest.approx(none / formula, rel=0.05, abs=0.02)
    assert fused_ratio == pytest.approx(none / fused, rel=0.05, abs=0.02)


def test_cifar_standin_is_read_as_cifar(tmp_path: Path) -> None:
    from cbam_bench.data.cifar import read_cifar

    for name, classes in (("cifar10", 10), ("cifar100", 100)):
        run("cifar_standin.py", str(tmp_path), "--name", name, "--train-images", "23", "--test-images", "7")
        train_x, train_y, test_x, test_y = read_cifar(tmp_path, name)
        assert train_x.shape == (23, 3, 32, 32) and test_x.shape == (7, 3, 32, 32) and train_x.dtype.name == "uint8"
        assert 0 <= train_y.min() and train_y.max() < classes and len(test_y) == 7


@pytest.mark.slow  # three commands, each a fresh process (~5 s idle)
def test_report_scale_times_the_commands_on_a_generated_study(tmp_path: Path) -> None:
    out = run(
        "report_scale.py",
        "--sizes",
        "40",
        "--runs",
        "1",
        "--db-dir",
        str(tmp_path),
        "--only",
        "report --json",
        "export --format json",
        "compare",
    )
    rows = re.findall(rf"^\s+40  (\S.*?)\s+{NUMBER}\s+{NUMBER}\s+1\s+{NUMBER}$", out, flags=re.MULTILINE)
    assert [label for label, *_ in rows] == ["report --json", "export --format json", "compare"]
    assert all(float(v) > 0 for _, *values in rows for v in values)
    assert (tmp_path / "scale-40.db").exists()  # kept for the next run


@pytest.mark.slow  # a short search, then more trials on top of the clones (~10 s)
def test_search_overhead_prints_seconds_per_trial(tmp_path: Path) -> None:
    out = run("search_overhead.py", "--sizes", "30", "--new", "3")
    median, worst, cpu, trials = figures(rf"sqlite\s+30 random\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}", out)
    assert 0 < median <= worst and cpu > 0 and trials == 2


def test_attention_speed_gives_the_step_ratios_an_interval_from_six_rounds() -> None:
    out = run(
        "attention_speed.py",
        *("--image-size", "8", "--batch-size", "2", "--repeats", "1", "--rounds", "6"),
        *("--gate-shapes", "1x8x4x4"),
    )
    plain, ours = figures(rf"with CBAM plain {NUMBER} ms \({NUMBER}x\), ours {NUMBER} ms \({NUMBER}x\)", out)[1::2]
    low_plain, high_plain, low_ours, high_ours = figures(
        rf"95 % intervals of those medians over 6 rounds: plain {NUMBER}-{NUMBER}, ours {NUMBER}-{NUMBER}", out
    )
    # six rounds: the interval runs from the smallest to the largest ratio, around their median
    assert low_plain <= plain + 0.001 and plain - 0.001 <= high_plain
    assert low_ours <= ours + 0.001 and ours - 0.001 <= high_ours
