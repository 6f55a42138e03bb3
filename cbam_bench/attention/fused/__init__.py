"""CBAM's gates computed in a handful of passes over the feature map (see autograd.py)."""
