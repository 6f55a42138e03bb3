"""Latency, throughput and memory measurements: sane statistics, honest conditions, the caller's model untouched."""

from __future__ import annotations

import mmap

import pytest
import torch

from cbam_bench.measure import latency as latency_module
from cbam_bench.measure.env import environment
from cbam_bench.measure.latency import compare_latency, measure_latency, quantile
from cbam_bench.measure.memory import track_peak_memory
from cbam_bench.measure.throughput import measure_throughput
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec, AttentionSpec

SMALL = ArchSpec("cifar_resnet20", width=0.5, input_size=16)


def test_latency_statistics_are_sane_and_carry_their_conditions() -> None:
    lat = measure_latency(build_model(SMALL), (2, 3, 16, 16), warmup=2, repeats=15)
    assert 0 < lat.min_ms <= lat.median_ms <= lat.p90_ms
    assert lat.iqr_ms >= 0 and lat.repeats == 15 and lat.warmup == 2
    assert (lat.batch, lat.input_size, lat.device, lat.dtype, lat.memory_format) == (
        2,
        16,
        "cpu",
        "float32",
        "contiguous",
    )
    assert lat.threads == torch.get_num_threads() and lat.torch_version == torch.__version__


def test_quantile_interpolates_linearly() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert quantile(values, 0.5) == 3.0 and quantile(values, 0.9) == pytest.approx(4.6)
    assert quantile(values, 0.0) == 1.0 and quantile(values, 1.0) == 5.0


def test_timing_leaves_the_callers_model_as_it_was() -> None:
    model = build_model(SMALL).train()
    measure_latency(model, (1, 3, 16, 16), dtype=torch.float64, channels_last=True, warmup=1, repeats=2)
    assert model.training
    weight = model.conv1.weight
    assert weight.dtype == torch.float32 and weight.is_contiguous()


def test_compare_latency_times_both_models_alike() -> None:
    small = build_model(SMALL)
    cbam = build_model(
        ArchSpec("cifar_resnet20", width=0.5, input_size=16, attention=AttentionSpec(kind="cbam", reduction=4))
    )
    a, b, ratio = compare_latency(small, cbam, (1, 3, 16, 16), warmup=2, repeats=10)
    assert a.repeats == b.repeats == 10 and a.batch == b.batch == 1
    assert 0 < a.median_ms <= a.p90_ms and 0 < b.median_ms <= b.p90_ms
    assert ratio is not None and ratio.n == 10 and 0 < ratio.low <= ratio.median <= ratio.high


def test_the_ratio_is_the_median_of_the_rounds_ratios_with_their_order_statistics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Round i times A at 2 ms and B at (i + 1) ms, but the machine slows down in round 3: both take
    # ten times as long there, which the pair's ratio does not see.
    times = iter(t for i in range(10) for t in ((20.0, 10.0 * (i + 1)) if i == 3 else (2.0, i + 1.0)))
    monkeypatch.setattr(latency_module, "_timer", lambda device: lambda fn: next(times))
    _, _, ratio = compare_latency(torch.nn.Identity(), torch.nn.Identity(), (1, 4), warmup=0, repeats=10)
    # The ratios are 0.5, 1, ..., 5; with 10 rounds the 95 % interval runs from the 2nd to the 9th.
    assert (ratio.median, ratio.low, ratio.high, ratio.n) == (2.75, 1.0, 4.5, 10)
    times = iter([2.0, 3.0] * 5)
    assert compare_latency(torch.nn.Identity(), torch.nn.Identity(), (1, 4), warmup=0, repeats=5).ratio is None


def test_compare_latency_alternates_the_models() -> None:
    calls: list[str] = []

    class Named(torch.nn.Module):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 4)

            def note() -> None:  # a plain function survives the deep copy latency takes
                calls.append(name)

            self.note = note

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.note()
            return self.linear(x)

    compare_latency(Named("a"), Named("b"), (2, 4), warmup=1, repeats=3)
    assert calls == ["a", "b"] * 4  # one warm-up round, then three timed rounds, A before B each time


def test_throughput_is_the_batch_over_the_median_latency() -> None:
    tp = measure_throughput(build_model(SMALL), (8, 3, 16, 16), warmup=1, repeats=5)
    assert tp.latency.batch == 8
    assert tp.images_per_s == pytest.approx(8 * 1000 / tp.latency.median_ms)


def test_cpu_peak_memory_sees_memory_touched_and_freed_inside() -> None:
    size = 64 * 2**20
    with track_peak_memory("cpu") as peak:
        # Fresh anonymous pages, so memory an allocator kept from earlier work cannot stand in.
        block = mmap.mmap(-1, size)
        block.write(b"\x01" * size)
        block.close()
    assert peak.bytes is not None and peak.bytes >= 0.9 * size
    assert peak.method


def test_environment_names_the_versions() -> None:
    env = environment("cpu")
    assert env["device"] == "cpu" and env["torch"] == torch.__version__
    assert {"python", "cuda", "cbam_bench", "threads"} <= set(env)
