"""Attention modules: CBAM's gates, SE and ECA, and the factory that builds them from a spec."""
