"""The PinSAGE network (Ying et al., 2018, Algorithm 1): a pin's features projected to the
hidden size, then ``layers`` importance-weighted convolutions, then a dense head; output is a
unit vector. No parameter belongs to a pin, so unseen pins embed like seen ones."""

from __future__ import annotations

from pathlib import Path

import dgl
import dgl.function as fn
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.pinsage.config import CHECKPOINT_KIND, PinSageConfig
from models.pinsage.features import PinFeatures, PinInputs
from models.pinsage.sampling import importance_neighbours, neighbourhood_blocks
from models.token_bags import bag_of_distinct_tokens


class ImportanceConvolution(nn.Module):
    """One CONVOLVE step: the importance-weighted mean of transformed neighbour vectors,
    concatenated with the pin's own vector, dense + ReLU, L2-normalized."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.neighbour = nn.Linear(size, size)
        self.combine = nn.Linear(2 * size, size)

    def forward(self, block: dgl.DGLGraph, source: Tensor) -> Tensor:
        """Vectors of ``block``'s destination pins from those of its source pins."""
        with block.local_scope():
            block.srcdata["message"] = F.relu(self.neighbour(source))
            block.edata["w"] = block.edata["weight"].unsqueeze(1)  # weights of a pin sum to 1
            block.update_all(fn.u_mul_e("message", "w", "weighted"), fn.sum("weighted", "mean"))
            aggregate = block.dstdata["mean"]
        own = source[: block.num_dst_nodes()]
        return F.normalize(F.relu(self.combine(torch.cat([own, aggregate], dim=1))), dim=1)


class PinSage(nn.Module):
    """Features -> hidden vector -> ``layers`` convolutions -> dense head -> unit vector."""

    def __init__(self, config: PinSageConfig) -> None:
        super().__init__()
        self.config = config
        # Sparse gradients: a batch reads a few thousand of the hashed table's rows.
        self.tokens = nn.Embedding(config.buckets, config.hidden, sparse=True)
        nn.init.normal_(self.tokens.weight, std=0.01)
        inputs = config.hidden + len(config.categories) + config.numeric_features
        self.project = nn.Linear(inputs, config.hidden)
        self.convolutions = nn.ModuleList(
            ImportanceConvolution(config.hidden) for _ in range(config.layers)
        )
        self.head = nn.Sequential(
            nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.dim)
        )

    def encode(self, inputs: PinInputs) -> Tensor:
        """Layer-0 vectors ``[n, hidden]`` from content features alone."""
        # Code -1 (no known category) takes the extra first class, which is dropped.
        one_hot = F.one_hot(inputs.category + 1, len(self.config.categories) + 1)[:, 1:].float()
        words = bag_of_distinct_tokens(self.tokens, inputs.token_ids, inputs.word_offsets, "sum")
        text = torch.sparse.mm(inputs.word_weights, words)  # the mean over each pin's tokens
        return F.relu(self.project(torch.cat([text, one_hot, inputs.numeric], dim=1)))

    def forward(self, blocks: list[dgl.DGLGraph], inputs: PinInputs) -> Tensor:
        """Unit vectors ``[n, dim]`` of the last block's destination pins; ``inputs`` are the
        features of the first block's source pins (``neighbourhood_blocks`` order)."""
        hidden = self.encode(inputs)
        for block, convolution in zip(blocks, self.convolutions, strict=True):
            hidden = convolution(block, hidden)
        return F.normalize(self.head(hidden), dim=1)

    def embed(self, neighbours: dgl.DGLGraph, features: PinFeatures, pins: Tensor) -> Tensor:
        """Vectors of ``pins`` (distinct indices) over a ``importance_neighbours`` graph."""
        blocks = neighbourhood_blocks(neighbours, pins, self.config.layers)
        return self(blocks, features.select(blocks[0].srcdata[dgl.NID].numpy()))


def sample_neighbours(model: PinSage, graph: dgl.DGLGraph, seed: int | None = None) -> dgl.DGLGraph:
    """``importance_neighbours`` of every pin in ``graph`` with the model's walk settings."""
    config = model.config
    return importance_neighbours(
        graph,
        top_k=config.neighbours,
        walks=config.walks,
        walk_length=config.walk_length,
        restart_prob=config.restart_prob,
        seed=config.seed if seed is None else seed,
    )


def embed_items(
    model: PinSage,
    graph: dgl.DGLGraph,
    features: PinFeatures,
    items: np.ndarray,
    *,
    neighbours: dgl.DGLGraph | None = None,
    batch_size: int = 1024,
) -> np.ndarray:
    """Unit vectors float32 ``[len(items), dim]`` for pin indices of ``graph``, seen in training
    or not: each is computed from its features and its neighbourhood in ``graph``.

    Neighbourhoods are sampled with ``config.seed`` unless given (``sample_neighbours``), so
    the same model, graph and features give the same vectors.
    """
    if features.n_pins != graph.num_nodes("pin"):
        raise ValueError(f"features describe {features.n_pins} pins, the graph has {graph.num_nodes('pin')}")
    if neighbours is None:
        neighbours = sample_neighbours(model, graph)
    items = np.asarray(items, dtype=np.int64)
    distinct, inverse = np.unique(items, return_inverse=True)
    vectors = np.empty((len(distinct), model.config.dim), dtype=np.float32)  # written in place: no copies of 1M rows
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(distinct), batch_size):
                batch = torch.from_numpy(distinct[start : start + batch_size])
                vectors[start : start + len(batch)] = model.embed(neighbours, features, batch).numpy()
    finally:
        model.train(was_training)
    return vectors if np.array_equal(distinct, items) else vectors[inverse]


def save_pinsage(path: Path, model: PinSage) -> None:
    """Write the model's config and weights to one checkpoint file."""
    save_checkpoint(path, kind=CHECKPOINT_KIND, config=model.config, state={"model": dict(model.state_dict())})


def load_pinsage(path: Path) -> PinSage:
    """Rebuild the model (in eval mode) from ``save_pinsage``'s file; ``CheckpointError`` when
    the file is unusable."""
    config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=PinSageConfig)
    model = PinSage(config)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as error:
        raise CheckpointError(f"checkpoint {path} state does not fit its config: {error}") from error
    return model.eval()
