"""Detection batches: drawn on the data's device, each image with its own unflipped boxes, padding rows dropped."""

from __future__ import annotations

import torch

from cbam_bench.data.detection import load_detect_data
from cbam_bench.detection.train import detection_batches


def test_batches_pair_each_image_with_its_own_boxes_and_never_flip():
    data = load_detect_data(
        "digits-detect", image_size=32, train_images=12, val_images=2, seed=0, device=torch.device("cpu")
    )
    split = data.train
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(5))
    batches = list(detection_batches(split, 5, torch.Generator().manual_seed(5)))
    assert len(batches) == 2  # full batches only: 12 // 5
    for step, (images, targets) in enumerate(batches):
        for image, target, row in zip(images, targets, order[step * 5 : (step + 1) * 5]):
            assert torch.equal(image, split.images[row].float() / 255)  # the stored pixels, not mirrored
            real = split.labels[row] > 0
            assert torch.equal(target["boxes"], split.boxes[row][real]) and torch.equal(
                target["labels"], split.labels[row][real]
            )
            assert 1 <= len(target["labels"]) <= 4 and (target["labels"] >= 1).all()
