"""What each asset step's pod asks Kubernetes for, declared here once, and the executor that
launches every step of a run as a pod of its own (``k8s_job_executor``).

Steps that train a model hold the world's events, the catalogue's features and the model at once:
they ask for TRAINING, and for ``CORKBOARD_TRAINING_GPUS`` GPUs where the cluster has them. Every
other step loads, joins or indexes, and asks for STEP. docs/deploy.md ("Step pods") says where
the figures come from. The run's own pod only starts and watches the step pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import ExecutorDefinition
from dagster_k8s import k8s_job_executor

from orchestration.automation import RETRAINED_NIGHTLY

GPU = "nvidia.com/gpu"


@dataclass(frozen=True)
class PodSize:
    """A step container's CPU and memory request, memory limit and GPUs."""

    cpu: str
    memory: str
    memory_limit: str
    gpus: int = 0

    def k8s_config(self) -> dict[str, Any]:
        """The ``dagster-k8s/config`` of a step of this size (container resources; a GPU node's toleration)."""
        limits: dict[str, Any] = {"memory": self.memory_limit}
        pod_spec: dict[str, Any] = {}
        if self.gpus:
            limits[GPU] = self.gpus
            pod_spec = {"tolerations": [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]}
        resources = {"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits}
        return {"container_config": {"resources": resources}, "pod_spec_config": pod_spec}


STEP = PodSize(cpu="500m", memory="2Gi", memory_limit="6Gi")
TRAINING = PodSize(cpu="2", memory="8Gi", memory_limit="12Gi")
TRAINING_STEPS: tuple[str, ...] = tuple(asset.op.name for asset in RETRAINED_NIGHTLY)


def step_pods_config(training_gpus: int) -> dict[str, Any]:
    """The ``k8s_job_executor`` config: STEP for every step, TRAINING (with ``training_gpus``) for the training ones."""
    training = PodSize(TRAINING.cpu, TRAINING.memory, TRAINING.memory_limit, training_gpus)
    return {
        "step_k8s_config": STEP.k8s_config(),
        "per_step_k8s_config": {name: training.k8s_config() for name in TRAINING_STEPS},
    }


def step_pods_executor(training_gpus: int) -> ExecutorDefinition:
    """``k8s_job_executor`` with each step's size; everything else (image, namespace, settings,
    volumes, security contexts) comes from the instance's ``K8sRunLauncher``."""
    return k8s_job_executor.configured(step_pods_config(training_gpus), name="step_pods")
