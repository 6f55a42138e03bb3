"""The plain-text table report --all draws: alignment, wrapping and fitting the terminal, by hand."""

from __future__ import annotations

from cbam_bench.report import plain


def test_numbers_right_labels_left_and_a_rule_under_the_header() -> None:
    text = plain.render(
        "T",
        ["#", "name", "x"],
        [["1", "ab", "3.5"], ["12", "c", "10.25"]],
        right={2},
        wrapping=set(),
        caption=["Caption."],
        width=80,
    )
    assert text == "T\n#   name      x\n───────────────\n1   ab      3.5\n12  c     10.25\n\nCaption.\n"


def test_a_wrapping_column_narrows_to_fit_and_wraps_its_words() -> None:
    label = "cbam avg+max r16 k7 c-s"  # 23 characters
    text = plain.render(
        "T",
        ["#", "attention", "acc"],
        [["7", label, "91.20"]],
        right={2},
        wrapping={1},
        caption=[],
        width=1 + 2 + 12 + 2 + 5,
    )
    # 23 does not fit: the label goes down to the width that is left, 12, at most the comfortable 16.
    assert text.splitlines()[3:5] == ["7  cbam avg+max  91.20", "   r16 k7 c-s"]


def test_a_word_is_never_cut_the_table_is_printed_wider() -> None:
    text = plain.render("T", ["attention"], [["a" * 30 + " b"]], right=set(), wrapping={0}, caption=[], width=5)
    assert text.splitlines()[3:] == ["a" * 30, "b", ""]


def test_a_label_that_fits_but_holds_a_tab_newline_or_outer_space_is_cleaned_as_textwrap_does() -> None:
    rows = [["a\tb"], ["c\nd"], [" e "], [""], ["f  g"]]
    text = plain.render("T", ["label"], rows, right=set(), wrapping={0}, caption=[], width=40)
    # The column is as wide as "label"; the tab expands to column 8, so "a" and "b" part; a newline
    # is a space; leading space before a word stays, trailing space goes; inner spaces stay.
    assert text.splitlines()[3:] == ["a", "b", "c d", " e", "", "f  g", ""]


def test_a_numeric_header_wraps_when_the_labels_are_at_their_comfortable_width() -> None:
    rows = [["cbam avg+max r16 k7 c-s", "270.0"]]
    # 16 + 2 + 10 = 28 > 24: "Params (K)" goes over two lines (6 wide), the label gets the rest.
    text = plain.render("T", ["attention", "Params (K)"], rows, right={1}, wrapping={0}, caption=[], width=24)
    assert text.splitlines()[1:6] == [
        "attention         Params",
        "                     (K)",
        "────────────────────────",
        "cbam avg+max r16   270.0",
        "k7 c-s",
    ]
