"""digits-clutter's presets: the clutter numbers reach the generator, and a preset is a dataset name."""

from __future__ import annotations

import numpy as np
import pytest

from cbam_bench.data.catalog import CLUTTER, DIGITS, DIGITS_HARD, RECIPES, Clutter
from cbam_bench.data.digits import make_digits_clutter
from cbam_bench.data.load import load_data
from cbam_bench.errors import SpecError
from cbam_bench.train_spec import TrainSpec

SIZES = dict(image_size=16, train_images=60, val_images=20, seed=2)


def _outside_box(split) -> np.ndarray:  # noqa: ANN001 - a DigitSplit
    """Each image's ink with its target digit's square blanked out: the clutter alone."""
    ink = split.images[:, 0].astype(np.int64)
    for image, (x0, y0, x1, y1) in zip(ink, split.boxes):
        image[y0:y1, x0:x1] = 0
    return ink


def test_no_fragments_leaves_nothing_outside_the_digit() -> None:
    clean = make_digits_clutter(**SIZES, clutter=Clutter(digit_scale=0.5, fragments=0, fragment_scale=0.5))["train"]
    assert _outside_box(clean).max() == 0
    cluttered = make_digits_clutter(**SIZES, clutter=Clutter(digit_scale=0.5, fragments=12, fragment_scale=0.5))[
        "train"
    ]
    assert (_outside_box(cluttered) > 0).mean() > 0.05


def test_a_fragment_is_fragment_scale_of_a_digit() -> None:
    """One fragment per canvas: its ink outside the target fits in a square of its side (16 px canvas: 8 px digits)."""

    def widest(scale: float) -> int:
        split = make_digits_clutter(**SIZES, clutter=Clutter(digit_scale=0.5, fragments=1, fragment_scale=scale))[
            "train"
        ]
        sides = []
        for image in _outside_box(split):
            ys, xs = np.nonzero(image)
            if len(ys):
                sides.append(max(ys.max() - ys.min(), xs.max() - xs.min()) + 1)
        return max(sides)

    assert widest(0.5) <= 4
    assert 4 < widest(1.0) <= 8


def test_digit_scale_sets_the_digits_side() -> None:
    split = make_digits_clutter(**SIZES, clutter=Clutter(digit_scale=0.25, fragments=2, fragment_scale=0.5))["val"]
    sides = split.boxes[:, 2:] - split.boxes[:, :2]
    assert (sides == 4).all()  # a quarter of the 16 px canvas


def test_the_hard_preset_is_a_dataset_with_its_own_sizes_and_clutter() -> None:
    assert CLUTTER[DIGITS_HARD].fragments > CLUTTER[DIGITS].fragments
    spec = TrainSpec(dataset=DIGITS_HARD, image_size=16)
    data = load_data(spec, "cpu")
    recipe = RECIPES[DIGITS_HARD]
    assert (len(data.train), len(data.val)) == (recipe.train_images, recipe.val_images)
    assert data.train.boxes is not None and data.info.num_classes == 10
    plain = load_data(TrainSpec(dataset=DIGITS, image_size=16, train_images=recipe.train_images), "cpu")
    assert not np.array_equal(data.train.images.numpy(), plain.train.images.numpy())


def test_an_unknown_preset_names_the_presets() -> None:
    with pytest.raises(
        SpecError,
        match=r"train.dataset: 'digits-clutter:easy' is not allowed \(digits-clutter's presets: digits-clutter:hard\); "
        r"allowed: digits-clutter, digits-clutter:hard, cifar10",
    ):
        TrainSpec(dataset="digits-clutter:easy")
