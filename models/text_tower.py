"""Text / search-query embedding (DESIGN.md section 1): one tower for queries and pin texts.

Hashed word and character n-gram tokens (``models.tokenizer``) feed a mean bag of token rows and
an MLP; the output is L2-normalized. Queries and pins go through the same tower, so any
query text, seen in training or not, lands in the pins' space. Training pulls a query
towards the pins engaged after it with the shared ``sampled_softmax_loss``. A world with too few
engaged searches trains on co-engaged pin text instead: the text of the pin a user engaged with
just before stands in for the query (``training_pairs``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.actions import POSITIVE_ACTIONS
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.pin_vector_file import PinVectorFile
from models.retrieval_loss import NegativeSampler, log_q_from_counts, sampled_softmax_loss
from models.text_pin_vectors import pin_vector_state
from models.text_tower_config import CHECKPOINT_KIND, TextTowerConfig, pin_texts
from models.token_bags import bag_of_distinct_tokens
from models.tokenizer import TokenizerConfig, tokenize
from models.training import EpochCallback, TrainingHistory, descend, fit_epochs, sparse_and_dense_adam
from models.visual.catalogue import one_torch_thread

SEARCH_ENGAGEMENTS = "search_engagements"
CO_ENGAGED_PIN_TEXT = "co_engaged_pin_text"
# Fewer engaged searches than one training batch teach the tower too few words to search with.
MIN_SEARCH_PAIRS = 256
# More co-engaged pairs per pin pull the tower from the pins' words towards co-engagement alone:
# on MovieLens-100K a held-out title's genre agreement@10 fell from 0.46 at 20 to 0.41 at 53.
CO_ENGAGED_PAIRS_PER_PIN = 20


class TextTower(nn.Module):
    """Mean of hashed token embeddings -> MLP -> unit vector of ``config.dim``."""

    def __init__(self, config: TextTowerConfig) -> None:
        super().__init__()
        self.config = config
        # Sparse gradients: a batch touches a few thousand of the hashed table's rows.
        self.tokens = nn.Embedding(config.buckets, config.hidden, sparse=True)
        # A small start lets Adam's lr-sized steps shape token vectors, not nudge random ones.
        nn.init.normal_(self.tokens.weight, std=0.01)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.dim)
        )

    def forward(self, ids: Tensor, offsets: Tensor) -> Tensor:
        """Unit vectors ``[len(offsets), dim]`` for EmbeddingBag-style ``ids`` and ``offsets``;
        a text without tokens gets the tower's fixed vector for an empty bag."""
        return F.normalize(self.mlp(bag_of_distinct_tokens(self.tokens, ids, offsets, "mean")), dim=-1)


class _TokenizedTexts:
    """Texts tokenized once; any subset of rows is handed out as EmbeddingBag input."""

    def __init__(self, texts: list[str], config: TokenizerConfig) -> None:
        self.ids, self.offsets = tokenize(texts, config)
        self.lengths = np.diff(np.append(self.offsets, len(self.ids)))

    def select(self, rows: np.ndarray) -> tuple[Tensor, Tensor]:
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        # Position k of the selection reads flat id (row start + k - selection offset).
        flat = np.repeat(self.offsets[rows] - offsets, lengths) + np.arange(lengths.sum())
        return torch.from_numpy(self.ids[flat]), torch.from_numpy(offsets)


def search_training_pairs(events: pd.DataFrame, pins: pd.DataFrame) -> pd.DataFrame:
    """(query, pin_id) rows: one per click, save or long click on a search result of a known
    pin; repeated engagements stay, since they carry the pin's frequency."""
    engaged = events[
        (events["surface"] == "search")
        & events["action"].isin(POSITIVE_ACTIONS)
        & events["query"].notna()
        & events["pin_id"].isin(pins["pin_id"])
    ]
    columns = {"query": "string", "pin_id": "int64"}
    return engaged[list(columns)].astype(columns).reset_index(drop=True)


def co_engaged_text_pairs(
    engagements: pd.DataFrame, pins: pd.DataFrame, *, pairs_per_pin: int = CO_ENGAGED_PAIRS_PER_PIN, seed: int = 0
) -> pd.DataFrame:
    """(query, pin_id) rows from engagements (user_id, pin_id, ts) on any surface: the text of
    the pin a user engaged with just before stands in for the query of the pin engaged next.

    A user's repeated engagements with a pin count once, at the first; ties in time go by pin id.
    At most ``pairs_per_pin`` pairs per catalogue pin are kept, drawn uniformly with ``seed``.
    """
    known = engagements[engagements["pin_id"].isin(pins["pin_id"])]
    ordered = known.sort_values(["user_id", "ts", "pin_id"], kind="stable").drop_duplicates(["user_id", "pin_id"])
    users, pin_ids = ordered["user_id"].to_numpy(), ordered["pin_id"].to_numpy(dtype=np.int64)
    follows = users[1:] == users[:-1]
    text = pd.Series(pin_texts(pins), index=pins["pin_id"].to_numpy(), dtype="string")
    pairs = pd.DataFrame(
        {"query": text.loc[pin_ids[:-1][follows]].to_numpy(), "pin_id": pin_ids[1:][follows]}
    ).astype({"query": "string", "pin_id": "int64"})
    limit = pairs_per_pin * len(pins)
    return pairs.sample(n=limit, random_state=seed, ignore_index=True) if len(pairs) > limit else pairs


def training_pairs(
    search_pairs: pd.DataFrame, pins: pd.DataFrame, engagements: Callable[[], pd.DataFrame]
) -> tuple[str, pd.DataFrame]:
    """What the tower trains on and where it came from: ``search_pairs`` when there are at least
    ``MIN_SEARCH_PAIRS`` of them, else ``co_engaged_text_pairs`` of ``engagements()``, which is
    only read then."""
    if len(search_pairs) >= MIN_SEARCH_PAIRS:
        return SEARCH_ENGAGEMENTS, search_pairs
    return CO_ENGAGED_PIN_TEXT, co_engaged_text_pairs(engagements(), pins)


def train_text_tower(
    pairs: pd.DataFrame,
    pins: pd.DataFrame,
    config: TextTowerConfig,
    *,
    on_epoch: EpochCallback | None = None,
) -> tuple[TextTower, TrainingHistory]:
    """Train the tower on ``training_pairs`` output; deterministic for ``config.seed``.

    Each query is scored against its batch's engaged pins plus ``config.random_negatives``
    pins drawn uniformly from ``pins``, logQ-corrected by each pin's frequency in ``pairs``.
    Every epoch counts (``models.training.fit_epochs`` without validation); ``on_epoch(epoch,
    loss, nan)`` reports each one. The tower comes back in eval mode.
    """
    catalogue = pd.Index(pins["pin_id"])
    if not catalogue.is_unique:
        raise ValueError("pins has repeated pin_id values")
    if len(pairs) == 0:
        raise ValueError("no training pairs")
    rows = catalogue.get_indexer(pairs["pin_id"])
    if (rows < 0).any():
        raise ValueError(f"{int((rows < 0).sum())} pairs engage pins missing from pins")
    queries = _TokenizedTexts(pairs["query"].astype("string").fillna("").tolist(), config.tokenizer)
    pin_tokens = _TokenizedTexts(pin_texts(pins), config.tokenizer)
    log_q = torch.from_numpy(log_q_from_counts(np.bincount(rows, minlength=len(catalogue))))
    sampler = NegativeSampler(len(catalogue))

    # A private RNG stream makes runs repeatable without disturbing the caller's torch seed;
    # small sparse steps: a second thread only adds synchronisation (6x slower on a busy machine).
    with torch.random.fork_rng(devices=[]), one_torch_thread():
        torch.manual_seed(config.seed)
        model = TextTower(config)
        optimizers = sparse_and_dense_adam(model, config.lr)

        def train_epoch(epoch: int) -> float:
            total = 0.0
            for batch in torch.randperm(len(pairs)).split(config.batch_size):
                positive_ids = torch.from_numpy(rows[batch.numpy()])
                random_ids, random_log_q = sampler.draw(config.random_negatives)
                # Positives and random negatives are both pins: one forward pass for the two.
                pin_vectors = model(*pin_tokens.select(torch.cat([positive_ids, random_ids]).numpy()))
                loss = sampled_softmax_loss(
                    model(*queries.select(batch.numpy())),
                    pin_vectors[: len(batch)],
                    positive_log_q=log_q[positive_ids],
                    random_negatives=pin_vectors[len(batch) :],
                    random_log_q=random_log_q,
                    positive_ids=positive_ids,
                    random_ids=random_ids,
                    temperature=config.temperature,
                )
                total += descend(loss, optimizers) * len(batch)
            return total / len(pairs)

        history = fit_epochs(model, train_epoch, epochs=config.epochs, on_epoch=on_epoch)
    return model, history


def embed_texts(model: TextTower, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
    """Unit vectors float32 ``[len(texts), dim]``, computed in eval mode without autograd."""
    was_training = model.training
    model.eval()
    chunks = [np.empty((0, model.config.dim), dtype=np.float32)]
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                chunk = list(texts[start : start + batch_size])
                ids, offsets = tokenize(chunk, model.config.tokenizer)
                chunks.append(model(torch.from_numpy(ids), torch.from_numpy(offsets)).numpy())
    finally:
        model.train(was_training)
    return np.concatenate(chunks)


def save_text_tower(path: Path, model: TextTower, pin_vectors: PinVectorFile | None = None) -> None:
    """Write the tower's config and weights to one checkpoint file, with the catalogue's
    ``pin_vectors`` (``models.text_pin_vectors``) when given."""
    state = {"model": dict(model.state_dict())}
    if pin_vectors is not None:
        state |= pin_vector_state(pin_vectors)
    save_checkpoint(path, kind=CHECKPOINT_KIND, config=model.config, state=state)


def load_text_tower(path: Path) -> TextTower:
    """Rebuild the tower (in eval mode) from ``save_text_tower``'s file; ``CheckpointError``
    when the file is unusable."""
    config, state = load_checkpoint(path, kind=CHECKPOINT_KIND, config_type=TextTowerConfig)
    model = TextTower(config)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError, TypeError) as error:
        raise CheckpointError(
            f"checkpoint {path} state does not fit its config: {error}"
        ) from error
    return model.eval()
