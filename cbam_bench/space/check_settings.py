"""The checks of a space file's small settings mappings (early_stop, confirm, latency), each
problem one line naming the key."""

from __future__ import annotations

import dataclasses
from typing import Any

from cbam_bench.errors import allowed
from cbam_bench.space.check_base import CheckerBase
from cbam_bench.space.codec import show as _show
from cbam_bench.space.model import (
    LATENCY_DEVICES,
    MAX_SEEDS,
    MAX_THREADS,
    MAX_TIMING_RUNS,
    MAX_TRIALS,
    STOP_SIGNALS,
    ConfirmSetup,
    EarlyStop,
    LatencySetup,
)
from cbam_bench.spec import MAX_BATCH, MAX_EPOCHS


class SettingChecks(CheckerBase):
    def early_stop(self, value: Any) -> EarlyStop | None:
        if value is False:
            return None
        if value is True:
            return EarlyStop()
        names = [f.name for f in dataclasses.fields(EarlyStop)]
        if not isinstance(value, dict):
            self.bad("early_stop", f"must be true, false or a mapping with {allowed(names)}; got {_show(value)}")
            return None
        fields = self.mapping("early_stop", value, names)
        warmup = self.integer(
            "early_stop.warmup_epochs", fields.get("warmup_epochs", EarlyStop.warmup_epochs), 0, MAX_EPOCHS
        )
        min_trials = self.integer(
            "early_stop.min_trials", fields.get("min_trials", EarlyStop.min_trials), 1, MAX_TRIALS
        )
        margin = fields.get("margin", EarlyStop.margin)
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 1:
            self.bad("early_stop.margin", f"{_show(margin)} is not allowed; allowed: a number in [0, 1)")
            margin = 0.0
        signal = fields.get("signal", EarlyStop.signal)
        if signal not in STOP_SIGNALS:
            self.bad("early_stop.signal", f"{_show(signal)} is not allowed; allowed: {allowed(STOP_SIGNALS)}")
            signal = EarlyStop.signal
        return EarlyStop(warmup or 0, min_trials or 1, float(margin), signal)

    def confirm(self, value: Any) -> ConfirmSetup:
        fields = self.mapping("confirm", value, [f.name for f in dataclasses.fields(ConfirmSetup)])
        epochs = self.integer("confirm.epochs", fields["epochs"], 1, MAX_EPOCHS) if "epochs" in fields else None
        seeds = self.integer("confirm.seeds", fields.get("seeds", ConfirmSetup.seeds), 1, MAX_SEEDS)
        return ConfirmSetup(epochs, seeds or ConfirmSetup.seeds)

    def latency(self, value: Any) -> LatencySetup | None:
        names = [f.name for f in dataclasses.fields(LatencySetup)]
        fields = self.mapping("latency", value, names)
        device = fields.get("device", LatencySetup.device)
        if device not in LATENCY_DEVICES:
            self.bad("latency.device", f"{_show(device)} is not allowed; allowed: {allowed(LATENCY_DEVICES)}")
        batch = self.integer("latency.batch", fields.get("batch", LatencySetup.batch), 1, MAX_BATCH)
        warmup = self.integer("latency.warmup", fields.get("warmup", LatencySetup.warmup), 0, MAX_TIMING_RUNS)
        repeats = self.integer("latency.repeats", fields.get("repeats", LatencySetup.repeats), 1, MAX_TIMING_RUNS)
        threads = self.integer("latency.threads", fields.get("threads", LatencySetup.threads), 1, MAX_THREADS)
        if batch is None or warmup is None or repeats is None or threads is None or device not in LATENCY_DEVICES:
            return None
        return LatencySetup(device=device, batch=batch, warmup=warmup, repeats=repeats, threads=threads)
