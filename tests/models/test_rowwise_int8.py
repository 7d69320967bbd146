"""The 8-bit rowwise table: each value within half a step of its float, bag means as
``nn.EmbeddingBag(mode="mean")`` gives them (empty bags included), a quarter of the memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from models.rowwise_int8 import LEVELS, RowwiseInt8Table
from models.served.text_tower import bag_means


def _table(rows: int = 1_000, dim: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    table = (rng.normal(size=(rows, dim)) * rng.random((rows, 1))).astype(np.float32)
    table[7] = 0.25  # a constant row
    return table


def test_each_value_is_within_half_a_step_and_constant_rows_are_exact() -> None:
    table = _table()
    rows = RowwiseInt8Table(table)[np.arange(len(table))]
    step = (table.max(axis=1) - table.min(axis=1)) / LEVELS
    assert (np.abs(rows - table) <= step[:, None] / 2 + 1e-6).all()
    np.testing.assert_array_equal(rows[7], table[7])


@pytest.mark.parametrize("quantized", [False, True], ids=["float", "int8"])
def test_bag_means_match_the_torch_embedding_bag(quantized: bool) -> None:
    table = _table()
    ids = np.array([3, 3, 900, 7, 12, 5, 999])
    offsets = np.array([0, 3, 3, 6])  # the second bag is empty
    reference = nn.EmbeddingBag.from_pretrained(torch.from_numpy(table), mode="mean")
    expected = reference(torch.from_numpy(ids), torch.from_numpy(offsets)).numpy()
    means = bag_means(RowwiseInt8Table(table) if quantized else table, ids, offsets)
    assert means.shape == expected.shape and means.dtype == np.float32
    np.testing.assert_array_equal(means[1], np.zeros(table.shape[1]))
    np.testing.assert_allclose(means, expected, rtol=0, atol=0.02 if quantized else 1e-6)


def test_the_table_takes_about_a_quarter_of_the_float_memory() -> None:
    table = _table(rows=4_096, dim=128)
    quantized = RowwiseInt8Table(table)
    assert quantized.shape == table.shape
    assert quantized.nbytes < 0.27 * table.nbytes


def test_a_table_that_is_not_two_dimensional_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[rows, dim\]"):
        RowwiseInt8Table(np.zeros(4))
