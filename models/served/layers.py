"""The torch layers the served models use, as numpy functions over a torch state dict's arrays
(looked up by the module's name, as ``state_dict`` names them). Inference only: no dropout."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import erf

Weights = Mapping[str, np.ndarray]
LAYER_NORM_EPS = 1e-5  # torch's default
NORMALIZE_EPS = 1e-12  # F.normalize's default


def linear(x: np.ndarray, weights: Weights, name: str) -> np.ndarray:
    """``nn.Linear`` named ``name``: ``x @ weight.T + bias`` (no bias where it has none)."""
    out = x @ weights[f"{name}.weight"].T
    bias = weights.get(f"{name}.bias")
    return out if bias is None else out + bias


def relu(x: np.ndarray) -> np.ndarray:
    """``nn.ReLU``."""
    return np.maximum(x, 0, dtype=x.dtype)


def gelu(x: np.ndarray) -> np.ndarray:
    """``nn.GELU`` in its exact form, ``x * Phi(x)``."""
    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(x.dtype)


def layer_norm(x: np.ndarray, weights: Weights, name: str) -> np.ndarray:
    """``nn.LayerNorm`` named ``name`` over the last axis."""
    mean = x.mean(axis=-1, keepdims=True)
    variance = np.square(x - mean).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + LAYER_NORM_EPS) * weights[f"{name}.weight"] + weights[f"{name}.bias"]


def unit_rows(x: np.ndarray) -> np.ndarray:
    """``F.normalize(x, dim=-1)``: each row at unit length, a zero row left at zero."""
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, NORMALIZE_EPS)).astype(np.float32)


def causal_self_attention(
    x: np.ndarray, weights: Weights, name: str, heads: int, last: int | None = None
) -> np.ndarray:
    """``nn.MultiheadAttention`` named ``name`` over one sequence ``x`` ``[L, d]`` attending to
    itself, each position seeing itself and the positions before it only; the outputs of the
    ``last`` positions (default all), as only their queries are computed."""
    length, dim = x.shape
    last = length if last is None else last
    width = dim // heads
    projection, bias = weights[f"{name}.in_proj_weight"], weights[f"{name}.in_proj_bias"]
    q = x[length - last :] @ projection[:dim].T + bias[:dim]
    kv = x @ projection[dim:].T + bias[dim:]
    q = q.reshape(last, heads, width).transpose(1, 0, 2)
    k, v = (part.reshape(length, heads, width).transpose(1, 0, 2) for part in np.split(kv, 2, axis=-1))
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(width)  # [heads, last, L]
    scores[:, np.triu(np.ones((last, length), dtype=bool), k=length - last + 1)] = -np.inf
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    attended = (scores / scores.sum(axis=-1, keepdims=True)) @ v  # [heads, last, width]
    return linear(attended.transpose(1, 0, 2).reshape(last, dim), weights, f"{name}.out_proj")


def pre_norm_encoder_layer(
    x: np.ndarray, weights: Weights, name: str, heads: int, last: int | None = None
) -> np.ndarray:
    """``nn.TransformerEncoderLayer(norm_first=True, activation="gelu")`` named ``name`` over one
    sequence ``[L, d]``, with a causal mask; the outputs of the ``last`` positions (default all)."""
    last = len(x) if last is None else last
    attended = causal_self_attention(layer_norm(x, weights, f"{name}.norm1"), weights, f"{name}.self_attn", heads, last)
    x = x[len(x) - last :] + attended
    hidden = gelu(linear(layer_norm(x, weights, f"{name}.norm2"), weights, f"{name}.linear1"))
    return x + linear(hidden, weights, f"{name}.linear2")


def float32_weights(state: Mapping[str, np.ndarray], prefix: str = "") -> dict[str, np.ndarray]:
    """The float32 arrays of ``state`` whose names start with ``prefix``, the prefix cut off."""
    return {
        name[len(prefix):]: np.ascontiguousarray(array, dtype=np.float32)
        for name, array in state.items()
        if name.startswith(prefix)
    }
