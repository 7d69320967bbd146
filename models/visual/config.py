"""The visual CNN's settings and its checkpoint kind, free of torch."""

from __future__ import annotations

from dataclasses import dataclass

CHECKPOINT_KIND = "visual_cnn"


@dataclass
class VisualConfig:
    """Network shape, augmentation, loss weights and training settings; stored in the checkpoint."""

    image_size: int = 16
    width: int = 16  # channels of the first convolution, doubled at each of two downsamplings
    dim: int = 64
    max_shift: int = 2  # pixels a view may move in x and y
    brightness: float = 0.15  # a view's intensity is scaled by 1 +- this
    noise: float = 0.03  # std of per-pixel Gaussian noise, on the [0, 1] scale
    temperature: float = 0.1
    topic_weight: float = 1.0
    duplicate_weight: float = 1.0
    style_weight: float = 1.0
    epochs: int = 15
    patience: int = 2
    batch_size: int = 64
    lr: float = 5e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size < 4 or min(self.width, self.dim, self.batch_size) < 1:
            raise ValueError(f"need image_size >= 4 and width, dim, batch_size >= 1: {self}")
        if self.epochs < 0 or self.patience < 1 or not 0 <= self.max_shift < self.image_size:
            raise ValueError(f"need epochs >= 0, patience >= 1, 0 <= max_shift < image_size: {self}")
        if min(self.brightness, self.noise) < 0 or min(self.temperature, self.lr) <= 0:
            raise ValueError(f"need brightness, noise >= 0 and temperature, lr > 0: {self}")
        if min(self.topic_weight, self.duplicate_weight, self.style_weight) < 0:
            raise ValueError(f"loss weights must be non-negative: {self}")
