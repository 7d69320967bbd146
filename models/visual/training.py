"""Joint training of the visual CNN's trunk and heads on two augmented views of each image.

Three losses share the trunk:

- topic: cross-entropy of the pin's category, on both views;
- near-duplicate identity: the shared ``sampled_softmax_loss`` with view A of each image as the
  query and view B as its positive, the batch's other images as negatives (both directions).
  Near-duplicate pins share an ``image_signature`` and so render to the same picture; two
  augmented views of one picture are exactly such a pair, and this needs no duplicates in the
  training sample and no class per signature (a signature classifier could not score pins
  whose signature it never saw). Byte-identical pictures in one batch (a duplicate pair, or
  two signatures that happen to draw the same pattern) are masked as accidental hits rather
  than pushed apart, since no image model could tell them apart;
- style: mean squared error of the standardized ``style_targets`` of the un-augmented image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.retrieval_loss import sampled_softmax_loss
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs
from models.visual.model import (
    VisualCNN,
    VisualConfig,
    augment,
    check_images,
    distinct_pictures,
    image_tensor,
    style_targets,
)


def split_by_signature(
    signatures: np.ndarray, *, train: int, validation: int, test: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices (train, validation, test), each sorted, that keep every signature's pins
    together, so no held-out picture was seen in training.

    Signature groups are dealt in a random order (by ``seed``) to test until it holds about
    ``test`` pins, then to validation, then to train up to about ``train`` pins; a group is
    never split, so each part may exceed its size by less than one group. Rows left over are
    in no part.
    """
    signatures = np.asarray(signatures)
    if signatures.ndim != 1 or len(signatures) == 0:
        raise ValueError("signatures must be a non-empty 1-D array")
    if train < 1 or min(validation, test) < 0:
        raise ValueError(f"need train >= 1 and validation, test >= 0; got {train}, {validation}, {test}")
    _, group_of = np.unique(signatures, return_inverse=True)
    sizes = np.bincount(group_of)
    order = np.random.default_rng(seed).permutation(len(sizes))
    starts = np.cumsum(sizes[order]) - sizes[order]  # pins dealt before each group
    part = np.full(len(sizes), -1)
    part[order] = np.searchsorted(np.array([test, test + validation, test + validation + train]), starts, "right")
    row_part = part[group_of]
    train_rows, validation_rows, test_rows = (np.flatnonzero(row_part == k) for k in (2, 1, 0))
    if len(train_rows) == 0:
        raise ValueError(
            f"{len(signatures)} pins leave none for training after {test} test and {validation} validation"
        )
    return train_rows, validation_rows, test_rows


class _Examples:
    """Training tensors for a set of rows: pixels, topic labels, standardized style, picture ids."""

    def __init__(self, model: VisualCNN, images: np.ndarray, labels: np.ndarray) -> None:
        self.pixels = image_tensor(images)
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.style = (torch.from_numpy(style_targets(images)) - model.style_mean) / model.style_std
        self.pictures = torch.from_numpy(distinct_pictures(images)[1].astype(np.int64))

    def __len__(self) -> int:
        return len(self.labels)


def _batch_loss(model: VisualCNN, examples: _Examples, batch: Tensor, generator: torch.Generator) -> Tensor:
    config, n = model.config, len(batch)
    views = augment(examples.pixels[batch].repeat(2, 1, 1, 1), config, generator)
    output = model(views)
    first, second = output.vector[:n], output.vector[n:]
    pictures, flat = examples.pictures[batch], torch.zeros(n)

    def identity(query: Tensor, positive: Tensor) -> Tensor:
        return sampled_softmax_loss(
            query,
            positive,
            positive_log_q=flat,
            positive_ids=pictures,
            temperature=config.temperature,
            correct_sampling_bias=False,  # every training image appears once per epoch
        )

    duplicate = (identity(first, second) + identity(second, first)) / 2
    topic = F.cross_entropy(output.topic_logits, examples.labels[batch].repeat(2))
    style = F.mse_loss(output.style, examples.style[batch].repeat(2, 1))
    return config.topic_weight * topic + config.duplicate_weight * duplicate + config.style_weight * style


def train_visual(
    images: np.ndarray,
    categories: np.ndarray,
    config: VisualConfig,
    *,
    train_rows: np.ndarray,
    validation_rows: np.ndarray | None = None,
    on_epoch: EpochCallback | None = None,
) -> tuple[VisualCNN, TrainingHistory]:
    """Train on ``images[train_rows]`` (uint8 ``[n, size, size, 3]``) with their ``categories``.

    The topic head's classes are every distinct category in ``categories`` (sorted), so a
    topic missing from the training rows still has a name. Epochs run through
    ``models.training.fit_epochs``; with ``validation_rows`` (non-empty), the score is minus the
    mean joint loss on fixed augmented views of those rows, with early stopping after
    ``config.patience`` epochs and the best weights kept. The learning rate decays from
    ``config.lr`` along a cosine over ``config.epochs``. Deterministic for ``config.seed``;
    the model comes back in eval mode.
    """
    check_images(images, config.image_size)
    categories = np.asarray(categories)
    if categories.shape != (len(images),):
        raise ValueError(f"need one category per image: {len(images)} images, categories {categories.shape}")
    train_rows = np.asarray(train_rows, dtype=np.int64)
    if len(train_rows) == 0:
        raise ValueError("train_rows is empty")
    topics, labels = np.unique(categories.astype(str), return_inverse=True)

    # A private RNG stream makes runs repeatable without disturbing the caller's torch seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = VisualCNN(config, topics.tolist())
        targets = style_targets(images[train_rows])
        model.style_mean.copy_(torch.from_numpy(targets.mean(axis=0)))
        model.style_std.copy_(torch.from_numpy(targets.std(axis=0) + 1e-6))
        training = _Examples(model, images[train_rows], labels[train_rows])
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        # Cosine decay over the epoch budget: late epochs refine instead of jumping out of a minimum.
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
        generator = torch.Generator().manual_seed(config.seed)

        def train_epoch(epoch: int) -> float:
            total = 0.0
            for batch in torch.randperm(len(training), generator=generator).split(config.batch_size):
                loss = _batch_loss(model, training, batch, generator)
                total += descend(loss, [optimizer]) * len(batch)
            schedule.step()
            return total / len(training)

        history = fit_epochs(
            model,
            train_epoch,
            epochs=config.epochs,
            validate=_validation_score(model, images, labels, validation_rows),
            patience=config.patience,
            on_epoch=on_epoch,
        )
    return model, history


def _validation_score(
    model: VisualCNN, images: np.ndarray, labels: np.ndarray, rows: np.ndarray | None
) -> Callable[[], float] | None:
    """Minus the mean joint loss on ``rows``, drawn with the same views every call."""
    if rows is None or len(rows) == 0:
        return None
    rows = np.asarray(rows, dtype=np.int64)
    examples = _Examples(model, images[rows], labels[rows])

    def score() -> float:
        generator = torch.Generator().manual_seed(model.config.seed + 1)
        total = 0.0
        with torch.no_grad():
            for batch in torch.arange(len(examples)).split(model.config.batch_size):
                total += _batch_loss(model, examples, batch, generator).item() * len(batch)
        return -total / len(examples)

    return score
