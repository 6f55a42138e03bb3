"""Backbones and the placement of attention in them (entry point: cbam_bench.models.build)."""
