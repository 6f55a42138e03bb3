"""Faster R-CNN over cbam-bench backbones, trained on detection data and scored by pycocotools."""
