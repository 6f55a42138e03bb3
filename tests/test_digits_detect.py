"""digits-detect: boxes hold their digits' ink, splits share no source digit, a seed fixes everything."""

from __future__ import annotations

import numpy as np
import pytest

from cbam_bench.data.digits import source_digits, upscale
from cbam_bench.data.digits_detect import DIGIT_SIDES, FRAGMENTS, MAX_DIGITS, compose_detect, make_digits_detect


@pytest.fixture(scope="module")
def splits():
    return make_digits_detect(image_size=48, train_images=60, val_images=30, seed=3)


def test_every_canvas_holds_one_to_four_labelled_boxes(splits):
    for split in splits.values():
        assert split.images.shape[1:] == (1, 48, 48) and split.images.dtype == np.uint8
        assert ((split.counts >= 1) & (split.counts <= MAX_DIGITS)).all()
        for n, labels, sources in zip(split.counts, split.labels, split.sources):
            assert (labels[:n] >= 0).all() and (labels[:n] <= 9).all() and (labels[n:] == -1).all()
            assert (sources[n:] == -1).all()


def test_labels_are_the_source_digits_classes(splits):
    _, classes = source_digits()
    split = splits["train"]
    used = split.sources >= 0
    assert (split.labels[used] == classes[split.sources[used]]).all()


def test_no_digit_or_fragment_is_shared_between_splits(splits):
    def used(split):
        return set(split.sources[split.sources >= 0]) | set(split.fragment_sources[split.fragment_sources >= 0])

    train, val, test = (used(splits[s]) for s in ("train", "val", "test"))
    assert train and val and test
    assert not train & val and not train & test and not val & test


def test_each_box_is_the_tight_box_of_its_digits_ink(monkeypatch):
    """Without clutter all ink is the digits': every inked pixel lies in a box, and each box has ink
    on its first and last row and column."""
    monkeypatch.setattr("cbam_bench.data.digits_detect.FRAGMENTS", 0)
    images, classes = source_digits()
    glyphs = [upscale(images, round(48 * f)) for f in DIGIT_SIDES]
    split = compose_detect(glyphs, classes, np.arange(40), 25, 48, np.random.default_rng(0))
    for image, boxes, n in zip(split.images[:, 0].astype(bool), split.boxes, split.counts):
        covered = np.zeros_like(image)
        for x0, y0, x1, y1 in boxes[:n].astype(int):
            assert 0 <= x0 < x1 <= 48 and 0 <= y0 < y1 <= 48
            inside = image[y0:y1, x0:x1]
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            covered[y0:y1, x0:x1] = True
        assert not (image & ~covered).any()


def test_digit_boxes_never_overlap():
    """Digits never overlap: a digit's square holds no other digit's box."""
    split = make_digits_detect(image_size=64, train_images=40, val_images=5, seed=0)["train"]
    for boxes, n in zip(split.boxes, split.counts):
        for i in range(n):
            for j in range(i + 1, n):
                a, b = boxes[i], boxes[j]
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_the_seed_fixes_the_data_and_changes_it():
    a = make_digits_detect(image_size=32, train_images=10, val_images=4, seed=1)
    b = make_digits_detect(image_size=32, train_images=10, val_images=4, seed=1)
    c = make_digits_detect(image_size=32, train_images=10, val_images=4, seed=2)
    assert all((a[s].images == b[s].images).all() and (a[s].boxes == b[s].boxes).all() for s in a)
    assert not (a["train"].images == c["train"].images).all()
    assert a["train"].fragment_sources.shape[1] == FRAGMENTS
