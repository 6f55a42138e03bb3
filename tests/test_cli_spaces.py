"""`cbam-bench spaces`: list / show / validate, their JSON, and exit 2 with a message for any bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cbam_bench.cli.app import app
from cbam_bench.models.catalog import BACKBONES
from cbam_bench.space import (
    PARAM_FIELDS,
    SAMPLERS,
    SPACES_DIR,
    count_candidates,
    default_trials,
    load_space,
    space_names,
)
from cbam_bench.trial_attrs import BUDGET_METRICS

runner = CliRunner()
VALID = {
    "backbone": "cifar_resnet20",
    "objectives": ["accuracy:max", "macs:min"],
    "budgets": {"latency_ms": 5.0},
    "train": {"epochs": 2},
    "params": {"attention.kind": ["none", "se", "cbam"], "spatial.kernel": [3, 7], "placement.stages": ["all", [3]]},
}


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120"})


def test_list_json_has_every_shipped_space() -> None:
    result = invoke("spaces", "list", "--json")
    assert result.exit_code == 0, result.output
    spaces = json.loads(result.stdout)
    assert [s["name"] for s in spaces] == space_names()
    default = next(s for s in spaces if s["name"] == "default")
    assert default["backbone"] == "cifar_resnet20" and default["dataset"] == "digits-clutter"
    assert default["candidates"] >= default["trials"] >= 1


def test_list_table_names_the_folder() -> None:
    result = invoke("spaces", "list")
    assert result.exit_code == 0 and "paper-arrangement" in result.stdout and str(SPACES_DIR) in result.stdout


def test_list_table_fits_80_columns_and_counts_trials_of_candidates() -> None:
    result = runner.invoke(app, ["spaces", "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    default = load_space(SPACES_DIR / "default.yaml")
    assert f"{default_trials(default)} of {count_candidates(default)}" in result.stdout


def test_show_json_lists_parameters_and_variants() -> None:
    doc = json.loads(invoke("spaces", "show", "paper-channel", "--json").stdout)
    assert doc["sampler"] == "grid" and doc["candidates"] == 4 and doc["seeds"] == 3
    assert doc["params"] == {"attention.variant": list(doc["variants"])}
    assert doc["variants"]["cbam order=channel-only pooling=max"] == {
        "kind": "cbam",
        "order": "channel-only",
        "pooling": ["max"],
    }


def test_show_table_says_when_each_parameter_is_sampled() -> None:
    result = invoke("spaces", "show", "default")
    assert result.exit_code == 0
    assert "spatial.kernel" in result.stdout and "kind is cbam with a spatial gate" in result.stdout


def test_show_names_the_early_stop_rule_and_its_signal(tmp_path: Path) -> None:
    path = tmp_path / "loss.yaml"
    path.write_text(yaml.safe_dump({**VALID, "early_stop": {"warmup_epochs": 2, "signal": "loss"}}))
    shown = invoke("spaces", "show", str(path))
    assert shown.exit_code == 0, shown.output
    assert "median rule on loss after epoch 2, once 4 trials reached it" in shown.stdout
    doc = json.loads(invoke("spaces", "show", str(path), "--json").stdout)
    assert doc["early_stop"] == {"warmup_epochs": 2, "min_trials": 4, "margin": 0.0, "signal": "loss"}


def test_show_states_the_margin_and_wraps_a_long_setting_under_itself(tmp_path: Path) -> None:
    path = tmp_path / "margin.yaml"
    path.write_text(yaml.safe_dump({**VALID, "early_stop": {"warmup_epochs": 4, "min_trials": 3, "margin": 0.05}}))
    shown = runner.invoke(app, ["spaces", "show", str(path)], env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  early stop"))
    value = lines[start][len("  early stop") :].strip()
    rest = []
    for line in lines[start + 1 :]:
        if line[:14].strip():  # the next key
            break
        rest.append(line.strip())
    assert " ".join([value, *rest]).endswith("stopping only past the median by more than 0.05")
    assert rest and all(len(line) <= 80 for line in lines[start : start + 1 + len(rest)])


def test_validate_valid_file_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(VALID))
    result = invoke("spaces", "validate", str(path), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["valid"] is True and doc["name"] == "ok" and doc["candidates"] == 1 + 1 * 2 + 2 * 2


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("backbone: resnet19\nobjectives: [acuracy]\nparams: {attention.kind: [cbam]}\n")
    result = invoke("spaces", "validate", str(path))
    assert result.exit_code == 2 and result.stdout == ""
    assert f"error: {path}: backbone: 'resnet19' is not allowed (did you mean" in result.stderr
    assert f"{path}: objectives: 'acuracy' is not allowed (did you mean 'accuracy'?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("spaces", "validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "no such file" in result.stderr


def _assert_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content)
    result = invoke("spaces", "validate", str(path))
    assert result.exit_code == 2, (content, result.output)
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
TOP_KEYS = list(VALID) + [
    "name",
    "sampler",
    "seed",
    "trials",
    "seeds",
    "early_stop",
    "latency",
    "description",
    "dataset",
]


texts = st.text(max_size=12)
numbers = st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=True))
non_mappings = st.one_of(texts, numbers, st.lists(scalars, min_size=1, max_size=3))
# For each top-level key, values that can never be valid there.
WRONG = {
    "backbone": st.one_of(numbers, st.lists(texts, max_size=2), texts.filter(lambda t: t not in BACKBONES)),
    "objectives": st.one_of(texts, numbers, st.just([]), st.lists(numbers, min_size=1, max_size=2)),
    "budgets": st.one_of(
        texts,
        numbers,
        st.lists(scalars, min_size=1, max_size=2),
        st.dictionaries(texts.filter(lambda t: t not in BUDGET_METRICS), scalars, min_size=1, max_size=2),
    ),
    "train": non_mappings,
    "params": st.one_of(non_mappings, st.just({})),
    "sampler": st.one_of(numbers, texts.filter(lambda t: t not in SAMPLERS)),
    "trials": st.one_of(st.integers(-5, 0), st.floats(), texts),
    "seeds": st.one_of(st.integers(-5, 0), st.floats(), texts),
}


@st.composite
def malformed(draw: st.DrawFn) -> dict:
    """A valid space with one thing made wrong: a key dropped, a stray key, or a value of the wrong kind."""
    doc = json.loads(json.dumps(VALID))
    how = draw(st.sampled_from(["drop", "stray", "top-value", "param-value", "param-junk"]))
    if how == "drop":
        del doc[draw(st.sampled_from(["backbone", "objectives", "params"]))]
    elif how == "stray":
        doc[draw(texts.filter(lambda k: k not in TOP_KEYS))] = draw(values)
    elif how == "top-value":
        key = draw(st.sampled_from(sorted(WRONG)))
        doc[key] = draw(WRONG[key])
    elif how == "param-value":
        key = draw(st.sampled_from(sorted(PARAM_FIELDS)))
        doc["params"][key] = draw(st.sampled_from([[], [{"x": 1}], ["nonsense-value"], [-3], [[]]]))
    else:
        doc["params"][draw(texts.filter(lambda k: k not in PARAM_FIELDS))] = draw(values)
    return doc


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=malformed())
def test_malformed_files_exit_2_with_a_message(tmp_path: Path, doc: dict) -> None:
    _assert_rejected(tmp_path, yaml.safe_dump(doc, allow_unicode=True).encode())


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=80), st.text(max_size=80).map(str.encode)))
def test_arbitrary_bytes_never_crash_the_validator(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content)
    result = invoke("spaces", "validate", str(path))
    # Random bytes are never a complete space (backbone, objectives and params are required).
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr, (
        result.output
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(st.sampled_from(TOP_KEYS), values, max_size=8))
def test_random_documents_are_valid_or_rejected_cleanly(tmp_path: Path, doc: dict) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    result = invoke("spaces", "validate", str(path))
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ")


def test_show_names_each_offered_kind_with_its_registry_summary() -> None:
    doc = json.loads(invoke("spaces", "show", "modules", "--json").stdout)
    assert list(doc["kinds"]) == ["none", "se", "cbam", "bam", "coord"]
    assert doc["kinds"]["bam"] == "BAM: channel MLP and dilated spatial branch"
    # none 1; se, cbam, coord: 3 reductions x 2 positions each; bam: x 2 combines
    assert doc["candidates"] == 1 + 3 * 6 + 12 == 31
