"""The package's public surface: lazy exports that keep `import cbam_bench` free of torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cbam_bench
import cbam_bench.data
import cbam_bench.search


def test_import_does_not_load_torch() -> None:
    code = "import sys, cbam_bench, cbam_bench.data, cbam_bench.search; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("package", [cbam_bench, cbam_bench.data, cbam_bench.search])
def test_every_listed_name_resolves_and_others_raise(package) -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError, match=f"module '{package.__name__}' has no attribute 'nope'"):
        package.nope  # noqa: B018 - the attribute access is what raises
