"""The cycle collector around bulk reads: paused and frozen only inside their blocks, restored after."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from synthetic_studies import MIXED, make_study

from cbam_bench import collector
from cbam_bench.records import load_records


def test_paused_turns_the_collector_off_and_back_on() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_paused_leaves_a_collector_that_was_off_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_paused_restores_the_collector_after_an_error() -> None:
    with pytest.raises(KeyError), collector.paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_frozen_keeps_objects_out_of_passes_only_inside_the_block() -> None:
    assert gc.get_freeze_count() == 0
    with collector.frozen():
        assert gc.get_freeze_count() > 0
        with collector.frozen():
            pass
        assert gc.get_freeze_count() > 0  # the inner block leaves the outer one's objects frozen
    assert gc.get_freeze_count() == 0


def test_a_cycle_alive_at_the_start_of_frozen_is_collected_only_after_it() -> None:
    class Node:
        pass

    node = Node()
    node.self = node  # a cycle: only the collector can free it
    alive = weakref.ref(node)
    with collector.frozen():
        del node
        gc.collect()
        assert alive() is not None  # frozen: no pass looks at it
    gc.collect()
    assert alive() is None


def test_load_records_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    make_study(MIXED, storage=url, name="mixed")
    assert len(load_records(url, "mixed").trials) == len(MIXED)
    assert gc.isenabled() and gc.get_freeze_count() == 0
