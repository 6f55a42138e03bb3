"""What `cbam-bench train` prints: the per-epoch lines and progress bar while it runs, then the table of
accuracy, cost, latency and speed, with a stored trial's figures beside it under --from-trial."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from cbam_bench.cli import output
from cbam_bench.report.format import attention_label

if TYPE_CHECKING:
    from cbam_bench.retrain import StoredTrial
    from cbam_bench.spec import ArchSpec
    from cbam_bench.train import EpochReport, TrainResult
    from cbam_bench.train_report import TrainReport
    from cbam_bench.train_spec import TrainSpec


def _percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _epoch_line(report: EpochReport, epochs: int) -> str:
    return (
        f"epoch {report.epoch}/{epochs}: train loss {report.train_loss:.4f}, "
        f"val top-1 {_percent(report.val_accuracy)}, top-5 {_percent(report.val_top5)}, {report.seconds:.1f} s"
    )


def epoch_progress(
    enabled: bool, epochs: int
) -> tuple[AbstractContextManager[Any], Callable[[EpochReport], None] | None]:
    """A Rich progress bar over epochs on stderr, or nothing when nobody watches."""
    if not enabled:
        return nullcontext(), None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=output.stderr(),
        transient=True,
    )
    task = progress.add_task("epochs", total=epochs)

    def on_epoch(report: EpochReport) -> None:
        progress.console.print(_epoch_line(report, epochs), markup=False, highlight=False)
        progress.advance(task)

    return progress, on_epoch


def _stored_column(stored: StoredTrial) -> list[str]:
    """The stored trial's measures, row for row beside this run's (latency and speed were timed
    under the search's own set-up, so they are not set beside these)."""

    def count(name: str) -> str:
        value = stored.measure(name)
        return "-" if value is None else f"{int(value):,}"

    seeds = stored.seeds or 1
    epochs = "-" if stored.epochs is None else f"{stored.epochs} epoch{'s' if stored.epochs > 1 else ''}"
    return [
        _percent(stored.accuracy),
        _percent(stored.measure("top5")),
        _percent(stored.measure("test_accuracy")),
        _percent(stored.measure("test_top5")),
        "-",
        count("params"),
        count("macs"),
        "-",
        "-",
        epochs + (f" x {seeds} seeds" if seeds > 1 and stored.epochs is not None else ""),
        "-",
        "-",
    ]


def _graph_note(run: dict) -> str:
    """', CUDA graph' when the steps were replayed from one, or why recording failed; nothing on the CPU."""
    if run.get("cuda_graph_fallback"):
        return f", steps run plainly (no CUDA graph: {run['cuda_graph_fallback']})"
    return ", CUDA graph" if run.get("cuda_graph") else ""


def _stored_lines(stored: StoredTrial, fitted: ArchSpec, result: TrainResult, spec: TrainSpec) -> list[str]:
    """What the short run recorded against what this run measured, and how the network changed."""
    epochs = len(result.history)
    now = f"this run {_percent(result.accuracy)} after {epochs} epoch{'s' if epochs > 1 else ''}"
    head = f"Stored on {stored.ref} ({stored.status}, in {stored.storage})"
    if stored.accuracy is None:
        lines = [f"{head}: no validation accuracy (never trained to the end); {now}."]
    else:
        after = "" if stored.epochs is None else f" after {stored.epochs} epoch{'s' if stored.epochs > 1 else ''}"
        mean = f", mean of {stored.seeds} seeds" if stored.seeds and stored.seeds > 1 else ""
        delta = 100 * (result.accuracy - stored.accuracy)
        lines = [f"{head}: val top-1 {_percent(stored.accuracy)}{after}{mean}; {now} ({delta:+.2f} points)."]
    if stored.requested != stored.trial:
        lines.append(f"{stored.study}:{stored.requested} reused {stored.ref}'s measures (the same network).")
    if fitted.archid != stored.archid:
        lines.append(
            f"Re-fitted to {spec.dataset}: archid {stored.archid} (on {stored.dataset}) became {fitted.archid}; "
            "attention and placement are the trial's."
        )
    return lines


def render(report: TrainReport, saved: str | None, stored: StoredTrial | None = None) -> None:
    result, spec, cost, latency = report.result, report.spec, report.cost, report.latency
    arch, run = result.arch, result.extras
    memory = "-" if result.peak_memory_bytes is None else f"{result.peak_memory_bytes / 2**20:.0f} MiB"
    rows = [
        ["accuracy (val top-1)", _percent(result.accuracy)],
        ["top-5 (val)", _percent(result.top5)],
        ["test accuracy (top-1)", _percent(result.test_accuracy)],
        ["test top-5", _percent(result.test_top5)],
        ["val loss", f"{result.loss:.4f}"],
        ["params", f"{cost.params:,} ({cost.params / 1e6:.2f} M)"],
        ["MACs (paper)", f"{cost.macs:,} ({output.human(cost.macs)})"],
        ["latency (median / p90)", f"{latency.median_ms:.2f} / {latency.p90_ms:.2f} ms"],
        ["training images/s", f"{result.images_per_s:,.0f}"],
        [
            "training time",
            f"{sum(result.epoch_seconds):.1f} s over {len(result.history)} epoch"
            + ("s" if len(result.history) > 1 else ""),
        ],
        ["wall time", f"{result.wall_s:.1f} s"],
        ["peak memory (training)", memory],
    ]
    columns = ["", "value"]
    if stored is not None:
        columns = ["", "this run", f"stored {stored.ref}"]
        rows = [row + [old] for row, old in zip(rows, _stored_column(stored))]
    network = f"{arch.backbone} + {attention_label(arch.attention.summary(), arch.to_dict())}"
    notes = [
        f"{network}, archid {arch.archid}, "
        f"input {arch.in_channels}x{arch.input_size}x{arch.input_size}, {arch.num_classes} classes.",
        f"{spec.dataset}: {run['train_images']:,} training, {run['val_images']:,} validation"
        + (f", {run['test_images']:,} test" if run["test_images"] else "")
        + f" images; {run['device']}, {run['precision']}{_graph_note(run)}, batch {run['batch_size']}, lr {spec.lr:g}, "
        f"seed {spec.seed}.",
        f"Latency: batch {latency.batch}, {latency.device}, {latency.dtype}, {latency.memory_format}, "
        f"{latency.threads} threads, torch {latency.torch_version}, {latency.repeats} runs.",
        "MACs (paper): multiply-adds of convolutions and linear layers, one image, eval mode.",
    ]
    if stored is not None:
        notes += _stored_lines(stored, arch, result, spec)
    if saved:
        notes.append(f"Saved to {saved}: weights, ArchSpec and TrainSpec (cbam_bench.checkpoint.load_checkpoint).")
    console = output.stdout()
    output.print_table(console, output.table(f"train {network}", columns, rows))
    for note in notes:
        console.print(note, markup=False)
