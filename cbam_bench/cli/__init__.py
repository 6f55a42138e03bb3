"""The command line: one module per command, over the importable library."""
