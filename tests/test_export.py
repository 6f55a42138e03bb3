"""Exports read back: CSV and JSON round trips, Markdown and LaTeX structure, and atomic writes."""

from __future__ import annotations

import csv
import json
import re

import pytest
from synthetic_studies import MIXED, Fake, make_study

from cbam_bench.files import write_atomic
from cbam_bench.records import StudyRecords, records_from_study
from cbam_bench.report import export as export_module
from cbam_bench.report.export import export
from cbam_bench.report.summary import StudySummary, summarize
from cbam_bench.spec import ArchSpec

FRONT_FIRST = [2, 1, 0, 3, 4, 5, 6]  # the front best first, then rank 2, then unranked by number


@pytest.fixture
def study() -> StudyRecords:
    return records_from_study(make_study(MIXED, name="cbam_ablation", budgets={"latency_ms": 5.0}))


@pytest.fixture
def summary(study) -> StudySummary:
    return summarize(study)


def test_csv_round_trip_keeps_every_parameter_and_measure(study, summary, tmp_path) -> None:
    out = export(summary, "csv", tmp_path / "s.csv")
    rows = list(csv.DictReader(out.open()))
    assert [int(r["trial"]) for r in rows] == FRONT_FIRST
    by_number = {int(r["trial"]): r for r in rows}
    for trial in study.trials:
        row = by_number[trial.number]
        assert row["status"] == trial.status
        assert row["param:attention.kind"] == trial.params["attention.kind"]
        assert row["param:channel.reduction"] == str(trial.params.get("channel.reduction", ""))
        for name in ("accuracy", "top5", "macs", "params", "latency_ms", "latency_p90_ms", "elementwise_ops"):
            stored = getattr(trial.attrs, name)
            assert (float(row[name]) if row[name] else None) == stored, (trial.number, name)
        assert ArchSpec.from_dict(json.loads(row["arch"])).archid == row["archid"] == trial.attrs.archid
    assert json.loads(by_number[2]["seed_accuracies"]) == [0.87, 0.88, 0.89]
    assert by_number[2]["on_front"] == "true" and by_number[3]["on_front"] == "false"
    assert by_number[3]["rank"] == "2" and by_number[5]["rank"] == ""
    assert by_number[6]["fail_reason"].startswith("TrainingError: loss became nan")
    assert by_number[4]["feasible"] == "false" and by_number[5]["feasible"] == ""


def test_json_export_is_standard_json_one_trial_a_line(tmp_path) -> None:
    # A pruned trial with a non-finite measure: the C encoder refuses it, so it goes through json_safe.
    fakes = [*MIXED, Fake(status="pruned", latency_ms=float("inf"))]
    text = export(summarize(records_from_study(make_study(fakes))), "json", tmp_path / "s.json").read_text()
    doc = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert doc["trials"][-1]["trial"] == 7 and doc["trials"][-1]["latency_ms"] is None
    lines = text.splitlines()
    start = lines.index('  "trials": [')
    assert [json.loads(line.rstrip(","))["trial"] for line in lines[start + 1 : -2]] == [*FRONT_FIRST, 7]
    assert lines[-2:] == ["  ]", "}"]


def test_json_export_of_an_empty_front(tmp_path) -> None:
    summary = summarize(records_from_study(make_study([Fake(status="fail")])))
    doc = json.loads(export(summary, "json", tmp_path / "s.json", front_only=True).read_text())
    assert doc["trials"] == [] and doc["counts"]["failed"] == 1


def test_json_round_trip(study, summary, tmp_path) -> None:
    doc = json.loads(export(summary, "json", tmp_path / "s.json").read_text())
    assert doc["study"] == "cbam_ablation"
    assert doc["objectives"] == ["accuracy:max", "macs:min", "latency_ms:min"]
    assert doc["budgets"] == {"latency_ms": 5.0}
    assert doc["counts"]["total"] == 7 and doc["knee"] == summary.knee.number
    assert [t["trial"] for t in doc["trials"]] == FRONT_FIRST
    for item in doc["trials"]:
        trial = study.trial(item["trial"])
        assert item["params_sampled"] == trial.params
        assert {k: item[k] for k in ("accuracy", "macs", "latency_ms", "constraints", "env")} == {
            k: getattr(trial.attrs, k) for k in ("accuracy", "macs", "latency_ms", "constraints", "env")
        }
    assert "multiply-adds of convolution and linear layers" in doc["conventions"]["macs"]
    assert doc["conventions"]["latency_ms"].endswith("not the training device; here: cpu, 1 thread, batch 1, float32")


def test_front_only_exports_the_front(summary, tmp_path) -> None:
    rows = list(csv.DictReader(export(summary, "csv", tmp_path / "f.csv", front_only=True).open()))
    assert [int(r["trial"]) for r in rows] == [2, 1, 0]


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_markdown_is_a_pipe_table_with_units_in_its_caption(summary, tmp_path) -> None:
    text = export(summary, "md", tmp_path / "s.md").read_text()
    lines = table_lines(text)
    header = cells(lines[0])
    assert header == [
        "Trial",
        "Attention",
        "Placement",
        "Acc. (%)",
        "Top-5 (%)",
        "Params (K)",
        "MACs (M)",
        "Elem. ops (K)",
        "Latency (ms)",
        "Acc. CI95 (%)",
        "Rank",
    ]  # three seeds: an interval
    assert all(set(c) <= set(":-") for c in cells(lines[1]))
    body = [cells(line) for line in lines[2:]]
    assert [int(r[0]) for r in body] == FRONT_FIRST
    assert all(len(r) == len(header) for r in body)
    assert body[0][3] == "88.00 ± 1.00" and body[0][6] == "40.20"
    assert body[4][3] == "-" and body[4][-1] == "over budget"  # never trained: no accuracy shown
    knee_row = next(r for r in body if int(r[0]) == summary.knee.number)
    assert knee_row[-1] == "1 (knee)"
    caption = text.strip().splitlines()[-1]
    assert caption.startswith("Table: Study cbam_ablation (digits-clutter, cifar_resnet20): 7 trials.")
    for needle in (
        "MACs in M: multiply-adds of convolution and linear layers",
        "Params in K: every parameter",
        "Latency in ms: median of timed forward passes of one batch, under the trial's latency set-up",
        "here: cpu, 1 thread, batch 1, float32",
        "± std over 3 seeds",
        "Acc.: validation top-1",
        "(1 = Pareto front)",
    ):
        assert needle in caption


def test_paper_tables_show_every_objective_and_leave_duplicate_proposals_out(tmp_path) -> None:
    fakes = [
        Fake(kind="none", latency_ratio=1.0),
        Fake(kind="se", latency_ratio=1.08),
        Fake(status="fail", kind="se", latency_ratio=1.08, reused_from=1),  # the sampler asked for SE again
    ]
    study = records_from_study(make_study(fakes, name="r", objectives=("accuracy:max", "latency_ratio:min")))
    summary = summarize(study)
    text = export(summary, "md", tmp_path / "r.md").read_text()
    lines = table_lines(text)
    header = cells(lines[0])
    assert header[-3:] == ["Latency (ms)", "Lat. ratio", "Rank"]  # the front is over the ratio
    assert sorted(int(cells(line)[0]) for line in lines[2:]) == [0, 1]
    assert "Study r (digits-clutter, cifar_resnet20): 2 trials (1 duplicate proposal left out)." in text
    assert [t.number for t in export_module.exported(summary, "csv")] == [0, 1, 2]  # CSV keeps it


def test_latex_is_a_booktabs_table_with_escaped_text(summary, tmp_path) -> None:
    text = export(summary, "latex", tmp_path / "s.tex").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("% cbam-bench export of study cbam\\_ablation")
    assert lines[1:4] == ["\\begin{table}[t]", "\\centering", "\\small"]
    assert lines[-1] == "\\end{table}"
    assert "\\label{tab:cbam-ablation}" in lines
    caption = next(line for line in lines if line.startswith("\\caption{"))
    assert caption.endswith("}") and "cifar\\_resnet20" in caption and "shown as \\%" in caption
    assert "multiply-adds of convolution and linear layers" in caption and "$\\pm$ std over 3 seeds" in caption
    spec = re.search(r"\\begin\{tabular\}\{(\w+)\}", text).group(1)
    start, end = lines.index("\\midrule"), lines.index("\\bottomrule")
    header, body = lines[start - 1], lines[start + 1 : end]
    assert lines[lines.index("\\toprule") + 1] == header
    assert [int(r.split(" & ")[0]) for r in body] == FRONT_FIRST
    for row in [header, *body]:
        assert row.endswith(" \\\\") and row.count(" & ") == len(spec) - 1
    assert "Acc. (\\%)" in header
    assert " & 88.00 $\\pm$ 1.00 & " in body[0]
    # Every % after the comment line is escaped.
    assert not re.search(r"(?<!\\)%", "\n".join(lines[1:]))


def test_an_interrupted_export_leaves_the_previous_file_intact(study, summary, tmp_path, monkeypatch) -> None:
    out = tmp_path / "s.csv"
    export(summary, "csv", out)
    before = out.read_bytes()
    calls = {"n": 0}
    real = export_module._csv_cell

    def failing(value):
        calls["n"] += 1
        if calls["n"] > 60:  # past the header and the first rows: the temporary file is half written
            raise OSError("No space left on device")
        return real(value)

    monkeypatch.setattr(export_module, "_csv_cell", failing)
    grown = records_from_study(make_study([*MIXED, Fake(accuracy=0.99)], name="cbam_ablation"))
    with pytest.raises(OSError, match="No space left"):
        export(summarize(grown), "csv", out)
    assert calls["n"] > 60
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]


def test_write_atomic_replaces_whole_files_and_keeps_their_mode(tmp_path) -> None:
    path = tmp_path / "a.txt"
    write_atomic(path, ["one\n", "two\n"])
    path.chmod(0o600)
    write_atomic(path, [b"three\n"])
    assert path.read_text() == "three\n" and (path.stat().st_mode & 0o777) == 0o600

    def chunks():
        yield "partial"
        raise RuntimeError("renderer failed")

    with pytest.raises(RuntimeError):
        write_atomic(path, chunks())
    assert path.read_text() == "three\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_empty_study_exports_a_header_and_an_empty_table(tmp_path) -> None:
    summary = summarize(records_from_study(make_study([Fake(status="pruned")], name="e")))
    rows = list(csv.DictReader(export(summary, "csv", tmp_path / "e.csv", front_only=True).open()))
    assert rows == []
    assert "trial" in (tmp_path / "e.csv").read_text().splitlines()[0]
    text = export(summary, "md", tmp_path / "e.md", front_only=True).read_text()
    assert len(table_lines(text)) == 2


def test_units_follow_each_columns_largest_value() -> None:
    from cbam_bench.report.format import column

    assert column("macs", [3.864e9, 1.8e9]).header == "MACs (G)" and column("macs", [3.864e9]).cell(3.864e9) == "3.864"
    assert column("params", [25_557_032]).cell(25_557_032) == "25.56"
    assert (
        column("elementwise_ops", [0, 640]).cell(640) == "640"
        and column("elementwise_ops", [640]).header == "Elem. ops"
    )
    assert column("accuracy", [0.9123]).cell(0.9123) == "91.23"
    assert column("latency_ms", [1.234]).header == "Latency (ms)"
