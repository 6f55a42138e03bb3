"""`cbam-bench spaces list | show NAME | validate FILE`: the search-space files, checked."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.study_options import JsonOpt

if TYPE_CHECKING:
    from cbam_bench.space import Space

app = typer.Typer(
    help="List, show and validate search-space files (YAML; schema in search_spaces/README.md).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_KEY_WIDTH = 11  # the longest keys ('early stop', 'objectives') and a space
SpaceArg = Annotated[
    str, typer.Argument(help="A shipped space's name, or the path of a YAML file.", show_default=False)
]


def _overview(space: Any) -> dict[str, Any]:
    from cbam_bench.space import count_candidates, default_trials

    return {
        "name": space.name,
        "path": space.path,
        "description": space.description,
        "task": space.task,
        "backbone": space.backbone,
        "dataset": space.dataset,
        "objectives": [str(o) for o in space.objectives],
        "budgets": space.budgets,
        "sampler": space.sampler,
        "trials": default_trials(space),
        "seeds": space.seeds,
        "candidates": count_candidates(space),
    }


@app.command("list")
@reports_errors
def list_spaces(json: JsonOpt = False) -> None:
    """The shipped spaces, with what each searches.

    Examples:

      cbam-bench spaces list

      cbam-bench spaces list --json
    """
    from cbam_bench.space import SPACES_DIR, load_space, space_names

    spaces = [_overview(load_space(SPACES_DIR / f"{name}.yaml")) for name in space_names()]
    if json:
        output.print_json(spaces)
        return
    rows = [
        [
            s["name"],
            s["backbone"],
            ", ".join(o.split(":")[0] for o in s["objectives"]),
            ", ".join(f"{k} <= {v:g}" for k, v in s["budgets"].items()) or "-",
            f"{s['trials']} of {s['candidates']}",
        ]
        for s in spaces
    ]
    columns = ["space", "backbone", "objectives", "budgets", "trials"]
    caption = (
        f"In {SPACES_DIR.resolve()}. trials: how many a search runs by default, of the candidates "
        "(distinct settings of the sampled parameters). The sampler and every other setting: "
        "cbam-bench spaces show SPACE."
    )
    table = output.table("Search spaces", columns, rows, caption=caption, wrap=("objectives", "budgets", "trials"))
    output.print_table(output.stdout(), table)


def _settings(loaded: Space, overview: dict[str, Any]) -> list[list[str]]:
    """`spaces show`'s key / value lines, as a user reads the file: every setting, defaults filled in."""
    es = loaded.early_stop
    return [
        ["file", loaded.path],
        ["task", loaded.task],
        ["backbone", loaded.backbone],
        ["dataset", loaded.dataset],
        ["objectives", ", ".join(overview["objectives"])],
        ["budgets", ", ".join(f"{k} <= {v:g}" for k, v in loaded.budgets.items()) or "-"],
        ["sampler", f"{loaded.sampler} (seed {loaded.seed})"],
        ["trials", f"{overview['trials']} ({overview['candidates']} candidates)"],
        ["seeds", str(loaded.seeds)],
        [
            "early stop",
            "off"
            if es is None
            else f"median rule on {es.signal} after epoch {es.warmup_epochs}, once {es.min_trials} trials reached it"
            + (f", stopping only past the median by more than {es.margin:g}" if es.margin else ""),
        ],
        [
            "training",
            f"{loaded.train.epochs} epochs, batch {loaded.train.batch_size}, lr {loaded.train.lr:g}, "
            + getattr(loaded.train, "schedule", "warm-up then cosine (detection)"),
        ],
        ["latency", f"batch {loaded.latency.batch} on {loaded.latency.device}, median of {loaded.latency.repeats}"],
    ]


@app.command("show")
@reports_errors
def show(space: SpaceArg, json: JsonOpt = False) -> None:
    """One space: its settings and every parameter with its choices and when it is sampled.

    Examples:

      cbam-bench spaces show default

      cbam-bench spaces show paper-channel --json
    """
    from cbam_bench.attention.registry import KINDS
    from cbam_bench.space import APPLIES_WHEN, find_space, load_space

    loaded = load_space(find_space(space))
    overview = _overview(loaded)
    offered = [*loaded.params.get("attention.kind", ()), *(row["kind"] for row in loaded.variants.values())]
    kinds = {str(k): KINDS[str(k)].summary for k in dict.fromkeys(offered)}
    if json:
        output.print_json(
            overview
            | {
                "kinds": kinds,
                "params": {k: list(v) for k, v in loaded.params.items()},
                "variants": {
                    k: {f: list(v) if isinstance(v, tuple) else v for f, v in row.items()}
                    for k, row in loaded.variants.items()
                },
                "train": loaded.train.to_dict(),
                "early_stop": None if loaded.early_stop is None else dataclasses.asdict(loaded.early_stop),
                "latency": dataclasses.asdict(loaded.latency),
                "source": loaded.source,
            }
        )
        return
    settings = _settings(loaded, overview)
    console = output.stdout()
    console.print(f"{loaded.name}: {loaded.description}".rstrip(": "), markup=False, highlight=False)
    # A long value wraps under itself, not under the keys.
    indent = " " * (2 + _KEY_WIDTH + 1)
    for key, value in settings:
        lines = textwrap.wrap(value, max(20, console.width - len(indent)), break_on_hyphens=False) or [""]
        console.print(f"  {key:<{_KEY_WIDTH}} " + f"\n{indent}".join(lines), markup=False, highlight=False)
    rows = [
        [k, ", ".join(str(c) for c in v), APPLIES_WHEN[k] if len(v) > 1 else "fixed"] for k, v in loaded.params.items()
    ]
    params = output.table(
        "Parameters", ["parameter", "choices", "sampled when"], rows, wrap=("choices", "sampled when")
    )
    output.print_table(console, params)
    kinds_table = output.table(
        "Attention kinds", ["kind", "what it is"], [[k, v] for k, v in kinds.items()], wrap=("what it is",)
    )
    output.print_table(console, kinds_table)


@app.command("validate")
@reports_errors
def validate(file: SpaceArg, json: JsonOpt = False) -> None:
    """Check a space file: exit 0 when valid, 2 with one line per problem when not.

    Examples:

      cbam-bench spaces validate my-space.yaml

      cbam-bench spaces validate search_spaces/placement.yaml --json
    """
    from cbam_bench.space import find_space, load_space

    loaded = load_space(find_space(file))
    overview = _overview(loaded)
    if json:
        output.print_json({"file": loaded.path, "valid": True} | overview)
        return
    output.stdout().print(
        f"{loaded.path}: valid; {len(loaded.searched)} sampled parameter(s), {overview['candidates']} candidates",
        markup=False,
        highlight=False,
    )
