"""`cbam-bench inspect NET...`: Grad-CAM and attention maps side by side, and localisation scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cbam_bench.cli import output
from cbam_bench.cli.errors import reports_errors
from cbam_bench.cli.study_options import (
    ForceOpt,
    JsonOpt,
    StorageOpt,
)
from cbam_bench.cli.train_options import (
    DataDirOpt,
    DatasetOpt,
)
from cbam_bench.errors import SpecError
from cbam_bench.outputs import check_png
from cbam_bench.storage import DEFAULT_STORAGE

EXAMPLES = """
Examples:

  cbam-bench inspect runs/none.pt runs/se.pt runs/cbam.pt --out results/gradcam.png

  cbam-bench inspect runs/cbam.pt --maps --index 0,7,42 --layer stage2 --out cbam.png

  cbam-bench inspect default:3 default:12 --split test --json
"""


def parse_index(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SpecError(
            "--index", f"{text!r} is not allowed; allowed: a comma list of image numbers such as 0,7,42"
        ) from None


@reports_errors
def inspect(
    nets: Annotated[
        list[str],
        typer.Argument(
            help="Networks: `train --save` checkpoints, or stored trials as STUDY:N. Deltas are against the first.",
            show_default=False,
        ),
    ],
    dataset: DatasetOpt = None,
    data_dir: DataDirOpt = None,
    images: Annotated[
        int | None,
        typer.Option("--images", "-n", help="Draw the split's first N images (default 4).", show_default=False),
    ] = None,
    index: Annotated[
        str | None, typer.Option("--index", help="Draw these images of the split, e.g. 0,7,42.", show_default=False)
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split to draw and score: val or test.")] = "val",
    layer: Annotated[
        str, typer.Option("--layer", help="Grad-CAM layer: last (the last stage's output) or stageK.")
    ] = "last",
    maps: Annotated[
        bool,
        typer.Option(
            "--maps",
            help="Also draw each network's own attention: Ms over the image and Mc as a strip (the chosen stage's last gated block).",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the grid to this PNG.", show_default=False)
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="Where to run: auto, cpu or cuda (default: the first network's).", show_default=False
        ),
    ] = None,
    storage: StorageOpt = DEFAULT_STORAGE,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="Artifact folder of STUDY:N's weights (default: artifacts/ beside a SQLite --storage, else results/artifacts).",
            show_default=False,
        ),
    ] = None,
    json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Grad-CAM of each network's last stage on the same images (the CBAM paper's figure), and on
    digits-clutter the pointing game and energy in the target box, beside chance and accuracy."""
    check_png(out, "--out", storage=storage, force=force)
    chosen = parse_index(index)
    if chosen is not None and images is not None:
        raise SpecError("--index", "not allowed together with --images; allowed: one of the two")

    from cbam_bench.inspect.nets import load_network
    from cbam_bench.inspect.report import columns, delta_lines, table_rows, to_json
    from cbam_bench.inspect.run import inspect_networks

    networks = [load_network(text, storage, artifacts) for text in nets]
    result = inspect_networks(
        networks,
        split=split,
        layer=layer,
        dataset=dataset,
        data_dir=data_dir,
        device=device,
        images=images,
        index=chosen,
    )
    rows = result.rows
    if out is not None:
        from cbam_bench.inspect.figure import grid_figure, write_png

        labels = [str(int(v)) for v in result.split.labels[rows]]
        boxes = result.split.boxes[rows] if result.split.boxes is not None else None
        write_png(grid_figure(result.split.images[rows], labels, columns(result, maps), maps=maps, boxes=boxes), out)
    if json:
        output.print_json(to_json(result, str(out) if out is not None else None))
        return
    console = output.stdout()
    title = f"Grad-CAM ({layer}) on {result.data.info.name} {split}, {len(result.split)} images; %, 95% intervals"
    caption = (
        f"chance (the box's share of the image): {100 * result.chance:.1f}%" if result.chance is not None else None
    )
    table = output.table(
        title, ["network", "accuracy", "pointing game", "energy in box"], table_rows(result), caption=caption
    )
    table.columns[0].no_wrap = False  # long attention summaries wrap rather than push the numbers off
    output.print_table(console, table)
    for line in delta_lines(result):
        console.print(line, markup=False, soft_wrap=True)
    if out is not None:
        console.print(f"Figure: {out}", markup=False)


output.add_examples(inspect, EXAMPLES)
