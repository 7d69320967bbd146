"""Visual embedding (DESIGN.md section 1): a small CNN over pin images, one trunk, several heads.

``config`` holds the settings; ``model`` the network, the augmentation and batch embedding;
``training`` the joint topic / near-duplicate / style training and the signature-grouped split;
``held_out`` the held-out figures beside chance; ``artifact`` the saved version (weights plus
every pin's vector) and its alignment to a list of pin ids; ``catalogue`` the whole fit over a
catalogue, rendering each pin's image from its category and signature (``core.sources.images``).
``vectors`` reads every pin's vector of a saved version without the CNN. The other modules take
images as uint8 arrays. ``config`` and ``vectors`` are free of torch, and names are imported on
first use, so the service reads the vectors without importing torch.
"""

from __future__ import annotations


from models.lazy_exports import lazy_exports

_EXPORTS = {
    "CHECKPOINT_KIND": "config",
    "VisualConfig": "config",
    "load_visual_vectors": "vectors",
    "VisualArtifact": "artifact",
    "PinVisuals": "catalogue",
    "fit_pin_visuals": "catalogue",
    "one_torch_thread": "catalogue",
    "render_pins": "catalogue",
    "evaluate_visual": "held_out",
    "r_squared": "held_out",
    "STYLE_TARGETS": "model",
    "VisualCNN": "model",
    "VisualPredictions": "model",
    "embed_images": "model",
    "style_targets": "model",
    "split_by_signature": "training",
    "train_visual": "training",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
