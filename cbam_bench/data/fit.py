"""What a dataset means for a spec: where its files are, its shape, and an arch fitted to it.

Apart from data/catalog.py, which specs read to validate dataset names, so that the catalog
never needs the specs that need it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from cbam_bench.data.catalog import (
    CIFAR,
    DEFAULT_DATA_DIR,
    IMAGEFOLDER,
    DatasetInfo,
    cifar_missing_error,
    folder_path,
    imagefolder_classes,
    missing_cifar_file,
    recipe_of,
)
from cbam_bench.spec import ArchSpec
from cbam_bench.train_spec import TrainSpec


def data_root(spec: TrainSpec) -> Path:
    """Where downloaded datasets and decoded caches live: --data-dir, else ./data."""
    return Path(spec.data_dir if spec.data_dir is not None else DEFAULT_DATA_DIR).expanduser()


def dataset_info(spec: TrainSpec) -> DatasetInfo:
    """Classes, channels and image size of spec's dataset; DataError when its files are missing.

    Cheap: CIFAR is checked file by file, an image folder by listing its class folders.
    """
    name = spec.dataset
    recipe = recipe_of(name)
    size = spec.image_size or recipe.image_size
    classes = recipe.num_classes
    if name in CIFAR:
        root = data_root(spec)
        missing = missing_cifar_file(root, name)
        if missing is not None:
            raise cifar_missing_error(root, name, missing)
    elif name.startswith(IMAGEFOLDER):
        classes = len(imagefolder_classes(Path(folder_path(name)).expanduser()))
    assert classes is not None
    return DatasetInfo(name=name, num_classes=classes, in_channels=recipe.in_channels, image_size=size)


def fit_arch(arch: ArchSpec, spec: TrainSpec) -> ArchSpec:
    """`arch` with its classifier, input channels and input size set for spec's dataset."""
    info = dataset_info(spec)
    return dataclasses.replace(
        arch, num_classes=info.num_classes, in_channels=info.in_channels, input_size=info.image_size
    )
