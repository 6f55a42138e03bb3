"""A CIFAR-shaped stand-in: random images written in the python-version format, for speed runs offline.

Training speed does not depend on what the pixels show, so where the real CIFAR cannot be fetched
(a machine with no internet), this folder lets `--dataset cifar10 --data-dir DIR` run the whole
path, reading and the trainer included, at CIFAR's real sizes. Accuracy on it means nothing: the
labels are random.

    python benchmarks/cifar_standin.py /tmp/cifar                     # 50,000 + 10,000 images
    cbam-bench train resnet18 -a cbam --dataset cifar10 --data-dir /tmp/cifar --epochs 1 --json
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

from cbam_bench.data.catalog import CIFAR, RECIPES
from cbam_bench.files import write_atomic


def write_standin(
    root: Path, name: str = "cifar10", train_images: int = 50_000, test_images: int = 10_000, seed: int = 0
) -> Path:
    """Write `name`'s python-version folder under `root` filled with random pixels and labels; returns it."""
    layout = CIFAR[name]
    classes = RECIPES[name].num_classes
    folder = root / layout.folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = [len(part) for part in np.array_split(np.arange(train_images), len(layout.train_files))]
    for file, count in [*zip(layout.train_files, sizes), (layout.test_file, test_images)]:
        batch = {
            b"data": rng.integers(0, 256, (count, 3 * 32 * 32), dtype=np.uint8),
            layout.label_key.encode(): [int(v) for v in rng.integers(0, classes, count)],
        }
        write_atomic(folder / file, [pickle.dumps(batch, protocol=2)])
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the folder to pass as --data-dir")
    parser.add_argument("--name", choices=sorted(CIFAR), default="cifar10")
    parser.add_argument("--train-images", type=int, default=50_000)
    parser.add_argument("--test-images", type=int, default=10_000)
    args = parser.parse_args()
    folder = write_standin(args.root, args.name, args.train_images, args.test_images)
    print(f"wrote {args.train_images} + {args.test_images} random images to {folder}")


if __name__ == "__main__":
    main()
