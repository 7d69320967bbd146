"""The 8-bit rowwise table: each value within half a step of its float, bag means as
``nn.EmbeddingBag(mode="mean")`` gives them (empty bags included), a quarter of the memory."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models.rowwise_int8 import LEVELS, RowwiseInt8Bag


def _table(rows: int = 1_000, dim: int = 16) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(rows, dim, generator=generator) * torch.rand(rows, 1, generator=generator)
    table[7] = 0.25  # a constant row
    return table


def test_each_value_is_within_half_a_step_and_constant_rows_are_exact() -> None:
    table = _table()
    bag = RowwiseInt8Bag(table)
    rows = bag.rows(torch.arange(len(table)))
    step = (table.max(dim=1).values - table.min(dim=1).values) / LEVELS
    assert ((rows - table).abs() <= step[:, None] / 2 + 1e-6).all()
    assert torch.equal(rows[7], table[7])


def test_bag_means_match_the_float_embedding_bag() -> None:
    table = _table()
    reference = nn.EmbeddingBag.from_pretrained(table, mode="mean")
    ids = torch.tensor([3, 3, 900, 7, 12, 5, 999])
    offsets = torch.tensor([0, 3, 3, 6])  # the second bag is empty
    quantized = RowwiseInt8Bag(table)(ids, offsets)
    expected = reference(ids, offsets)
    assert quantized.shape == expected.shape
    assert torch.equal(quantized[1], torch.zeros(table.shape[1]))
    torch.testing.assert_close(quantized, expected, rtol=0, atol=0.02)


def test_the_table_takes_about_a_quarter_of_the_float_memory() -> None:
    table = _table(rows=4_096, dim=128)
    bag = RowwiseInt8Bag(table)
    held = sum(buffer.numel() * buffer.element_size() for buffer in bag.buffers())
    assert held < 0.27 * table.numel() * table.element_size()
    assert not list(bag.parameters())


def test_a_table_that_is_not_two_dimensional_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[rows, dim\]"):
        RowwiseInt8Bag(torch.zeros(4))
