"""Datasets: digits-clutter is deterministic and leak-free, CIFAR and image folders load from disk, batches augment right."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cbam_bench.data import imagefolder as imagefolder_module
from cbam_bench.data.batches import crop_and_flip, eval_batches, normalize, steps_per_epoch, train_batches
from cbam_bench.data.catalog import RECIPES
from cbam_bench.data.digits import make_digits_clutter, source_digits, split_sources
from cbam_bench.data.fit import dataset_info, fit_arch
from cbam_bench.data.load import channel_stats, load_data
from cbam_bench.errors import DataError, SpecError
from cbam_bench.spec import ArchSpec
from cbam_bench.train_spec import TrainSpec

SMALL = dict(image_size=16, train_images=300, val_images=100)


def test_digits_clutter_is_deterministic_from_its_seed() -> None:
    a = make_digits_clutter(**SMALL, seed=3)
    b = make_digits_clutter(**SMALL, seed=3)
    c = make_digits_clutter(**SMALL, seed=4)
    for split in ("train", "val", "test"):
        assert np.array_equal(a[split].images, b[split].images)
        assert np.array_equal(a[split].labels, b[split].labels)
    assert not np.array_equal(a["train"].images, c["train"].images)


def test_digits_clutter_splits_come_from_disjoint_source_digits() -> None:
    made = make_digits_clutter(**SMALL, seed=0)
    used = {split: set(made[split].sources.tolist()) for split in made}
    assert not used["train"] & used["val"] and not used["train"] & used["test"] and not used["val"] & used["test"]
    # The pools, which fragments are cut from as well, are disjoint and cover every source digit.
    _, labels = source_digits()
    pools = split_sources(labels, np.random.default_rng(0))
    assert sum(len(p) for p in pools) == len(labels) == len(set(np.concatenate(pools).tolist()))
    assert [len(p) for p in pools] == pytest.approx([0.6 * 1797, 0.2 * 1797, 0.2 * 1797], abs=10)


def test_digits_clutter_sizes_labels_and_pixels() -> None:
    made = make_digits_clutter(image_size=24, train_images=500, val_images=70, seed=1)
    assert made["train"].images.shape == (500, 1, 24, 24) and made["train"].images.dtype == np.uint8
    assert made["val"].images.shape == made["test"].images.shape == (70, 1, 24, 24)
    # Labels are the source digits' labels, and every class shows up about equally often.
    _, labels = source_digits()
    assert np.array_equal(made["train"].labels, labels[made["train"].sources])
    assert np.bincount(made["train"].labels, minlength=10).min() >= 40
    # Ink on a black canvas: the digit is never dimmer than MIN_CONTRAST of full scale.
    assert made["train"].images.max(axis=(1, 2, 3)).min() >= 0.6 * 255 * 0.9
    assert (made["train"].images == 0).mean() > 0.3


def test_changing_the_training_size_leaves_validation_unchanged() -> None:
    a = make_digits_clutter(image_size=16, train_images=100, val_images=50, seed=0)
    b = make_digits_clutter(image_size=16, train_images=200, val_images=50, seed=0)
    assert np.array_equal(a["val"].images, b["val"].images) and np.array_equal(a["test"].images, b["test"].images)


def test_dataset_info_and_fit_arch_follow_the_dataset() -> None:
    spec = TrainSpec(image_size=20)
    assert dataset_info(spec).num_classes == 10 and dataset_info(spec).in_channels == 1
    fitted = fit_arch(ArchSpec("resnet18"), spec)
    assert (fitted.num_classes, fitted.in_channels, fitted.input_size) == (10, 1, 20)
    assert dataset_info(TrainSpec()).image_size == RECIPES["digits-clutter"].image_size


def test_unknown_dataset_is_a_spec_error_with_a_hint() -> None:
    with pytest.raises(
        SpecError,
        match=r"train.dataset: 'cifar' is not allowed \(did you mean 'cifar10'\?\); allowed: digits-clutter, digits-clutter:hard, cifar10, cifar100, imagefolder:PATH",
    ):
        TrainSpec(dataset="cifar")


def _write_fake_cifar(root: Path, per_batch: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Six batches in the python-version format: pickled dicts of bytes keys, data rows of 3072 uint8."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        batch_labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        with (folder / name).open("wb") as f:
            pickle.dump(
                {
                    b"batch_label": name.encode(),
                    b"labels": batch_labels,
                    b"data": data,
                    b"filenames": [b"x.png"] * per_batch,
                },
                f,
                protocol=2,
            )
        images.append(data)
        labels.append(batch_labels)
    return np.concatenate(images).reshape(-1, 3, 32, 32), np.concatenate(labels)


def test_fake_cifar_folder_loads_with_a_seeded_holdout(tmp_path: Path) -> None:
    images, labels = _write_fake_cifar(tmp_path)
    spec = TrainSpec(dataset="cifar10", data_dir=str(tmp_path), val_images=30)
    data = load_data(spec, "cpu")
    assert (len(data.train), len(data.val), len(data.test)) == (70, 30, 20)
    assert data.train.images.shape == (70, 3, 32, 32) and data.train.images.dtype == torch.uint8
    # The test split is the official test batch, in order; train + val are the training batches, disjoint.
    assert torch.equal(data.test.images, torch.from_numpy(images[100:]))
    assert torch.equal(data.test.labels, torch.from_numpy(labels[100:]))
    seen = {bytes(x.numpy().tobytes()) for x in torch.cat([data.train.images, data.val.images])}
    assert seen == {bytes(x.tobytes()) for x in images[:100]}
    again = load_data(TrainSpec(dataset="cifar10", data_dir=str(tmp_path), val_images=30, seed=5), "cpu")
    assert again is data  # cached: the training seed does not change the data


def test_fake_cifar_resizes_once_at_load(tmp_path: Path) -> None:
    _write_fake_cifar(tmp_path)
    data = load_data(TrainSpec(dataset="cifar10", data_dir=str(tmp_path), val_images=10, image_size=16), "cpu")
    assert data.train.images.shape[1:] == (3, 16, 16) and data.info.image_size == 16


def test_missing_cifar_files_say_where_to_put_them(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        dataset_info(TrainSpec(dataset="cifar100", data_dir=str(tmp_path)))
    message = str(info.value)
    assert f"{tmp_path}/cifar-100-python/train not found" in message
    assert "--download" in message and "cifar-100-python/" in message and "--data-dir" in message


def test_a_pickle_that_wants_to_run_code_is_refused(tmp_path: Path) -> None:
    _write_fake_cifar(tmp_path)
    with (tmp_path / "cifar-10-batches-py" / "test_batch").open("wb") as f:
        pickle.dump({b"data": Path("."), b"labels": []}, f)
    with pytest.raises(DataError, match="not a CIFAR python-version batch .*refusing to load pathlib"):
        load_data(TrainSpec(dataset="cifar10", data_dir=str(tmp_path), val_images=10), "cpu")


def _write_image_folder(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 5), ("val", 2)):
        for cls, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = np.zeros((12, 20, 3), dtype=np.uint8) + np.array(colour, dtype=np.uint8)
                pixels[0, 0] = rng.integers(0, 256, 3)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")


def test_image_folder_is_decoded_resized_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pets"
    _write_image_folder(folder)
    spec = TrainSpec(dataset=f"imagefolder:{folder}", data_dir=str(tmp_path / "cache-root"), image_size=8)
    info = dataset_info(spec)
    assert (info.num_classes, info.in_channels, info.image_size) == (2, 3, 8)
    data = load_data(spec, "cpu")
    assert data.test is None
    assert data.train.images.shape == (10, 3, 8, 8) and data.val.images.shape == (4, 3, 8, 8)
    assert data.train.labels.tolist() == [0] * 5 + [1] * 5
    # A solid red 'cat' stays red after resizing (away from the one random corner pixel).
    assert data.train.images[0, :, 4, 4].tolist() == [255, 0, 0]
    caches = list((tmp_path / "cache-root" / "cache").glob("imagefolder-*.pt"))
    assert len(caches) == 1
    assert not list((tmp_path / "cache-root" / "cache").glob(".*.tmp"))

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(imagefolder_module, "decode", no_decoding)
    again = imagefolder_module.read_imagefolder(folder, 8, tmp_path / "cache-root" / "cache")
    assert torch.equal(again["train"][0], data.train.images)


def test_image_folder_without_val_says_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match=r"val is not a folder; expected .*/train/CLASS/\*.png"):
        dataset_info(TrainSpec(dataset=f"imagefolder:{tmp_path}"))


def test_crop_and_flip_picks_a_shifted_window_of_the_zero_padded_image() -> None:
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.uint8).view(2, 3, 5, 5)
    generator = torch.Generator().manual_seed(0)
    out = crop_and_flip(images, 2, False, generator)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    for i in range(2):
        windows = [padded[i, :, y : y + 5, x : x + 5] for y in range(5) for x in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)
    # No padding and flips: each image is itself or its mirror image, and both happen.
    flips = crop_and_flip(images.repeat(16, 1, 1, 1), 0, True, torch.Generator().manual_seed(1))
    mirrored = [torch.equal(f, images[i % 2].flip(-1)) for i, f in enumerate(flips)]
    same = [torch.equal(f, images[i % 2]) for i, f in enumerate(flips)]
    assert all(m or s for m, s in zip(mirrored, same)) and any(mirrored) and any(same)


def test_channel_stats_match_torch() -> None:
    images = torch.randint(0, 256, (50, 3, 4, 4), dtype=torch.uint8)
    mean, std = channel_stats(images, chunk=7)
    reference = images.double().transpose(0, 1).flatten(1)
    assert torch.allclose(mean.double(), reference.mean(1), atol=1e-4)
    assert torch.allclose(std.double(), reference.std(1, unbiased=False), atol=1e-4)


def test_batches_are_normalised_shuffled_and_cover_the_split() -> None:
    spec = TrainSpec(**SMALL)
    data = load_data(spec, "cpu")
    batches = list(train_batches(data, 64, torch.Generator().manual_seed(0)))
    assert len(batches) == steps_per_epoch(300, 64) == 4
    assert all(x.shape == (64, 1, 16, 16) and x.dtype == torch.float32 for x, _ in batches)
    evaluated = list(eval_batches(data, data.val, batch_size=64))
    assert sum(len(y) for _, y in evaluated) == 100
    assert torch.equal(torch.cat([y for _, y in evaluated]), data.val.labels)
    whole = normalize(data.train.images, data, torch.contiguous_format)
    assert abs(whole.mean().item()) < 1e-4 and whole.std().item() == pytest.approx(1.0, abs=1e-3)


def test_source_digits_are_scikit_learns() -> None:
    from sklearn.datasets import load_digits

    images, labels = source_digits()
    reference = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert np.array_equal(images * 16, reference.images) and np.array_equal(labels, reference.target)


def test_download_without_the_network_is_one_line_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets

    from cbam_bench.data.load import download

    def offline(**kwargs: object) -> None:
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataError) as info:
        download(TrainSpec(dataset="cifar10", data_dir=str(tmp_path)))
    assert str(info.value) == (
        "--download: could not fetch cifar10 (OSError: [Errno 101] Network is unreachable); extract the python "
        f"version (cifar-10-batches-py/, from https://www.cs.toronto.edu/~kriz/cifar.html) into {tmp_path} (--data-dir)"
    )
    _write_fake_cifar(tmp_path)
    download(TrainSpec(dataset="cifar10", data_dir=str(tmp_path)))  # already there: nothing to fetch
