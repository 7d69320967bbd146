"""RowSparseAdam makes SparseAdam's updates exactly, at the read rows alone."""

import pytest
import torch
from torch import nn

from models.row_sparse_adam import RowSparseAdam


def _tables() -> tuple[nn.Embedding, nn.Embedding]:
    torch.manual_seed(0)
    return nn.Embedding(50, 8, sparse=True), nn.Embedding(30, 4, sparse=True)


def _steps(optimizer_type: type[torch.optim.Optimizer]) -> list[torch.Tensor]:
    tables = _tables()
    optimizer = optimizer_type([table.weight for table in tables], lr=0.05, betas=(0.8, 0.95))
    generator = torch.Generator().manual_seed(1)
    for _ in range(6):
        optimizer.zero_grad()
        for table in tables:
            rows = torch.randint(table.num_embeddings // 2, (12,), generator=generator)  # repeats: uncoalesced
            target = torch.randn(12, table.embedding_dim, generator=generator)
            (table(rows) - target).square().sum().backward()
        optimizer.step()
    return [table.weight.detach() for table in tables]


def test_the_same_weights_as_sparse_adam_to_the_last_bit_and_unread_rows_untouched():
    ours, torchs = _steps(RowSparseAdam), _steps(torch.optim.SparseAdam)
    for mine, theirs, start in zip(ours, torchs, _tables(), strict=True):
        assert torch.equal(mine, theirs)
        assert not torch.equal(mine, start.weight)
        upper = mine.shape[0] // 2  # rows above the draws' range were never read
        assert torch.equal(mine[upper:], start.weight.detach()[upper:])


def test_a_dense_gradient_is_refused():
    weight = nn.Parameter(torch.zeros(3, 2))
    weight.grad = torch.ones(3, 2)
    with pytest.raises(RuntimeError, match="sparse gradients"):
        RowSparseAdam([weight]).step()
