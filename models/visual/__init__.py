"""Visual embedding (DESIGN.md section 1): a small CNN over pin images, one trunk, several heads.

``model`` holds the config, the network, the augmentation and batch embedding; ``training``
the joint topic / near-duplicate / style training and the signature-grouped split;
``held_out`` the held-out figures beside chance; ``artifact`` the saved version (weights plus
every pin's vector) and its alignment to a list of pin ids; ``catalogue`` the whole fit over a
catalogue, rendering each pin's image from its category and signature (``core.sources.images``).
The other modules take images as uint8 arrays.
"""

from models.visual.artifact import CHECKPOINT_KIND, VisualArtifact
from models.visual.catalogue import PinVisuals, fit_pin_visuals, one_torch_thread, render_pins
from models.visual.held_out import evaluate_visual, r_squared
from models.visual.model import (
    STYLE_TARGETS,
    VisualCNN,
    VisualConfig,
    VisualPredictions,
    embed_images,
    style_targets,
)
from models.visual.training import split_by_signature, train_visual

__all__ = [
    "CHECKPOINT_KIND",
    "PinVisuals",
    "STYLE_TARGETS",
    "VisualArtifact",
    "VisualCNN",
    "VisualConfig",
    "VisualPredictions",
    "embed_images",
    "evaluate_visual",
    "fit_pin_visuals",
    "one_torch_thread",
    "r_squared",
    "render_pins",
    "split_by_signature",
    "style_targets",
    "train_visual",
]
