"""The definitions the Kubernetes deployment loads (deploy/k8s/dagster.yaml's workspace): corkboard's,
with every asset step in a pod of its own, sized by orchestration/step_pods.py."""

from core.settings import get_settings
from orchestration.definitions import corkboard_definitions
from orchestration.step_pods import step_pods_executor

defs = corkboard_definitions(executor=step_pods_executor(get_settings().training_gpus))
