"""What a trial measures: cheap measures taken before training, the environment, and the seeds'
results folded into one set of measures, each as the stored record's fields (trial_attrs.TrialAttrs)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cbam_bench.space import LatencySetup
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.train_spec import TrainSpec
from cbam_bench.trial_attrs import TrialAttrs

if TYPE_CHECKING:
    from cbam_bench.detection.recipe import DetectSpec


def _network(arch: ArchSpec, fused: str, task: str) -> Any:
    """The network a trial of `task` measures: the classifier, or the Faster R-CNN over it.

    The detector is built from a fixed seed: untrained, its box post-processing keeps as many
    boxes for every candidate, so latencies compare (a trained one keeps fewer: `detect` times that).
    """
    import torch

    from cbam_bench.attention.fused.dispatch import set_fused
    from cbam_bench.models.build import build_model

    if task != "detection":
        return set_fused(build_model(arch), fused)
    from cbam_bench.detection.model import DetectorSpec, build_detector

    side, channels = arch.input_size, arch.in_channels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        detector = build_detector(
            arch, DetectorSpec(arch.num_classes, (side, side)), mean=[0.0] * channels, std=[1.0] * channels
        )
    return set_fused(detector, fused)


def _cost(arch: ArchSpec, model: Any, task: str) -> Any:
    """Counted as `cbam-bench profile` counts (--task detection: the whole detector, one image)."""
    if task == "detection":
        from cbam_bench.detection.cost import detector_cost

        return detector_cost(model, (arch.input_size, arch.input_size), arch.in_channels)["total"]
    from cbam_bench.measure.profile import profile

    return profile(arch).total


def cheap_measures(
    arch: ArchSpec, setup: LatencySetup, fused: str = "auto", task: str = "classification"
) -> TrialAttrs:
    """Params, MACs, element-wise ops (one image) and latency (the space's set-up) of a fitted arch,
    or, for a detection space, of the detector over it.

    Latency is timed alternately with the same network without attention (A B A B), and their
    ratio is stored beside it: trials are timed minutes apart on a machine whose speed drifts, and
    the ratio is what stays comparable between them. It is the median of the rounds' ratios, with
    its 95 % interval (under six repeats, too few for one, the ratio of the medians and no interval).
    CBAM modules take the `fused` mode (the training's), and the latency set-up records it.
    """
    import torch

    from cbam_bench.measure.latency import compare_latency, measure_latency

    model = _network(arch, fused, task)
    cost = _cost(arch, model, task)
    image = (arch.in_channels, arch.input_size, arch.input_size)
    timing = {"device": setup.device, "warmup": setup.warmup, "repeats": setup.repeats}
    threads = torch.get_num_threads()
    if setup.device == "cpu":
        torch.set_num_threads(setup.threads)
    try:
        if arch.attention.kind == "none":
            latency = measure_latency(model, (setup.batch, *image), **timing)
            ratio, interval = 1.0, [1.0, 1.0]  # the plain network against itself: exact
        else:
            plain = _network(dataclasses.replace(arch, attention=AttentionSpec(kind="none")), fused, task)
            plain_latency, latency, paired = compare_latency(plain, model, (setup.batch, *image), **timing)
            if paired is None:  # too few rounds for an interval
                ratio, interval = latency.median_ms / plain_latency.median_ms, None
            else:
                ratio, interval = paired.median, [paired.low, paired.high]
    finally:
        torch.set_num_threads(threads)
    conditions = latency.to_dict()
    return TrialAttrs(
        params=cost.params,
        macs=cost.macs,
        elementwise_ops=cost.elementwise_ops,
        latency_ms=latency.median_ms,
        latency_p90_ms=latency.p90_ms,
        latency_ratio=ratio,
        latency_ratio_interval=interval,
        latency_setup={
            k: conditions[k] for k in ("batch", "device", "dtype", "memory_format", "threads", "repeats", "fused")
        },
    )


def environment(train: TrainSpec | DetectSpec) -> dict[str, Any]:
    """Where and how the trial was trained: measure.env's record for the training device the spec
    resolves to, and CBAM's fused mode (a detector's modules keep the default, auto)."""
    from cbam_bench.device import resolve_device
    from cbam_bench.measure.env import environment as describe

    return describe(resolve_device(train.device)) | {"fused": getattr(train, "fused", "auto")}


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present and len(present) == len(values) else None


def fold_seeds(results: Sequence[Any]) -> TrialAttrs:
    """One set of measures from the TrainResults of several seeds: means, the accuracy's sample
    standard deviation (0 for one seed) and every seed's accuracy."""
    accuracies = [float(r.accuracy) for r in results]
    if not all(math.isfinite(a) for a in accuracies):
        raise ValueError(f"training returned a non-finite accuracy: {accuracies}")
    return TrialAttrs.measured(
        accuracy=statistics.fmean(accuracies),
        accuracy_std=statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        seed_accuracies=accuracies,
        top5=statistics.fmean(float(r.top5) for r in results),
        test_accuracy=_mean([r.test_accuracy for r in results]),
        test_top5=_mean([r.test_top5 for r in results]),
        train_s=sum(float(r.wall_s) for r in results),
        images_per_s=statistics.fmean(float(r.images_per_s) for r in results),
        epochs=len(results[0].history),
    )


def fold_detection(results: Sequence[Any]) -> TrialAttrs:
    """One set of measures from the DetectResults of several seeds: mean mAP and mAP@.5 (COCOeval on
    val) and every seed's, training time and speed."""
    scores = {name: [float(r.val[name] or 0.0) for r in results] for name in ("map", "map50")}
    if not all(math.isfinite(v) for values in scores.values() for v in values):
        raise ValueError(f"detection returned a non-finite mAP: {scores}")
    return TrialAttrs.measured(
        map=statistics.fmean(scores["map"]),
        map50=statistics.fmean(scores["map50"]),
        seed_maps=scores,
        train_s=sum(sum(r.epoch_seconds) for r in results),
        images_per_s=statistics.fmean(float(r.images_per_s) for r in results),
        epochs=len(results[0].epoch_losses),
    )
