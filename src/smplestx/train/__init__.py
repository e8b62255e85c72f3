"""Training: samples and augmentation, dataset mixing, losses, and the (torchrun / DDP) trainer."""
