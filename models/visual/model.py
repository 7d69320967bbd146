"""The visual CNN: one convolutional trunk whose unit vector feeds every task head.

Pin images arrive as uint8 arrays ``[n, size, size, 3]``. The trunk maps an image to a unit
vector (the pin's visual embedding); a topic head and a style head (mean colour and edge
energy per direction) read that same vector, so whatever the heads learn is carried by the
vector that other models consume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.visual.config import VisualConfig

# Regression targets read off the un-augmented image: its colour, and how much it changes
# along x and along y (stripe orientation and frequency show up there).
STYLE_TARGETS = ("red", "green", "blue", "edges_along_x", "edges_along_y")
COLOUR_TARGETS = 3  # the first three style targets


@dataclass(frozen=True)
class VisualOutput:
    """One forward pass: unit vectors ``[b, dim]``, topic logits ``[b, topics]``, and the
    standardized style prediction ``[b, len(STYLE_TARGETS)]``."""

    vector: Tensor
    topic_logits: Tensor
    style: Tensor


def _conv_block(channels_in: int, channels_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(4, channels_out),  # no running statistics: eval behaves as training
        nn.ReLU(),
    )


class VisualCNN(nn.Module):
    """Three conv blocks -> MLP -> unit vector; a linear topic head and style head on the vector.

    ``topics`` names the topic head's classes in order; ``style_mean``/``style_std`` (buffers,
    so they travel in the state dict) undo the style targets' standardization.
    """

    def __init__(self, config: VisualConfig, topics: list[str]) -> None:
        super().__init__()
        if not topics:
            raise ValueError("need at least one topic")
        self.config, self.topics = config, list(topics)
        width = config.width
        self.trunk = nn.Sequential(
            _conv_block(3, width, stride=1),
            _conv_block(width, 2 * width, stride=2),
            _conv_block(2 * width, 4 * width, stride=2),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(4 * width * 16, 2 * config.dim),
            nn.ReLU(),
            nn.Linear(2 * config.dim, config.dim),
        )
        self.topic_head = nn.Linear(config.dim, len(topics))
        self.style_head = nn.Linear(config.dim, len(STYLE_TARGETS))
        self.register_buffer("style_mean", torch.zeros(len(STYLE_TARGETS)))
        self.register_buffer("style_std", torch.ones(len(STYLE_TARGETS)))

    def forward(self, pixels: Tensor) -> VisualOutput:
        """``pixels``: float ``[b, 3, size, size]`` in [0, 1] (see ``image_tensor``)."""
        hidden = self.trunk(pixels)
        return VisualOutput(
            F.normalize(hidden, dim=-1),
            self.topic_head(hidden),
            self.style_head(hidden),
        )


def check_images(images: np.ndarray, size: int) -> None:
    """Raise ``TypeError`` unless ``images`` is a numpy array, ``ValueError`` unless it is a
    non-empty uint8 ``[n, size, size, 3]`` one."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ValueError(f"images must have shape [n, {size}, {size}, 3], got {list(images.shape)}")
    if len(images) == 0:
        raise ValueError("images is empty")


def image_tensor(images: np.ndarray) -> Tensor:
    """uint8 ``[n, h, w, 3]`` -> float ``[n, 3, h, w]`` in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)


def style_targets(images: np.ndarray) -> np.ndarray:
    """float32 ``[n, len(STYLE_TARGETS)]``: mean R, G, B in [0, 1], then the mean absolute
    luminance step along x and along y."""
    pixels = images.astype(np.float32) / 255.0
    luminance = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    along_x = np.abs(np.diff(luminance, axis=2)).mean(axis=(1, 2))
    along_y = np.abs(np.diff(luminance, axis=1)).mean(axis=(1, 2))
    return np.column_stack([pixels.mean(axis=(1, 2)), along_x, along_y]).astype(np.float32)


def augment(pixels: Tensor, config: VisualConfig, generator: torch.Generator) -> Tensor:
    """A random view of each image: shifted up to ``max_shift`` pixels (edges replicated),
    intensity scaled by ``1 +- brightness``, Gaussian noise added, clipped to [0, 1]."""
    batch, _, size, _ = pixels.shape
    view = pixels
    if config.max_shift > 0:
        shift = config.max_shift
        padded = F.pad(pixels, (shift, shift, shift, shift), mode="replicate")
        dy, dx = torch.randint(0, 2 * shift + 1, (2, batch), generator=generator)
        rows = (dy[:, None] + torch.arange(size))[:, :, None]
        cols = (dx[:, None] + torch.arange(size))[:, None, :]
        view = padded.permute(0, 2, 3, 1)[torch.arange(batch)[:, None, None], rows, cols]
        view = view.permute(0, 3, 1, 2)
    scale = 1.0 + config.brightness * (2.0 * torch.rand(batch, 1, 1, 1, generator=generator) - 1.0)
    noise = config.noise * torch.randn(view.shape, generator=generator)
    return (view * scale + noise).clamp_(0.0, 1.0)


@dataclass(frozen=True)
class VisualPredictions:
    """Per image: unit vector ``[n, dim]``, predicted topic name ``[n]``, and the style
    prediction ``[n, len(STYLE_TARGETS)]`` in ``style_targets`` units."""

    vectors: np.ndarray
    topics: np.ndarray
    style: np.ndarray


def distinct_pictures(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the first occurrence of each distinct picture (byte-identical images), and the
    picture number of every row, so ``images[first][picture]`` equals ``images``."""
    flat = np.ascontiguousarray(images).reshape(len(images), -1)
    keys = flat.view(np.dtype((np.void, flat.shape[1]))).reshape(-1)
    _, first, picture = np.unique(keys, return_index=True, return_inverse=True)
    return first, picture.reshape(-1)


def embed_images(model: VisualCNN, images: np.ndarray, batch_size: int = 2048) -> VisualPredictions:
    """Run ``model`` (in eval mode, without autograd) over un-augmented ``images`` in batches.

    Each distinct picture is run once (near-duplicates and pins whose signatures draw the same
    pattern share one) and its outputs are copied to every row that shows it.
    """
    check_images(images, model.config.image_size)
    first, picture = distinct_pictures(images)
    was_training = model.training
    model.eval()
    vectors, topic_rows, style = [], [], []
    try:
        with torch.inference_mode():
            for start in range(0, len(first), batch_size):
                output = model(image_tensor(images[first[start : start + batch_size]]))
                vectors.append(output.vector.numpy())
                topic_rows.append(output.topic_logits.argmax(dim=1).numpy())
                style.append((output.style * model.style_std + model.style_mean).numpy())
    finally:
        model.train(was_training)
    return VisualPredictions(
        vectors=np.concatenate(vectors).astype(np.float32)[picture],
        topics=np.asarray(model.topics, dtype=object)[np.concatenate(topic_rows)][picture],
        style=np.concatenate(style).astype(np.float32)[picture],
    )
