"""What each dataset is and looks like, found without decoding it.

Kept free of torch and of specs, so specs can validate dataset names and the CLI can fail fast on
missing files; what a dataset means for a given spec is in data/fit.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cbam_bench.errors import DataError, SpecError, allowed, did_you_mean

DIGITS = "digits-clutter"
DIGITS_HARD = DIGITS + ":hard"
IMAGEFOLDER = "imagefolder:"
DATASET_NAMES = (DIGITS, DIGITS_HARD, "cifar10", "cifar100", IMAGEFOLDER + "PATH")
DEFAULT_DATA_DIR = "data"
# Fewer training images than this is a slip (--train-images 1, a folder holding a few files), not an
# experiment: batch norm's statistics over a handful of images are noise, and nothing is learnt.
MIN_TRAIN_IMAGES = 10
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class DatasetInfo:
    """The shape of a dataset's images and labels: what a network needs to fit it."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int


@dataclass(frozen=True)
class Recipe:
    """Static facts of one dataset kind: its native shape, default sizes and the augmentation that fits it."""

    num_classes: int | None  # None: read from the folder
    in_channels: int
    image_size: int  # the default when --image-size is not given
    train_images: int | None  # None: all there are
    val_images: int | None
    crop_padding: int  # random crop after zero padding by this many pixels; 0 = no crop
    flip: bool  # horizontal flips; never for digits, whose mirror image is another glyph or none


@dataclass(frozen=True)
class Clutter:
    """How well a digits-clutter canvas hides its digit: the part of a preset that is not a count."""

    digit_scale: float  # digit side / canvas side; smaller, the digit is less of the canvas
    fragments: int  # crops of other digits on each canvas
    fragment_scale: float  # fragment side / digit side; nearer 1, a fragment is more like a whole digit


@dataclass(frozen=True)
class CifarLayout:
    """The python-version archive, as extracted: one folder of pickled batches."""

    folder: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: str


RECIPES: dict[str, Recipe] = {
    DIGITS: Recipe(10, 1, image_size=20, train_images=4000, val_images=1000, crop_padding=2, flip=False),
    # Trained to the end, every design scores about 98 % on digits-clutter; the hard preset (README,
    # "A harder benchmark") has digits too small to read every time and more clutter, and enough
    # images to learn from that the seed does not decide when the network finds the digit; a larger
    # validation split, so one run's accuracy is known to about half a point.
    DIGITS_HARD: Recipe(10, 1, image_size=20, train_images=8000, val_images=3000, crop_padding=2, flip=False),
    "cifar10": Recipe(10, 3, image_size=32, train_images=None, val_images=5000, crop_padding=4, flip=True),
    "cifar100": Recipe(100, 3, image_size=32, train_images=None, val_images=5000, crop_padding=4, flip=True),
    "imagefolder": Recipe(None, 3, image_size=64, train_images=None, val_images=None, crop_padding=8, flip=True),
}

# The digits-clutter presets, by dataset name; each also has its sizes in RECIPES.
CLUTTER: dict[str, Clutter] = {
    DIGITS: Clutter(digit_scale=0.5, fragments=6, fragment_scale=0.5),
    DIGITS_HARD: Clutter(digit_scale=0.25, fragments=12, fragment_scale=0.75),
}

CIFAR: dict[str, CifarLayout] = {
    "cifar10": CifarLayout(
        "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "labels"
    ),
    "cifar100": CifarLayout("cifar-100-python", ("train",), "test", "fine_labels"),
}


def check_dataset_name(name: object, key: str = "train.dataset") -> None:
    """Raise SpecError unless `name` is a known dataset or `imagefolder:` followed by a path."""
    if isinstance(name, str) and (name in RECIPES and name != "imagefolder" or folder_path(name)):
        return
    hint = did_you_mean(str(name), DATASET_NAMES[:-1]) if isinstance(name, str) else ""
    if isinstance(name, str) and name.startswith("imagefolder"):
        hint = " (write imagefolder:PATH with the folder that holds train/ and val/)"
    elif isinstance(name, str) and name.startswith(DIGITS + ":"):
        hint = f" ({DIGITS}'s presets: {allowed(n for n in CLUTTER if n != DIGITS)})"
    raise SpecError(key, f"{name!r} is not allowed{hint}; allowed: {allowed(DATASET_NAMES)}")


def folder_path(name: str) -> str:
    return name[len(IMAGEFOLDER) :] if name.startswith(IMAGEFOLDER) else ""


def recipe_of(name: str) -> Recipe:
    return RECIPES["imagefolder" if name.startswith(IMAGEFOLDER) else name]


def missing_cifar_file(root: Path, name: str) -> Path | None:
    """The first file of the python-version CIFAR folder that is not there, or None when complete."""
    layout = CIFAR[name]
    for file in (*layout.train_files, layout.test_file):
        path = root / layout.folder / file
        if not path.is_file():
            return path
    return None


def cifar_missing_error(root: Path, name: str, missing: Path) -> DataError:
    folder = CIFAR[name].folder
    return DataError(
        f"dataset {name}: {missing} not found; run with --download, or extract the python version "
        f"({folder}/, from {CIFAR_URL}) into {root} (--data-dir)"
    )


def imagefolder_classes(path: Path) -> list[str]:
    """Class names of an image folder (the sub-folders of train/), checked against val/."""
    name = IMAGEFOLDER + str(path)
    for split in ("train", "val"):
        if not (path / split).is_dir():
            raise DataError(
                f"dataset {name}: {path / split} is not a folder; expected {path}/train/CLASS/*.png and {path}/val/CLASS/*.png"
            )
    classes = sorted(p.name for p in (path / "train").iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"dataset {name}: {path / 'train'} has no class folders; expected {path}/train/CLASS/*.png")
    if len(classes) == 1:  # every prediction would be right: there is nothing to learn or measure
        raise DataError(
            f"dataset {name}: {path / 'train'} has one class folder ({classes[0]}); allowed: at least 2 class folders"
        )
    unknown = sorted(p.name for p in (path / "val").iterdir() if p.is_dir() and p.name not in classes)
    if unknown:
        raise DataError(f"dataset {name}: {path / 'val' / unknown[0]} is a class that train/ does not have")
    return classes
