"""A bag of distinct tokens is ``embedding_bag`` in value and gradient, with a smaller gradient."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.token_bags import bag_of_distinct_tokens


@pytest.mark.parametrize("mode", ["mean", "sum"])
def test_bags_and_gradients_equal_embedding_bags_with_a_row_per_distinct_token(mode: str) -> None:
    torch.manual_seed(0)
    table = nn.Embedding(1_000, 8, sparse=True)
    ids = torch.randint(0, 50, (400,))  # many repeats of few tokens
    offsets = torch.tensor([0, 0, 3, 150, 399])  # an empty bag and a bag of one

    bags = bag_of_distinct_tokens(table, ids, offsets, mode)
    (gradient,) = torch.autograd.grad(bags.pow(2).sum(), table.weight)
    expected = F.embedding_bag(ids, table.weight, offsets, mode=mode, sparse=True)
    (expected_gradient,) = torch.autograd.grad(expected.pow(2).sum(), table.weight)

    torch.testing.assert_close(bags, expected, rtol=0, atol=0)
    torch.testing.assert_close(gradient.to_dense(), expected_gradient.to_dense())
    # Rows stored before coalescing: one per distinct token, where embedding_bag stores one per position.
    assert gradient._nnz() == len(ids.unique()) < expected_gradient._nnz() == len(ids)
    with torch.no_grad():
        torch.testing.assert_close(bag_of_distinct_tokens(table, ids, offsets, mode), expected, rtol=0, atol=0)
