"""Finding space files (shipped ones by name, others by path) and reading them as strict YAML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from cbam_bench.errors import SpaceError, allowed, did_you_mean
from cbam_bench.space.check import check_space
from cbam_bench.space.model import Space

# Shipped spaces live in the repository's search_spaces/; the package reaches them through its
# cbam_bench/search_spaces link, which a wheel replaces by a copy (package data).
SPACES_DIR = (Path(__file__).parent.parent / "search_spaces").resolve()


def space_names() -> list[str]:
    """Names of the shipped spaces (file stems in SPACES_DIR)."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.yaml"))


def find_space(name_or_path: str) -> Path:
    """A shipped space by name, or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.parent != Path("."):
        if not path.is_file():
            raise SpaceError(f"{name_or_path}: no such file")
        return path
    shipped = SPACES_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    names = space_names()
    raise SpaceError(
        f"space {name_or_path!r} not found{did_you_mean(name_or_path, names)}; "
        f"shipped: {allowed(names)}; or give the path of a .yaml file"
    )


class _Loader(yaml.SafeLoader):
    """Safe YAML that rejects duplicate keys and reads 1e6 as a number (YAML 1.2), not a string."""


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable; construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpaceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SpaceError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpaceError(f"{path}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise SpaceError(f"{path}: not valid YAML: nested too deeply") from None


def load_space(path: str | Path) -> Space:
    """Read and validate a search-space file; SpaceError lists every problem, one per line."""
    path = Path(path)
    return check_space(path, _read_yaml(path))
