"""The ranker's settings and the actions it predicts, free of torch: the service reads them to run
the ranker in numpy (``models.served.ranker``)."""

from __future__ import annotations

from dataclasses import dataclass

ACTIONS = ("click", "save", "long_click", "hide")
CHECKPOINT_KIND = "ranker"


@dataclass
class RankerConfig:
    """Shape of the network and how to train it; stored in the checkpoint."""

    input_dim: int
    hidden: tuple[int, ...] = (256, 128)
    heads: tuple[str, ...] = ACTIONS
    dropout: float = 0.1
    lr: float = 2e-3
    epochs: int = 4
    batch_size: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        # Configs also arrive from YAML/JSON, where tuples come back as lists.
        self.hidden = tuple(int(width) for width in self.hidden)
        self.heads = tuple(self.heads)
        if self.input_dim < 1 or not self.heads or len(set(self.heads)) != len(self.heads):
            raise ValueError(f"need input_dim >= 1 and distinct, non-empty heads: {self}")
