"""Bad input across every command, as a hostile user would type it.

Each case must end the same way: exit code 2, exactly one line on stderr that starts with
"error:" and names the culprit (the option, file or key), no traceback, no password anywhere in the
output, and not one file created, changed or removed in the working folder (the study database's
bytes included). The folder holds a real study, a valid and several broken space files, weights
files good and bad, and a stand-in trainer, so nothing here trains for real.
"""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from synthetic_studies import MIXED, make_study

from cbam_bench.cli.app import main

SECRET = "hunter2-Corpus"
GOOD_SPACE = """
backbone: cifar_resnet20
objectives: [accuracy:max, macs:min]
sampler: grid
latency: {warmup: 0, repeats: 2}
train: {epochs: 1}
params:
  attention.kind: [none, se]
"""
SPACES = {
    "good.yaml": GOOD_SPACE,
    "broken.yaml": "backbone: [unclosed\n",
    "unknown-key.yaml": GOOD_SPACE + "colour: blue\n",
    "nan-lr.yaml": GOOD_SPACE.replace("train: {epochs: 1}", "train: {epochs: 1, lr: .nan}"),
    "inf-lr.yaml": GOOD_SPACE.replace("train: {epochs: 1}", "train: {epochs: 1, lr: .inf}"),
    "huge-trials.yaml": GOOD_SPACE + "trials: 1000000000000000000000000000000\n",
    "bad-kind.yaml": GOOD_SPACE.replace("[none, se]", "[none, sse]"),
    "cuda.yaml": GOOD_SPACE.replace("train: {epochs: 1}", "train: {epochs: 1, device: cuda}"),
}


class Harmless:
    """A pickle that would run code when loaded without weights_only (it only prints)."""

    def __reduce__(self):  # noqa: ANN204 - pickle's protocol
        return (print, ("this must never run",))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    (root / "results").mkdir()
    make_study(MIXED, storage=f"sqlite:///{root / 'results' / 'cbam-bench.db'}", name="mixed")
    for name, text in SPACES.items():
        (root / name).write_text(text)
    (root / "notes.txt").write_text("not a checkpoint\n")
    (root / "old.json").write_text('{"keep": true}\n')
    (root / "a-folder").mkdir()
    torch.save({"conv1.weight": Harmless()}, root / "malicious.pt")
    (root / "raw-pickle.pt").write_bytes(pickle.dumps(Harmless()))
    torch.save({"conv1.weight": "not a tensor", "fc.bias": torch.zeros(2)}, root / "strings.pt")
    torch.save([torch.zeros(1)], root / "list.pt")
    one_class = root / "one-class"
    for split in ("train", "val"):
        (one_class / split / "cat").mkdir(parents=True)
        for i in range(8):
            shutil.copyfile(_png(root), one_class / split / "cat" / f"{i}.png")
    (root / "tiny.png").unlink()
    return root


def _png(root: Path) -> Path:
    from PIL import Image

    path = root / "tiny.png"
    if not path.exists():
        Image.new("RGB", (8, 8), (200, 10, 10)).save(path)
    return path


def _files(root: Path) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root) + "/"] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = Path(path).read_bytes()
    return out


DB = "sqlite:///results/cbam-bench.db"
PG = f"postgresql://cbam:{SECRET}@127.0.0.1:1/cbam"
# (command line, what the one line must name)
CASES: list[tuple[list[str], list[str]]] = [
    # search
    (["search", "no-such-space"], ["no-such-space"]),
    (["search", "missing.yaml"], ["missing.yaml"]),
    (["search", "broken.yaml"], ["broken.yaml"]),
    (["search", "unknown-key.yaml"], ["unknown-key.yaml", "colour"]),
    (["search", "bad-kind.yaml"], ["bad-kind.yaml", "sse"]),
    (["search", "nan-lr.yaml"], ["nan-lr.yaml", "lr"]),
    (["search", "inf-lr.yaml"], ["inf-lr.yaml", "lr"]),
    (["search", "huge-trials.yaml"], ["huge-trials.yaml", "trials"]),
    (["search", "cuda.yaml"], ["cuda.yaml", "device"]),
    (["search", "good.yaml", "--trials", "-1"], ["--trials", "-1"]),
    (["search", "good.yaml", "--trials", "0"], ["--trials", "0"]),
    (["search", "good.yaml", "--trials", "abc"], ["--trials", "integer"]),
    (["search", "good.yaml", "--trials", str(10**30)], ["--trials"]),
    (["search", "good.yaml", "--epochs", "0"], ["--epochs", "0"]),
    (["search", "good.yaml", "--seeds", "0"], ["--seeds", "0"]),
    (["search", "good.yaml", "--heartbeat", "0"], ["--heartbeat", "0"]),
    (["search", "good.yaml", "--sampler", "anneal"], ["--sampler", "anneal"]),
    (["search", "good.yaml", "--study", ""], ["--study"]),
    (["search", "good.yaml", "--study", "a/b\nc"], ["--study"]),
    (["search", "good.yaml", "--study", "x:1"], ["--study", "x:1"]),
    (["search", "good.yaml", "--device", "cuda"], ["--device", "cuda"]),
    (["search", "good.yaml", "--device", "tpu"], ["--device", "tpu"]),
    (["search", "good.yaml", "--storage", PG], ["--storage", "127.0.0.1:1"]),
    (["search", "good.yaml", "--storage", f"mysql://u:{SECRET}@h/db"], ["--storage", "mysql"]),
    (["search", "good.yaml", "--storage", "results.db"], ["--storage", "results.db"]),
    (["search", "good.yaml", "--storage", "sqlite:///notes.txt"], ["--storage", "notes.txt"]),
    (["search", "good.yaml", "--storage", "sqlite:///a-folder"], ["--storage", "a-folder", "folder"]),
    (["search", "good.yaml", "--no-such-option"], ["--no-such-option"]),
    # profile
    (["profile", "resnet9"], ["MODEL", "resnet9"]),
    (["profile", "resnet18", "--attention", "cbma"], ["--attention", "cbma"]),
    (["profile", "resnet18", "-a", "cbam", "--reduction", "0"], ["--reduction", "0"]),
    (["profile", "resnet18", "-a", "cbam", "--reduction", "x"], ["--reduction", "integer"]),
    (["profile", "resnet18", "-a", "cbam", "--min-hidden", "0"], ["--min-hidden", "0"]),
    (["profile", "resnet18", "-a", "cbam", "--kernel", "4"], ["--kernel", "4"]),
    (["profile", "resnet18", "-a", "cbam", "--pooling", "avg,median"], ["--pooling", "median"]),
    (["profile", "resnet18", "-a", "cbam", "--descriptor", "sum"], ["--descriptor", "sum"]),
    (["profile", "resnet18", "-a", "cbam", "--order", "sideways"], ["--order", "sideways"]),
    (["profile", "resnet18", "-a", "cbam", "--stages", "9"], ["--stages", "9"]),
    (["profile", "resnet18", "-a", "cbam", "--stages", "a,b"], ["--stages", "a,b"]),
    (["profile", "resnet18", "-a", "cbam", "--blocks", "every-0"], ["--blocks", "every-0"]),
    (["profile", "resnet18", "-a", "cbam", "--position", "inside"], ["--position", "inside"]),
    (["profile", "resnet18", "--width", "-1"], ["--width", "-1"]),
    (["profile", "resnet18", "--width", "nan"], ["--width", "nan"]),
    (["profile", "resnet50", "--stride-on", "2x2"], ["--stride-on", "2x2"]),
    (["profile", "resnet18", "--input-size", "0"], ["--input-size", "0"]),
    (["profile", "resnet18", "--num-classes", "0"], ["--num-classes", "0"]),
    (["profile", "resnet18", "--by", "layer"], ["--by", "layer"]),
    (["profile", "resnet18", "--reference", "mine"], ["--reference", "mine"]),
    (["profile", "resnet18", "--weights", "missing.pt"], ["--weights", "missing.pt"]),
    (["profile", "resnet18", "--weights", "notes.txt"], ["--weights", "notes.txt"]),
    (
        ["profile", "resnet18", "--weights", "malicious.pt"],
        ["--weights", "malicious.pt", "executable objects", "refused"],
    ),
    (["profile", "resnet18", "--weights", "raw-pickle.pt"], ["--weights", "raw-pickle.pt", "not loadable"]),
    (["profile", "resnet18", "--weights", "strings.pt"], ["--weights", "strings.pt", "conv1.weight"]),
    (["profile", "resnet18", "--weights", "list.pt"], ["--weights", "list.pt"]),
    # train
    (["train", "resnet9"], ["MODEL", "resnet9"]),
    (["train", "cifar_resnet20", "--lr", "nan"], ["--lr", "nan"]),
    (["train", "cifar_resnet20", "--lr", "inf"], ["--lr", "inf"]),
    (["train", "cifar_resnet20", "--lr", "-0.1"], ["--lr", "-0.1"]),
    (["train", "cifar_resnet20", "--epochs", "0"], ["--epochs", "0"]),
    (["train", "cifar_resnet20", "--batch-size", "0"], ["--batch-size", "0"]),
    (["train", "cifar_resnet20", "--train-images", "1"], ["--train-images", "1"]),
    (["train", "cifar_resnet20", "--image-size", "0"], ["--image-size", "0"]),
    (["train", "cifar_resnet20", "--device", "tpu"], ["--device", "tpu"]),
    (["train", "cifar_resnet20", "--device", "cuda"], ["--device", "cuda"]),
    (["train", "cifar_resnet20", "--dataset", "mnist"], ["--dataset", "mnist"]),
    (["train", "cifar_resnet20", "--dataset", "imagefolder:nowhere"], ["imagefolder:nowhere", "not a folder"]),
    (["train", "cifar_resnet20", "--dataset", "imagefolder:one-class"], ["one-class", "class"]),
    (["train", "cifar_resnet20", "--dataset", "cifar10", "--data-dir", "a-folder"], ["cifar10"]),
    (["train", "cifar_resnet20", "--save", "notes.txt/model.pt"], ["--save", "notes.txt", "not a folder"]),
    (["train", "cifar_resnet20", "--save", "a-folder"], ["--save", "a-folder"]),
    (["train", "cifar_resnet20", "--save", "results/cbam-bench.db"], ["--save", "cbam-bench.db"]),
    (["train", "cifar_resnet20", "--save", "old.json"], ["--save", "old.json", "--force"]),
    (["train", "cifar_resnet20", "--weights", "strings.pt"], ["--weights", "strings.pt", "conv1.weight"]),
    (["train", "--from-trial", "mixed"], ["--from-trial", "mixed"]),
    (["train", "--from-trial", "mixed:99"], ["--from-trial", "99"]),
    (["train", "--from-trial", "nosuch:0"], ["nosuch"]),
    (["train", "--from-trial", "mixed:-1"], ["--from-trial", "mixed:-1"]),
    (["train", "--from-trial", "mixed:1", "--storage", PG], ["--storage"]),
    (["train", "cifar_resnet20", "--lr", "fast"], ["--lr", "number"]),
    # report
    (["report", "nosuch"], ["nosuch"]),
    (["report", "mixd"], ["mixd", "mixed"]),
    (["report", "mixed", "--budget", "macs"], ["--budget", "macs"]),
    (["report", "mixed", "--budget", "speed=1"], ["--budget", "speed"]),
    (["report", "mixed", "--budget", "macs=lots"], ["--budget", "lots"]),
    (["report", "mixed", "--ref", "colour=1"], ["--ref", "colour"]),
    (["report", "mixed", "--plot", "front.txt"], ["--plot", "front.txt"]),
    (["report", "mixed", "--plot", "nowhere/front.png"], ["--plot", "nowhere"]),
    (["report", "mixed", "--plot", "a-folder"], ["--plot", "a-folder"]),
    (["report", "mixed", "--storage", PG], ["--storage"]),
    (["report", "mixed", "--storage", "sqlite:///notes.txt"], ["--storage", "notes.txt"]),
    # compare
    (["compare", "nosuch"], ["nosuch"]),
    (["compare", "mixed:99"], ["99"]),
    (["compare", "mixed", "--baseline", "mixed"], ["--baseline", "mixed"]),
    (["compare", "mixed", "--baseline", "mixed:6"], ["--baseline", "mixed:6"]),
    (["compare", "mixed", "--storage", PG], ["--storage"]),
    # export
    (["export", "mixed", "--format", "xlsx", "--out", "x.xlsx"], ["--format", "xlsx"]),
    (["export", "mixed", "--format", "csv"], ["--out"]),
    (["export", "mixed", "--out", "results/cbam-bench.db"], ["--out", "cbam-bench.db", "study database"]),
    (["export", "mixed", "--out", "results/cbam-bench.db", "--force"], ["--out", "study database"]),
    (["export", "mixed", "--out", "a-folder"], ["--out", "a-folder"]),
    (["export", "mixed", "--out", "nowhere/x.csv"], ["--out", "nowhere"]),
    (["export", "mixed", "--out", "old.json"], ["--out", "old.json", "--force"]),
    (["export", "nosuch", "--out", "x.csv"], ["nosuch"]),
    (["export", "mixed", "--out", "x.csv", "--storage", PG], ["--storage"]),
    # ablate
    (["ablate", "everything"], ["everything"]),
    (["ablate", "channel", "--backbone", "resnet9"], ["--backbone", "resnet9"]),
    (["ablate", "channel", "--dataset", "mnist"], ["--dataset", "mnist"]),
    (["ablate", "channel", "--epochs", "0"], ["--epochs", "0"]),
    (["ablate", "channel", "--seeds", "0"], ["--seeds", "0"]),
    (["ablate", "channel", "--device", "cuda"], ["--device", "cuda"]),
    (["ablate", "channel", "--storage", PG], ["--storage"]),
    (["search", "good.yaml", "--keep-weights", "some"], ["--keep-weights", "some"]),
    (["train", "cifar_resnet20", "--weights-from-trial"], ["--weights-from-trial", "--from-trial"]),
    (["inspect", "mixed:0"], ["mixed:0", "stored no weights"]),
    (["inspect", "mixed:99"], ["mixed:99", "no trial 99"]),
    # inspect
    (["inspect", "missing.pt"], ["missing.pt", "no such file"]),
    (["inspect", "notes.txt"], ["notes.txt", "not loadable"]),
    (["inspect", "malicious.pt"], ["malicious.pt", "executable"]),
    (["inspect", "raw-pickle.pt"], ["raw-pickle.pt"]),
    (["inspect", "list.pt"], ["list.pt", "not a cbam-bench checkpoint"]),
    (["inspect", "a-folder"], ["a-folder", "folder"]),
    (["inspect", "missing.pt", "--out", "old.json"], ["--out", "old.json", ".png"]),
    (["inspect", "missing.pt", "--out", "nowhere/grid.png"], ["--out", "nowhere"]),
    (["inspect", "missing.pt", "--index", "a,b"], ["--index", "a,b"]),
    (["inspect", "missing.pt", "--index", "1", "--images", "2"], ["--index", "--images"]),
    # spaces
    (["spaces", "show", "no-such-space"], ["no-such-space"]),
    (["spaces", "validate", "missing.yaml"], ["missing.yaml"]),
    (["spaces", "validate", "broken.yaml"], ["broken.yaml"]),
    (["spaces", "validate", "nan-lr.yaml"], ["nan-lr.yaml", "lr"]),
    (["spaces", "validate", "huge-trials.yaml"], ["huge-trials.yaml", "trials"]),
    (["spaces", "validate", "bad-kind.yaml"], ["bad-kind.yaml", "sse"]),
    (["spaces", "nothing"], ["nothing"]),
]


def _id(case: tuple[list[str], list[str]]) -> str:
    return " ".join(case[0]).replace("\n", "\\n")[:80]


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    case: tuple[list[str], list[str]],
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, needles = case
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("CBAM_BENCH_TRAINER", "fake_training")
    before = _files(workspace)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be a second line on a user's stderr
        with pytest.raises(SystemExit) as exit_info:
            main(args)  # the console script, so Typer's own usage errors are covered too
    captured = capsys.readouterr()
    output = captured.out + captured.err
    lines = captured.err.strip().splitlines()
    assert exit_info.value.code == 2, output
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in output and SECRET not in output
    assert "this must never run" not in output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert _files(workspace) == before


def test_the_corpus_covers_every_command_eighty_times_over() -> None:
    commands = {args[0] for args, _ in CASES}
    assert commands == {"search", "profile", "train", "report", "compare", "export", "ablate", "inspect", "spaces"}
    assert len(CASES) >= 80
