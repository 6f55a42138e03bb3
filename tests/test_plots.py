"""The plot is a real PNG with something drawn on it, even for a study with nothing complete."""

from __future__ import annotations

from PIL import Image
from synthetic_studies import MIXED, Fake, make_study

from cbam_bench.records import records_from_study
from cbam_bench.report.plots import plot_study
from cbam_bench.report.summary import summarize

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(path, min_width: int) -> Image.Image:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 10_000
    image = Image.open(path)
    image.verify()
    image = Image.open(path)
    assert image.format == "PNG" and image.width >= min_width and image.height >= 400
    lo, hi = image.convert("L").getextrema()
    assert hi - lo > 100  # not a blank canvas
    return image


def test_plot_has_a_panel_for_macs_and_one_for_latency(tmp_path) -> None:
    path = plot_study(summarize(records_from_study(make_study(MIXED))), tmp_path / "front.png")
    two_panels = check_png(path, 1000)
    one = plot_study(
        summarize(records_from_study(make_study(MIXED, objectives=("accuracy:max", "macs:min")))), tmp_path / "one.png"
    )
    assert check_png(one, 600).width == two_panels.width  # both costs are stored, so both panels are drawn


def test_plot_of_a_study_without_complete_trials(tmp_path) -> None:
    path = plot_study(summarize(records_from_study(make_study([Fake(status="fail")]))), tmp_path / "empty.png")
    check_png(path, 600)
