"""`python -m cbam_bench` is the same as the `cbam-bench` command."""

from cbam_bench.cli.app import main

main()
