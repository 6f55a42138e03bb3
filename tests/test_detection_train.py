"""train_detector is a function of its spec: one seed, one run, whatever the process's RNG holds."""

from __future__ import annotations

import torch

from cbam_bench.detection.contract import fit_arch
from cbam_bench.detection.recipe import DetectSpec
from cbam_bench.detection.train import load_for, train_detector
from cbam_bench.spec import ArchSpec, AttentionSpec

TINY = DetectSpec(image_size=32, train_images=8, val_images=4, epochs=1, batch_size=4, warmup_steps=1)


def test_one_seed_trains_the_same_detector_whatever_the_global_rng_holds() -> None:
    """The RPN and RoI heads sample from torch's global generator; train_detector seeds it from the
    spec, so two runs of one seed match to the bit and the caller's generator is left as it was."""
    device = torch.device("cpu")
    arch = fit_arch(ArchSpec("resnet18", width=0.25, attention=AttentionSpec(kind="cbam")), TINY)
    data = load_for(TINY, device)
    runs = []
    for outside in (1, 2):
        torch.manual_seed(outside)
        before = torch.random.get_rng_state()
        model, result = train_detector(arch, TINY, device=device, data=data)
        assert torch.equal(torch.random.get_rng_state(), before)
        runs.append((result.epoch_losses, [p.detach().clone() for p in model.parameters()]))
    (loss_a, weights_a), (loss_b, weights_b) = runs
    assert loss_a == loss_b
    assert all(torch.equal(a, b) for a, b in zip(weights_a, weights_b, strict=True))
