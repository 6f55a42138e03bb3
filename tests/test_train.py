"""The trainer: its schedule, what it decays, that it learns, that it is reproducible, and how it fails."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cbam_bench import train as train_module
from cbam_bench.data.load import load_data
from cbam_bench.device import resolve_device
from cbam_bench.divergence import EXPLODED_FACTOR, exploded_above
from cbam_bench.errors import SpecError
from cbam_bench.models.build import build_model
from cbam_bench.schedule import lr_factor, param_groups, warmup_steps
from cbam_bench.spec import ArchSpec, AttentionSpec
from cbam_bench.train import EpochReport, TrainingError, evaluate, train
from cbam_bench.train_spec import TrainSpec

TINY = dict(image_size=16, train_images=256, val_images=128, batch_size=32, device="cpu")
ARCH = ArchSpec("cifar_resnet20", width=0.5, attention=AttentionSpec(kind="cbam", reduction=4))


def test_warmup_never_takes_more_than_a_third_of_the_run() -> None:
    assert warmup_steps(TrainSpec(epochs=3, warmup_epochs=1.0), 50) == 50  # the default recipe: uncapped
    assert warmup_steps(TrainSpec(epochs=1, warmup_epochs=1.0), 50) == 16  # one epoch: a third of it
    assert warmup_steps(TrainSpec(epochs=10, warmup_epochs=0.5), 50) == 25
    assert warmup_steps(TrainSpec(epochs=2, warmup_epochs=0.0), 50) == 0


def test_warmup_then_cosine_by_hand() -> None:
    # 4 warm-up steps of 20: 1/5, 2/5, ... then the cosine from 1 down to 0.
    assert [lr_factor(s, 20, 4, "cosine") for s in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert lr_factor(4, 20, 4, "cosine") == 1.0
    assert lr_factor(12, 20, 4, "cosine") == pytest.approx(0.5)  # half-way through the decay
    assert lr_factor(20, 20, 4, "cosine") == pytest.approx(0.0)
    assert lr_factor(0, 10, 0, "cosine") == 1.0


def test_onecycle_rises_to_the_peak_at_30_percent_then_falls() -> None:
    total = 100
    assert lr_factor(0, total, 0, "onecycle") == pytest.approx(1 / 25)
    assert lr_factor(30, total, 0, "onecycle") == pytest.approx(1.0)
    assert lr_factor(15, total, 0, "onecycle") == pytest.approx((1 / 25 + 1) / 2)
    assert lr_factor(total, total, 0, "onecycle") == pytest.approx(1 / 25 / 1e4)


def test_weight_decay_skips_biases_and_norms() -> None:
    model = build_model(ARCH)
    decay, plain = param_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and plain["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in plain["params"])
    spatial_bn = model.layer1[0].attention.spatial.bn.weight
    assert any(p is spatial_bn for p in plain["params"])
    assert len(decay["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_a_few_epochs_lower_the_loss_and_beat_chance() -> None:
    spec = TrainSpec(**TINY, epochs=3, lr=0.1, seed=0)
    seen: list[EpochReport] = []
    result = train(ARCH, spec, on_epoch=seen.append)
    assert [r.epoch for r in seen] == [1, 2, 3] and seen == result.history
    assert result.history[-1].train_loss < result.history[0].train_loss < math.log(10) + 0.3
    assert result.accuracy == result.history[-1].val_accuracy and 0 <= result.accuracy <= result.top5 <= 1
    assert result.test_accuracy is not None and result.test_top5 is not None
    assert (result.arch.in_channels, result.arch.input_size, result.arch.num_classes) == (1, 16, 10)
    assert len(result.epoch_seconds) == 3 and all(s > 0 for s in result.epoch_seconds)
    assert result.images_per_s > 0 and result.wall_s >= sum(result.epoch_seconds)
    assert result.extras["steps_per_epoch"] == 256 // 32
    doc = result.to_dict()
    assert doc["arch"]["attention"]["kind"] == "cbam" and doc["history"][0]["epoch"] == 1


def test_same_seed_same_result_on_the_cpu_and_another_seed_differs() -> None:
    spec = TrainSpec(**TINY, epochs=2, seed=7)
    a, b = train(ARCH, spec), train(ARCH, spec)
    assert a.accuracy == b.accuracy and a.loss == b.loss
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]
    c = train(ARCH, TrainSpec(**TINY, epochs=2, seed=8))
    assert [r.train_loss for r in c.history] != [r.train_loss for r in a.history]


def test_training_leaves_the_callers_random_state_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(ARCH, TrainSpec(**TINY, epochs=1))
    assert torch.equal(torch.rand(3), expected)


def test_a_diverging_loss_stops_with_where_and_what_to_try(monkeypatch: pytest.MonkeyPatch) -> None:
    class Poisoned(nn.Module):
        """A classifier whose output becomes nan from the third step on."""

        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner, self.calls = inner, 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            out = self.inner(x)
            return out * float("nan") if self.calls >= 3 and self.training else out

    real = train_module.build_model
    monkeypatch.setattr(train_module, "build_model", lambda arch: Poisoned(real(arch)))
    with pytest.raises(
        TrainingError, match=r"loss became nan at epoch 1, step 3 of 8 \(lr [0-9.e-]+\); .*try a lower --lr than 0.1"
    ):
        train(ARCH, TrainSpec(**TINY, epochs=2, lr=0.1))


def test_a_huge_learning_rate_diverges_into_a_training_error() -> None:
    with pytest.raises(TrainingError, match="loss became (nan|inf)"):
        train(ArchSpec("cifar_resnet20", width=0.5), TrainSpec(**TINY, epochs=3, lr=1e12, warmup_epochs=0))


def test_an_exploded_loss_is_ten_times_a_uniform_guess() -> None:
    assert EXPLODED_FACTOR == 10
    assert exploded_above(10) == pytest.approx(10 * 2.302585, rel=1e-6)  # 23.03 nats for 10 classes
    assert exploded_above(1000) == pytest.approx(10 * 6.907755, rel=1e-6)
    assert exploded_above(1) == exploded_above(2) == pytest.approx(6.931472, rel=1e-6)


def test_a_finite_but_exploded_training_loss_is_a_divergence() -> None:
    # lr 1e6: every step's loss stays finite (about 7e17), so only the epoch's rule catches it.
    seen: list[EpochReport] = []
    with pytest.raises(
        TrainingError, match=r"^training loss exploded to [0-9.e+]+ in epoch 1 \(more than 10 x ln\(10 classes\) = 23,"
    ):
        train(
            ArchSpec("cifar_resnet20", width=0.5),
            TrainSpec(**TINY | {"batch_size": 64}, epochs=1, lr=1e6),
            on_epoch=seen.append,
        )
    assert seen == []  # a diverged epoch is never reported as progress


class Spoiled(nn.Module):
    """A network that trains normally but whose weights or evaluation go bad, as a diverged one's would."""

    def __init__(self, inner: nn.Module, how: str) -> None:
        super().__init__()
        self.inner, self.how = inner, how
        self.register_buffer("spoiled", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if self.training and self.how == "weights":
            self.spoiled.fill_(float("inf"))  # a buffer, like batch norm's running variance
        if not self.training and self.how == "evaluation":
            return out * float("inf")
        return out


@pytest.mark.parametrize(
    "how, message",
    [
        (
            "weights",
            r"^weights became nan or inf in epoch 1 \(1 of {total} tensors, the first spoiled\); the network diverged",
        ),
        ("evaluation", r"^validation loss became nan after epoch 1; the network diverged"),
    ],
)
def test_non_finite_weights_or_validation_loss_are_a_divergence(
    monkeypatch: pytest.MonkeyPatch, how: str, message: str
) -> None:
    real = train_module.build_model
    monkeypatch.setattr(train_module, "build_model", lambda arch: Spoiled(real(arch), how))
    total = sum(1 for t in Spoiled(real(ARCH), how).state_dict().values() if t.is_floating_point())
    with pytest.raises(TrainingError, match=message.format(total=total)):
        train(ARCH, TrainSpec(**TINY, epochs=2))


def test_the_callback_can_stop_training_with_its_own_exception() -> None:
    class Stop(Exception):
        pass

    def stop_after_first(report: EpochReport) -> None:
        raise Stop(report.epoch)

    with pytest.raises(Stop) as info:
        train(ARCH, TrainSpec(**TINY, epochs=5), on_epoch=stop_after_first)
    assert info.value.args == (1,)


def test_evaluate_counts_top1_and_top5_by_hand() -> None:
    data = load_data(TrainSpec(**TINY), "cpu")

    class Fixed(nn.Module):
        """Ranks class (label + shift) % 10 first, then the others in order, ignoring the image."""

        def __init__(self, labels: torch.Tensor, shift: int) -> None:
            super().__init__()
            self.labels, self.shift, self.seen = labels, shift, 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.labels[self.seen : self.seen + len(x)]
            self.seen += len(x)
            logits = -torch.arange(10.0).repeat(len(x), 1)
            logits[torch.arange(len(x)), (y + self.shift) % 10] = 1.0
            return logits

    right = evaluate(Fixed(data.val.labels, 0), data, data.val)
    assert (right.top1, right.top5) == (1.0, 1.0)
    wrong = evaluate(Fixed(data.val.labels, 1), data, data.val)
    # The favourite is always wrong, so top-1 is 0. The next four are the lowest class indices
    # other than the favourite, which hold the true class exactly when it is 0, 1, 2 or 3.
    expected_top5 = sum(1 for y in data.val.labels.tolist() if y <= 3) / len(data.val)
    assert wrong.top1 == 0.0 and wrong.top5 == pytest.approx(expected_top5)


def test_asking_for_cuda_without_a_gpu_is_bad_input() -> None:
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(SpecError, match="train.device: 'cuda' is not available here"):
            resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"
