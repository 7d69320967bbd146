"""The numpy encoder layer of the served models: the outputs of its last positions alone are the
full layer's there, and the full layer is torch's."""

import numpy as np
import pytest
import torch
from torch import nn

from models.served.layers import float32_weights, pre_norm_encoder_layer

DIM, HEADS, LENGTH = 16, 2, 9


@pytest.fixture(scope="module")
def layer() -> nn.TransformerEncoderLayer:
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(
        DIM, HEADS, 4 * DIM, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    ).eval()


def weights_of(layer: nn.TransformerEncoderLayer) -> dict[str, np.ndarray]:
    """The layer's weights as the served models read them, under the name ``layer``."""
    return float32_weights({f"layer.{name}": value.numpy() for name, value in layer.state_dict().items()})


def test_the_full_layer_is_torchs_causal_layer(layer: nn.TransformerEncoderLayer) -> None:
    x = torch.randn(1, LENGTH, DIM)
    mask = nn.Transformer.generate_square_subsequent_mask(LENGTH)
    with torch.inference_mode():
        expected = layer(x, src_mask=mask, is_causal=True)[0].numpy()
    served = pre_norm_encoder_layer(x[0].numpy(), weights_of(layer), "layer", HEADS)
    np.testing.assert_allclose(served, expected, atol=1e-5)


@pytest.mark.parametrize("last", [1, 4, LENGTH])
def test_the_last_positions_alone_equal_the_full_layers_there(layer: nn.TransformerEncoderLayer, last: int) -> None:
    weights = weights_of(layer)
    x = np.random.default_rng(0).normal(size=(LENGTH, DIM)).astype(np.float32)
    full = pre_norm_encoder_layer(x, weights, "layer", HEADS)
    tail = pre_norm_encoder_layer(x, weights, "layer", HEADS, last)
    assert tail.shape == (last, DIM)
    np.testing.assert_allclose(tail, full[-last:], atol=1e-6)
