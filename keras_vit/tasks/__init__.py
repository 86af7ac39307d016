"""Detection and segmentation on zoo backbones: necks, decoders, heads, losses, metrics and their data."""
