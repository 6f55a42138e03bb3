"""Attention modules, one per file, and registry.py: the one entry per kind everything else reads."""
