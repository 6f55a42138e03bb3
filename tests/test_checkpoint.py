"""--save files: one file, loadable with weights_only=True, that rebuilds the same network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from cbam_bench.checkpoint import FORMAT, VERSION, load_checkpoint, save_checkpoint
from cbam_bench.errors import SpecError
from cbam_bench.models.build import build_model
from cbam_bench.spec import ArchSpec, AttentionSpec, PlacementSpec
from cbam_bench.train_spec import TrainSpec

ARCH = ArchSpec(
    "cifar_resnet20",
    width=0.5,
    in_channels=1,
    input_size=16,
    attention=AttentionSpec(kind="cbam", reduction=4, kernel=3, order="parallel"),
    placement=PlacementSpec(stages=(2, 3), position="post-add"),
)


def test_round_trip_rebuilds_the_same_network(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = build_model(ARCH).eval()
    with torch.no_grad():  # weights no fresh network has, so a rebuild cannot pass by chance
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    spec = TrainSpec(epochs=2, lr=0.05, seed=3, image_size=16)
    path = tmp_path / "net.pt"
    save_checkpoint(path, model, ARCH, spec, metrics={"accuracy": 0.9})
    raw = torch.load(path, weights_only=True)
    assert raw["metrics"] == {"accuracy": 0.9} and raw["arch"]["attention"]["order"] == "parallel"
    loaded, arch, train_spec = load_checkpoint(path)
    assert arch == ARCH and arch.archid == ARCH.archid and train_spec == spec
    x = torch.randn(4, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert not loaded.training
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]  # no temporary file left behind


def test_not_a_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pt"
    torch.save(build_model(ARCH).state_dict(), plain)
    with pytest.raises(
        SpecError, match=r"plain.pt: not a cbam-bench checkpoint \(written by `cbam-bench train --save`\)"
    ):
        load_checkpoint(plain)
    with pytest.raises(SpecError, match="missing.pt: no such file"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(SpecError, match="junk.pt: not loadable"):
        load_checkpoint(junk)


class _RunsCode:
    """Unpickling this calls os.mkdir: what a malicious checkpoint would do with a worse function."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


def _payload(state: dict) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": ARCH.to_dict(),
        "train": TrainSpec().to_dict(),
        "state_dict": state,
        "metrics": {},
    }


def test_a_checkpoint_holding_executable_objects_is_refused_in_one_line(tmp_path: Path) -> None:
    path, marker = tmp_path / "evil.pt", tmp_path / "ran"
    torch.save({**_payload(build_model(ARCH).state_dict()), "metrics": {"note": _RunsCode(marker)}}, path)
    with pytest.raises(SpecError) as info:
        load_checkpoint(path)
    assert str(info.value) == (
        f"checkpoint {path}: not a weights-only checkpoint: it holds executable objects ({os.mkdir.__module__}.mkdir); refused"
    )
    assert not marker.exists()
    # torch's own explanation stays attached for --debug's traceback.
    assert "Weights only load failed" in str(info.value.__cause__)


def test_a_state_dict_value_that_is_not_a_tensor_names_the_first_such_key(tmp_path: Path) -> None:
    state = build_model(ARCH).state_dict()
    keys = list(state)
    state[keys[3]], state[keys[5]] = 3, "zeros"
    path = tmp_path / "odd.pt"
    torch.save(_payload(state), path)
    with pytest.raises(SpecError) as info:
        load_checkpoint(path)
    assert str(info.value) == (
        f"checkpoint {path}: state_dict: {keys[3]!r} is of type int, not a tensor; "
        "allowed: a state_dict mapping parameter names to tensors"
    )
    torch.save({**_payload({}), "state_dict": [1, 2]}, path)
    with pytest.raises(SpecError, match=r"odd.pt: state_dict: missing or not a mapping of names to tensors$"):
        load_checkpoint(path)
