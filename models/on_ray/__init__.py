"""The heavy steps on a Ray cluster: batch inference with Ray Data, training with Ray Train.

Each module imports ray inside its functions, so the models import without it. The caller
connects first (``ray.init``: orchestration's ``RayCluster`` resource does it for the assets).
"""
