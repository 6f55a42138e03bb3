"""Training images/s of cbam-bench's trainer against two references, measured in one run.

(a) raw: a bare forward / backward / step loop over pre-made, normalised batches already in memory:
    no shuffling, no augmentation, no schedule, no loss checks. The limit any trainer can reach.
(b) loader: the plain torchvision pipeline on the same images: a Dataset returning PIL images,
    transforms.Compose([RandomCrop(padding), (RandomHorizontalFlip), ToTensor(), Normalize]) and a
    shuffling DataLoader.

All three train the same network with the same optimizer, batch size, precision and memory format
on the same device (on a GPU: bfloat16 autocast, channels_last, cuDNN autotuning, as the trainer
does; pinned memory and non-blocking copies for (b)). They
run in interleaved rounds (ours, raw, loader, ours, ...), each round a fresh network trained for
--steps steps. Ratios are taken within each round and the median over rounds is reported, so drift
on a shared machine hits all three alike.

Each round also times the two input paths with no network behind them: our batches (indexing,
crop / flip and normalisation as tensor operations on the device) and (b)'s DataLoader. From those
comes the ceiling on ours / loader: a trainer with no input cost and no overhead runs at (a), and
(b) adds its input time to the same compute, so no trainer can beat (b) by more than
1 + raw / loader_input. Where the network's compute dwarfs the per-image input work, as for small
images on a CPU, that ceiling sits close to 1. On a GPU the trainer replays each step from a CUDA
graph, which (a) and (b) do not, so there it can pass (a) and that ceiling no longer bounds it.

    python benchmarks/train_throughput.py                      # the default recipe's network
    python benchmarks/train_throughput.py --width 0.25 -a none # a light network: input handling shows
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cbam_bench.data.batches import eval_batches, train_batches
from cbam_bench.data.fit import fit_arch
from cbam_bench.data.load import Data, load_data
from cbam_bench.device import autocast_dtype, cudnn_autotune, memory_format_for, resolve_device
from cbam_bench.measure.env import device_name
from cbam_bench.schedule import param_groups
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.train import initial_model, train
from cbam_bench.train_spec import TrainSpec
from cbam_bench.train_step import plain_step


class PilImages(Dataset):
    """What a torchvision dataset does per item: an array to a PIL image, then the transforms."""

    def __init__(
        self, images: np.ndarray, labels: np.ndarray, transform: Callable[[Image.Image], torch.Tensor]
    ) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        return self.transform(pil), int(self.labels[index])


def _optimizer(model: torch.nn.Module, spec: TrainSpec) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        param_groups(model, spec.weight_decay), lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov
    )


def _images_per_s(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    step: Callable[[torch.Tensor, torch.Tensor], object] | None = None,
) -> float:
    """Images/s of moving `batches` to `device` and, when given, running `step` on each."""
    images = 0
    start = time.perf_counter()
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if step is not None:
            step(x, y)
        images += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return images / (time.perf_counter() - start)


def _timed_steps(arch: ArchSpec, spec: TrainSpec, batches, device: torch.device) -> float:
    """Images/s of forward/backward/step over `batches` (an iterable of (x, y) on any device).

    The network, precision and memory format are the trainer's for this device, so only the
    input path and the trainer's bookkeeping differ between the three.
    """
    fmt = memory_format_for(device)
    model = initial_model(arch, spec.seed).to(device=device, memory_format=fmt).train()
    step = plain_step(model, _optimizer(model, spec), autocast_dtype(spec.precision, device), spec.label_smoothing)
    return _images_per_s(batches, device, lambda x, y: step(x.contiguous(memory_format=fmt), y))


def run_ours(arch: ArchSpec, spec: TrainSpec) -> float:
    return train(arch, spec).images_per_s


def run_raw(arch: ArchSpec, spec: TrainSpec, data: Data, steps: int, device: torch.device) -> float:
    fmt = memory_format_for(device)
    premade = [(x.clone(), y.clone()) for x, y in eval_batches(data, data.train, fmt, batch_size=spec.batch_size)][
        :steps
    ]
    return _timed_steps(arch, spec, premade, device)


def plain_loader(spec: TrainSpec, data: Data, workers: int, device: torch.device) -> DataLoader:
    images = data.train.images.cpu().permute(0, 2, 3, 1).numpy()  # HWC uint8, as torchvision datasets hold them
    labels = data.train.labels.cpu().numpy()
    size = data.info.image_size
    steps = [transforms.RandomCrop(size, padding=data.crop_padding)] if data.crop_padding else []
    steps += [transforms.RandomHorizontalFlip()] if data.flip else []
    steps += [transforms.ToTensor(), transforms.Normalize((data.mean / 255).tolist(), (data.std / 255).tolist())]
    return DataLoader(
        PilImages(images, labels, transforms.Compose(steps)),
        batch_size=spec.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )


def run_loader(arch: ArchSpec, spec: TrainSpec, loader: DataLoader, device: torch.device) -> float:
    return _timed_steps(arch, spec, loader, device)


def input_only(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> float:
    """Images/s of an input path with no network behind it: what it adds to every training step."""
    return _images_per_s(batches, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cifar_resnet20")
    parser.add_argument("-a", "--attention", default="cbam")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--dataset", default=TrainSpec().dataset)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=TrainSpec().batch_size)
    parser.add_argument("--steps", type=int, default=15, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes of the reference")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    spec = TrainSpec(
        dataset=args.dataset,
        data_dir=args.data_dir,
        image_size=args.image_size,
        batch_size=args.batch_size,
        train_images=args.steps * args.batch_size,
        val_images=args.batch_size,
        epochs=1,
        device=args.device,
    )
    device = resolve_device(spec.device)
    arch = fit_arch(ArchSpec(args.model, width=args.width, attention=AttentionSpec(kind=args.attention)), spec)
    data = load_data(spec, device)
    # One loader for the whole run, its workers (if any) kept alive between passes: the reference
    # does not pay for starting processes in every round.
    loader = plain_loader(spec, data, args.workers, device)
    names = ("ours", "raw", "loader", "ours_input", "loader_input")
    rounds: dict[str, list[float]] = {name: [] for name in names}
    with cudnn_autotune(device):
        # Warm-up, untimed: first-call costs (allocator, kernel choice, worker start) land here.
        run_ours(arch, spec), run_raw(arch, spec, data, args.steps, device), run_loader(arch, spec, loader, device)
        for _ in range(args.rounds):
            rounds["ours"].append(run_ours(arch, spec))
            rounds["raw"].append(run_raw(arch, spec, data, args.steps, device))
            rounds["loader"].append(run_loader(arch, spec, loader, device))
            generator = torch.Generator(device=device).manual_seed(spec.seed)
            rounds["ours_input"].append(input_only(train_batches(data, spec.batch_size, generator), device))
            rounds["loader_input"].append(input_only(loader, device))
    median = {name: statistics.median(values) for name, values in rounds.items()}

    def ratio(top: str, bottom: str) -> float:
        return statistics.median(t / b for t, b in zip(rounds[top], rounds[bottom]))

    # A trainer with no input cost and no overhead runs at `raw`; the reference spends its input
    # time on top of the same compute, so ours / loader can never exceed 1 + raw / loader_input.
    ceiling = statistics.median(1 + r / i for r, i in zip(rounds["raw"], rounds["loader_input"]))

    amp = autocast_dtype(spec.precision, device)
    fmt = "channels_last" if memory_format_for(device) is torch.channels_last else "contiguous"
    precision = f"{'bf16 autocast' if amp is torch.bfloat16 else 'fp32'}, {fmt}"
    print(
        f"{arch.backbone} + {arch.attention.summary()} (width {arch.width:g}) on {spec.dataset}, "
        f"{arch.in_channels}x{arch.input_size}x{arch.input_size}, batch {spec.batch_size}, {args.steps} steps x "
        f"{args.rounds} rounds, device {device_name(device)}, {precision}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, DataLoader workers {args.workers}"
    )
    labels = {
        "ours": "cbam-bench trainer",
        "raw": "(a) raw loop, pre-made tensors",
        "loader": "(b) DataLoader + transforms",
        "ours_input": "cbam-bench batches, no network",
        "loader_input": "(b)'s DataLoader, no network",
    }
    for name in names:
        spread = ", ".join(f"{v:.0f}" for v in rounds[name])
        print(f"  {labels[name]:34s} {median[name]:8.0f} images/s   (rounds: {spread})")
    print(f"  ours / raw    = {ratio('ours', 'raw'):.2f}   (target >= 0.9; median of per-round ratios)")
    bound = "any trainer" if device.type != "cuda" else "a trainer without CUDA graphs"
    print(f"  ours / loader = {ratio('ours', 'loader'):.2f}   (target >= 2; ceiling for {bound} here: {ceiling:.2f})")
    print(f"  input paths alone, ours / loader = {ratio('ours_input', 'loader_input'):.1f}")


if __name__ == "__main__":
    main()
