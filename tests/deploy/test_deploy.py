"""The deployment files agree with the code (settings, commands, images, probes, users, configs) and keep
secrets required, out of kustomize's reach, pods unprivileged and the runtime image without a compiler."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config, validate_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster_k8s import K8sRunLauncher
from dagster_postgres import DagsterPostgresStorage

from corkboard.cli import build_parser
from core.settings import Settings
from orchestration.definitions import defs

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
SETTINGS = {f"CORKBOARD_{name.upper()}" for name in Settings.model_fields}
BUILT_IMAGE = "corkboard"  # what deploy/Dockerfile builds; compose tags it, kustomize maps it
PINNED = re.compile(r"^[\w./-]+:[\w.-]*\d[\w.-]*$")  # a tag with a version number, not 'latest'
SECRET = "corkboard-secrets"  # created by the operator from k8s/secrets.env.example, not by kustomize
PROXY_SECRET = "dagster-oauth2-proxy"  # likewise, from k8s/oauth2-proxy.env.example
COMPOSE_SECRETS = ("POSTGRES_PASSWORD", "CORKBOARD_API_KEYS")
HARDENED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def manifests() -> list[dict[str, Any]]:
    """Every Kubernetes object listed by kustomization.yaml, in file order."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name -> pod spec of every workload: each Deployment, and each group of a RayCluster (NAME/head, NAME/GROUP)."""
    specs = {obj["metadata"]["name"]: obj["spec"]["template"]["spec"] for obj in objects if obj["kind"] == "Deployment"}
    for cluster in (obj for obj in objects if obj["kind"] == "RayCluster"):
        name, spec = cluster["metadata"]["name"], cluster["spec"]
        specs[f"{name}/head"] = spec["headGroupSpec"]["template"]["spec"]
        specs.update({f"{name}/{group['groupName']}": group["template"]["spec"] for group in spec["workerGroupSpecs"]})
    return specs


def secret_keys(example: str = "secrets.env.example") -> list[str]:
    """The keys ``example`` gives its Secret, in file order."""
    lines = (K8S / example).read_text().splitlines()
    return [line.split("=", 1)[0] for line in lines if line.strip() and not line.startswith("#")]


def dockerfile_stages() -> list[str]:
    """The text of each build stage of deploy/Dockerfile, from its FROM line."""
    return re.split(r"^(?=FROM )", (DEPLOY / "Dockerfile").read_text(), flags=re.MULTILINE)[1:]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def k8s_dagster_instance() -> dict[str, Any]:
    return yaml.safe_load(by_kind(manifests(), "ConfigMap")["dagster-instance"]["data"]["dagster.yaml"])


def app_paths() -> set[str]:
    from service.app import create_app

    return set(create_app().openapi()["paths"])


def cli_commands() -> set[str]:
    return set(build_parser()._subparsers._group_actions[0].choices)


def test_compose_sets_only_real_settings_and_runs_real_commands():
    services = compose()["services"]
    assert {"postgres", "api", "dagster-webserver", "dagster-daemon"} <= set(services)
    for name, service in services.items():
        for variable in (v for v in service.get("environment", {}) if v.startswith("CORKBOARD_")):
            assert variable in SETTINGS, f"{name} sets unknown setting {variable}"
        command = service.get("command", [])
        if command and command[0] == "corkboard":
            assert command[1] in cli_commands(), f"{name} runs unknown command {command[1]}"
    assert services["api"]["environment"]["CORKBOARD_ONLINE_STORE"] == "postgres"  # Feast online store on Postgres


def test_compose_images_are_built_here_or_pinned_and_postgres_has_pgvector():
    for name, service in compose()["services"].items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
            assert service["image"].split(":")[0] == BUILT_IMAGE, name
        assert PINNED.match(service["image"]), f"{name}: image {service['image']} is not pinned"
    assert compose()["services"]["postgres"]["image"].startswith("pgvector/pgvector:")
    assert compose()["services"]["postgres"]["shm_size"]  # room for parallel HNSW builds
    assert "shared_buffers=1GB" in compose()["services"]["postgres"]["command"]  # the served partitions' pages


def test_docker_compose_config_renders():
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "compose", "version"], check=False, capture_output=True).returncode
    ):
        pytest.skip("docker compose is not installed here")
    result = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        check=False,
        capture_output=True,
        text=True,
        env={"CORKBOARD_API_KEYS": "test", "POSTGRES_PASSWORD": "test", "PATH": "/usr/bin:/usr/local/bin"},
    )
    assert result.returncode == 0, result.stderr
    without_password = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        check=False,
        capture_output=True,
        text=True,
        env={"CORKBOARD_API_KEYS": "test", "PATH": "/usr/bin:/usr/local/bin"},
    )
    assert without_password.returncode != 0 and "POSTGRES_PASSWORD" in without_password.stderr


def test_compose_requires_every_secret_and_defaults_none():
    text = (DEPLOY / "compose.yaml").read_text()
    for name in COMPOSE_SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses, f"{name} is not used"
        assert all(use.startswith(":?") and len(use) > 2 for use in uses), f"{name} is not required everywhere: {uses}"
    services = compose()["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "${POSTGRES_PASSWORD:?" in services["api"]["environment"]["CORKBOARD_DATABASE_URL"]


def test_dockerfile_copies_every_package_pins_installs_and_drops_root():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    builder = dockerfile_stages()[0]
    with (DEPLOY.parent / "pyproject.toml").open("rb") as project:
        packages = tomllib.load(project)["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in (pattern.rstrip("*") for pattern in packages):
        assert f"COPY {package} {package}" in builder
    for base in re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE):
        assert PINNED.match(base), f"base image {base} is not pinned"
    # Installs go through the Makefile, which pins every package with constraints.txt.
    assert "make install" in dockerfile and "-c constraints.txt" in (DEPLOY.parent / "Makefile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1].split(":")[0].isdigit() and int(users[-1].split(":")[0]) != 0
    for source in re.findall(r"^COPY (deploy/\S+)", dockerfile, re.MULTILINE):
        assert (DEPLOY.parent / source).exists(), source


def pins(lines: list[str]) -> dict[str, str]:
    """name -> version of every ``name==version`` requirement in ``lines`` (extras dropped)."""
    found = (re.match(r"^([\w.-]+)(?:\[[\w,]+\])?==([\w.]+)$", line.strip()) for line in lines)
    return {match.group(1).lower().replace("_", "-"): match.group(2) for match in found if match}


def test_dagster_and_its_integrations_are_one_release_and_installed_with_the_project():
    """The integrations are released in lockstep: library 0.N.P with dagster 1.M.P."""
    with (DEPLOY.parent / "pyproject.toml").open("rb") as project:
        direct = pins(tomllib.load(project)["project"]["dependencies"])
    constrained = pins((DEPLOY.parent / "constraints.txt").read_text().splitlines())
    release = direct["dagster"]
    patch = release.split(".")[2]
    for integration in ("dagster-postgres", "dagster-k8s"):
        assert direct[integration].split(".")[2] == patch, (integration, direct[integration], release)
        assert constrained[integration] == direct[integration] == version(integration)
    for package in ("dagster", "dagster-webserver", "dagster-graphql", "dagster-pipes", "dagster-shared"):
        assert constrained[package] == release == version(package), package


def test_runtime_image_has_no_compiler_and_keeps_the_builders_paths():
    builder, runtime = dockerfile_stages()
    stage = re.match(r"FROM \S+ AS (\w+)", builder).group(1)
    assert re.search(r"apt-get install .*\bgcc\b", builder) and "make install" in builder
    instructions = "\n".join(line for line in runtime.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\b(gcc|g\+\+|make|build-essential|libc6-dev|clang)\b", instructions)
    assert f"COPY --from={stage} /app /app" in runtime  # code and .venv at the paths the venv's scripts name
    assert re.search(r"^WORKDIR /app$", builder, re.MULTILINE) and re.search(r"^WORKDIR /app$", runtime, re.MULTILINE)
    assert "PATH=/app/.venv/bin:$PATH" in runtime
    assert "libgomp1" in runtime  # libdgl.so links the system OpenMP, which gcc brought in before
    users = re.findall(r"^USER (\S+)", runtime, re.MULTILINE)
    assert users == ["10001:10001"]
    assert re.search(r"^CMD \[\"corkboard\", \"serve\"", runtime, re.MULTILINE)
    # Pods mount the root read-only: DGL must not write its backend choice to ~/.dgl.
    assert "DGLBACKEND=pytorch" in runtime


def test_the_image_installs_without_the_test_extra():
    builder = dockerfile_stages()[0]
    install = re.search(r"make install[^\n\\&]*", builder).group(0)
    assert "EXTRAS=" in install.split(), install
    if shutil.which("make") is None:
        pytest.skip("make is not installed here")
    dry_run = subprocess.run(
        ["make", "-n", "-B", *install.split()[1:]], cwd=DEPLOY.parent, check=True, capture_output=True, text=True
    ).stdout
    assert '-c constraints.txt -e "."' in dry_run and "[test]" not in dry_run


def instance_configs(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """compose's and the cluster's dagster.yaml, each loaded and validated by Dagster's instance schema."""
    cluster_home = tmp_path / "k8s"
    cluster_home.mkdir()
    (cluster_home / "dagster.yaml").write_text(yaml.safe_dump(k8s_dagster_instance()))
    return {
        "compose": dagster_instance_config(str(DEPLOY / "dagster"))[0],
        "k8s": dagster_instance_config(str(cluster_home))[0],
    }


def test_dagster_instances_and_workspace_are_valid(tmp_path: Path):
    configs = instance_configs(tmp_path)
    for name, config in configs.items():
        coordinator = config["run_coordinator"]
        assert coordinator["class"] == "QueuedRunCoordinator"
        assert validate_config(QueuedRunCoordinator.config_type(), coordinator["config"]).success
        # Run, event and schedule storage in Postgres, its URL from the environment, never in the file.
        assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}, name
        assert validate_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"]).success
    launcher = configs["k8s"]["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert validate_config(K8sRunLauncher.config_type(), launcher["config"]).success
    assert "run_launcher" not in configs["compose"]  # the daemon's subprocesses
    workspace = yaml.safe_load((DEPLOY / "dagster" / "workspace.yaml").read_text())
    assert workspace["load_from"] == [{"python_module": "orchestration.definitions"}]
    cluster_workspace = yaml.safe_load(by_kind(manifests(), "ConfigMap")["dagster-instance"]["data"]["workspace.yaml"])
    assert cluster_workspace["load_from"] == [{"python_module": "orchestration.kubernetes"}]


def test_compose_gives_dagster_its_own_postgres_database():
    services = compose()["services"]
    for name in ("api", "dagster-webserver", "dagster-daemon"):  # the api container runs `corkboard materialize`
        url = services[name]["environment"]["DAGSTER_PG_URL"]
        assert url.startswith("postgresql+psycopg2://corkboard:${POSTGRES_PASSWORD:?"), url
        assert url.endswith("@postgres:5432/dagster"), url
        assert services[name]["depends_on"]["dagster-database"] == {"condition": "service_completed_successfully"}
        assert services[name]["command"][-1] == "/opt/dagster/dagster_home/workspace.yaml" or name == "api"
    creator = services["dagster-database"]
    assert creator["image"] == services["postgres"]["image"] and "createdb dagster" in creator["command"][-1]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in dockerfile
    assert "deploy/dagster/dagster.yaml /opt/dagster/dagster_home/" in dockerfile


def step_container(executor_config: dict[str, Any], step: str) -> dict[str, Any]:
    """The container config of ``step``'s pod as K8sStepHandler merges it: the run launcher's
    (from the cluster's instance), then the executor's for every step, then the step's own."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import UserDefinedDagsterK8sConfig

    launcher = k8s_dagster_instance()["run_launcher"]["config"]
    layers = (launcher["run_k8s_config"], executor_config["step_k8s_config"],
              executor_config["per_step_k8s_config"].get(step, {}))
    merged = K8sContainerContext()
    for layer in layers:
        merged = merged.merge(K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(layer)))
    return merged.run_k8s_config.container_config


def test_each_asset_step_runs_in_its_own_pod_sized_in_one_place():
    from dagster_k8s import k8s_job_executor

    from orchestration.kubernetes import defs as cluster_defs
    from orchestration.step_pods import STEP, TRAINING, TRAINING_STEPS, step_pods_config

    asset_job = cluster_defs.resolve_implicit_global_asset_job_def()
    for job in (asset_job, cluster_defs.resolve_job_def("refresh_models")):
        assert job.executor_def.name == "step_pods", job.name
    ops = {node.name for node in asset_job.graph.node_defs}
    assert set(TRAINING_STEPS) <= ops and {"two_tower_retrieval", "pinsage_embeddings", "ranker"} <= set(TRAINING_STEPS)
    assert mebibytes(TRAINING.memory) > mebibytes(STEP.memory)
    for gpus in (0, 1):
        processed = process_config(k8s_job_executor.config_schema.config_type, step_pods_config(gpus))
        assert processed.success, processed.errors
        for step in ("catalogue", "online_features", *TRAINING_STEPS):
            container = step_container(processed.value, step)
            size = TRAINING if step in TRAINING_STEPS else STEP
            resources = container["resources"]
            assert resources["requests"] == {"cpu": size.cpu, "memory": size.memory}, step
            assert resources["limits"]["memory"] == size.memory_limit, step
            assert resources["limits"].get("nvidia.com/gpu", 0) == (gpus if step in TRAINING_STEPS else 0), step
            # The run launcher's hardening reaches every step's pod.
            hardened = {"allow_privilege_escalation": False, "read_only_root_filesystem": True}
            assert container["security_context"] == {**hardened, "capabilities": {"drop": ["ALL"]}}


def test_local_runs_need_no_cluster_and_keep_sqlite_storage(session_data_dir: Path):
    from dagster._core.storage.runs import SqliteRunStorage

    from corkboard.materialize import dagster_instance

    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "multi_or_in_process_executor"
    instance = dagster_instance()
    assert isinstance(instance.run_storage, SqliteRunStorage), instance.run_storage
    assert Path(instance.root_directory).is_relative_to(session_data_dir)


def test_manifests_parse_and_each_is_a_named_kubernetes_object():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}, "a manifest is not listed"
    objects = manifests()
    for obj in objects:
        assert obj.get("apiVersion") and obj.get("kind") and obj.get("metadata", {}).get("name"), obj
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"} <= kinds


def test_manifests_images_are_built_here_or_pinned():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    mapped = {image["name"]: image for image in kustomization["images"]}
    assert PINNED.match(f"{mapped[BUILT_IMAGE]['newName']}:{mapped[BUILT_IMAGE]['newTag']}")
    for name, spec in pod_specs(manifests()).items():
        for container in spec["containers"]:
            image = container["image"]
            assert image == BUILT_IMAGE or PINNED.match(image), f"{name}: image {image} is neither built nor pinned"


def test_manifests_set_only_real_settings_and_keep_the_api_key_secret():
    objects = manifests()
    config_maps = by_kind(objects, "ConfigMap")
    variables = [*config_maps["corkboard-settings"]["data"], *secret_keys()]
    for spec in pod_specs(objects).values():
        variables += [env["name"] for container in spec["containers"] for env in container.get("env", [])]
    for variable in (v for v in variables if v.startswith("CORKBOARD_")):
        assert variable in SETTINGS, f"unknown setting {variable}"
    assert "CORKBOARD_API_KEYS" in secret_keys()
    assert "CORKBOARD_DATABASE_URL" in secret_keys()  # the managed Postgres
    assert k8s_dagster_instance()["storage"]["postgres"]["postgres_url"]["env"] in secret_keys()
    assert not {"CORKBOARD_API_KEYS", "CORKBOARD_DATABASE_URL"} & set(config_maps["corkboard-settings"]["data"])
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in objects} | {("Secret", SECRET), ("Secret", PROXY_SECRET)}
    for name, spec in pod_specs(objects).items():
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                kind, ref = (
                    ("ConfigMap", source["configMapRef"])
                    if "configMapRef" in source
                    else ("Secret", source["secretRef"])
                )
                assert (kind, ref["name"]) in names, f"{name} reads a missing {kind} {ref['name']}"
    launcher = k8s_dagster_instance()["run_launcher"]["config"]
    assert {("ConfigMap", n) for n in launcher["env_config_maps"]} | {
        ("Secret", n) for n in launcher["env_secrets"]
    } <= names


def test_api_probes_hit_real_routes_and_scale_out():
    objects = manifests()
    api = by_kind(objects, "Deployment")["corkboard-api"]
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    paths = app_paths()
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] in paths, probe
    assert container["command"][:2] == ["corkboard", "serve"] and "serve" in cli_commands()
    assert api["spec"]["replicas"] >= 2
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["corkboard-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "corkboard-api" and hpa["spec"]["maxReplicas"] > 2
    service = by_kind(objects, "Service")["corkboard-api"]
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]


def test_every_pod_runs_as_a_non_root_user():
    contexts = {name: spec["securityContext"] for name, spec in pod_specs(manifests()).items()}
    launcher = k8s_dagster_instance()["run_launcher"]["config"]
    contexts["dagster run pods"] = launcher["run_k8s_config"]["pod_spec_config"]["security_context"]
    for name, context in contexts.items():
        assert context["runAsNonRoot"] is True and context["runAsUser"] != 0, name


def test_every_container_drops_privileges_and_writes_only_to_volumes():
    containers = {
        f"{name}/{container['name']}": (container, spec["volumes"])
        for name, spec in pod_specs(manifests()).items()
        for container in spec["containers"]
    }
    launcher = k8s_dagster_instance()["run_launcher"]["config"]
    run_container = {
        "securityContext": launcher["run_k8s_config"]["container_config"]["security_context"],
        "volumeMounts": launcher["volume_mounts"],
    }
    containers["dagster run pods"] = (run_container, launcher["volumes"])
    for name, (container, volumes) in containers.items():
        assert container["securityContext"] == HARDENED, name
        # Numba and matplotlib cache under /tmp; the root filesystem is read-only.
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        scratch = {volume["name"]: volume for volume in volumes}[mounts["/tmp"]]
        assert "emptyDir" in scratch, name


def test_dagster_writes_its_local_files_to_the_shared_volume():
    instance = k8s_dagster_instance()
    storages = {"local_artifact_storage": LocalArtifactStorage, "compute_logs": LocalComputeLogManager}
    for key, storage in storages.items():
        config = instance[key]["config"]
        assert (instance[key]["module"], instance[key]["class"]) == (storage.__module__, storage.__name__)
        assert validate_config(storage.config_type(), config).success, key
        assert Path(config["base_dir"]).is_relative_to("/data"), key


def test_kubectl_apply_cannot_replace_the_secret():
    objects = manifests()
    assert "Secret" not in {obj["kind"] for obj in objects}
    referenced = {
        source["secretRef"]["name"]
        for spec in pod_specs(objects).values()
        for container in spec["containers"]
        for source in container.get("envFrom", [])
        if "secretRef" in source
    }
    assert referenced | set(k8s_dagster_instance()["run_launcher"]["config"]["env_secrets"]) == {SECRET, PROXY_SECRET}
    examples = {SECRET: "secrets.env.example", PROXY_SECRET: "oauth2-proxy.env.example"}
    for name, example in examples.items():
        assert f"kubectl -n corkboard create secret generic {name}" in (K8S / example).read_text()
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed here")
    for name, example in examples.items():
        created = subprocess.run(
            ["kubectl", "create", "secret", "generic", name, "--dry-run=client", "-o", "yaml",
             f"--from-env-file={K8S / example}"],
            check=False, capture_output=True, text=True, timeout=60,
        )
        assert created.returncode == 0, created.stderr
        assert sorted(yaml.safe_load(created.stdout)["data"]) == sorted(secret_keys(example))


def test_the_refresh_is_scheduled_in_dagster_and_run_by_the_one_daemon():
    objects = manifests()
    assert not {obj["kind"] for obj in objects} & {"CronJob", "Job"}  # nothing outside Dagster starts a refresh
    daemon = by_kind(objects, "Deployment")["dagster-daemon"]
    assert daemon["spec"]["replicas"] == 1
    assert daemon["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["dagster-daemon", "run"]
    assert compose()["services"]["dagster-daemon"]["command"][:2] == ["dagster-daemon", "run"]
    repository = defs.get_repository_def()
    instigators = [*repository.sensor_defs, *repository.schedule_defs]
    assert {"refresh_policy", "drop_folder", "freshness", "daily_events_schedule"} <= {i.name for i in instigators}
    assert all(instigator.default_status.value == "RUNNING" for instigator in instigators)


def test_dagster_volumes_the_manifests_name_exist():
    objects = manifests()
    claims = set(by_kind(objects, "PersistentVolumeClaim"))
    assert by_kind(objects, "PersistentVolumeClaim")["corkboard-data"]["spec"]["accessModes"] == ["ReadWriteMany"]
    launcher = k8s_dagster_instance()["run_launcher"]["config"]
    claimed = {v["persistentVolumeClaim"]["claimName"] for v in launcher["volumes"] if "persistentVolumeClaim" in v}
    assert claimed and claimed <= claims
    assert launcher["instance_config_map"] in by_kind(objects, "ConfigMap")
    assert launcher["service_account_name"] in by_kind(objects, "ServiceAccount")


def test_kustomize_renders_the_manifests_offline():
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed here")
    result = subprocess.run(["kubectl", "kustomize", str(K8S)], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in rendered) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in manifests()
    )
    assert all(o["metadata"].get("namespace") == "corkboard" for o in rendered if o["kind"] != "Namespace")
    assert "Secret" not in {o["kind"] for o in rendered}  # so `kubectl apply -k` leaves the real one alone
    images = {c["image"] for spec in pod_specs(rendered).values() for c in spec["containers"]}
    assert all(PINNED.match(image) for image in images), images
    dagster_pods = [pod_specs(rendered)[name]["containers"][0] for name in ("dagster-daemon", "dagster-webserver")]
    for container in dagster_pods:  # run pods get the same image through DAGSTER_CURRENT_IMAGE
        assert {e["name"]: e["value"] for e in container["env"]}["DAGSTER_CURRENT_IMAGE"] == container["image"]
    # Each run's pod launches its steps' Jobs (k8s_job_executor) under the dagster-run account.
    binding = by_kind(rendered, "RoleBinding")["dagster-launch-runs"]
    launcher = k8s_dagster_instance()["run_launcher"]["config"]
    assert {"kind": "ServiceAccount", "name": launcher["service_account_name"], "namespace": "corkboard"} in binding[
        "subjects"
    ]
    rules = by_kind(rendered, "Role")["dagster-launch-runs"]["rules"]
    assert any("jobs" in rule["resources"] and "create" in rule["verbs"] for rule in rules)


def test_the_ray_cluster_is_the_one_the_steps_join_with_the_same_ray():
    objects = manifests()
    cluster = by_kind(objects, "RayCluster")["corkboard-ray"]
    assert cluster["spec"]["rayVersion"] == version("ray")  # Ray Client needs one release on both sides
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    client_port = {port["name"]: port["containerPort"] for port in head["ports"]}["client"]
    settings = by_kind(objects, "ConfigMap")["corkboard-settings"]["data"]
    # KubeRay names the head's Service CLUSTER-head-svc.
    assert settings["CORKBOARD_RAY_ADDRESS"] == f"ray://corkboard-ray-head-svc:{client_port}"
    assert int(settings["CORKBOARD_RAY_WORKERS"]) >= 1
    specs = {name: spec for name, spec in pod_specs(objects).items() if name.startswith("corkboard-ray/")}
    workers = cluster["spec"]["workerGroupSpecs"]
    cpus = sum(group["replicas"] * float(group["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"])
               for group in workers)
    assert cpus > int(settings["CORKBOARD_RAY_WORKERS"])  # a CPU per worker, and some for Ray Data's tasks
    for name, spec in specs.items():
        container = spec["containers"][0]
        assert container["image"] == BUILT_IMAGE, name  # imports the same models as the step pods
        # Ray Train checkpoints under the shared volume, which the step pods read back.
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        claim = {volume["name"]: volume for volume in spec["volumes"]}[mounts["/data"]]["persistentVolumeClaim"]
        assert claim["claimName"] == "corkboard-data", name
    policy = by_kind(objects, "NetworkPolicy")["corkboard-ray"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"ray.io/cluster": "corkboard-ray"}
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]  # this namespace's pods only


def test_compose_publishes_the_dagster_ui_on_loopback_only():
    for mapping in compose()["services"]["dagster-webserver"]["ports"]:
        assert str(mapping).startswith("127.0.0.1:"), mapping


def test_the_dagster_ui_is_reached_only_through_the_authenticating_proxy():
    objects = manifests()
    pod = pod_specs(objects)["dagster-webserver"]
    containers = {container["name"]: container for container in pod["containers"]}
    webserver, proxy = containers["webserver"], containers["oauth2-proxy"]
    command = webserver["command"]
    assert command[command.index("-h") + 1] == "127.0.0.1" and "ports" not in webserver
    assert proxy["image"].startswith("quay.io/oauth2-proxy/oauth2-proxy:") and PINNED.match(proxy["image"])
    assert f"--upstream=http://127.0.0.1:{command[command.index('-p') + 1]}" in proxy["args"]
    assert proxy["envFrom"] == [{"secretRef": {"name": PROXY_SECRET}}]
    assert {"OAUTH2_PROXY_CLIENT_SECRET", "OAUTH2_PROXY_COOKIE_SECRET"} <= set(secret_keys("oauth2-proxy.env.example"))
    service = by_kind(objects, "Service")["dagster-webserver"]
    deployment = by_kind(objects, "Deployment")["dagster-webserver"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    proxy_ports = {port["name"] for port in proxy["ports"]} | {port["containerPort"] for port in proxy["ports"]}
    assert all(port["targetPort"] in proxy_ports for port in service["spec"]["ports"])


def measured(figure: str) -> list[float]:
    """Every service measurement of ``figure`` in docs/performance.md, e.g. startup_s (all worlds)."""
    text = (DEPLOY.parent / "docs" / "performance.md").read_text()
    rows = re.findall(r"^\| service\w* \| " + figure + r" \| ([\d,.]+) \|$", text, flags=re.MULTILINE)
    return [float(value.replace(",", "")) for value in rows]


def mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_api_startup_and_memory_fit_the_measured_service():
    container = by_kind(manifests(), "Deployment")["corkboard-api"]["spec"]["template"]["spec"]["containers"][0]
    startup = container["startupProbe"]
    window = startup.get("initialDelaySeconds", 0) + startup["periodSeconds"] * startup["failureThreshold"]
    slowest_start = max(measured("startup_s"))  # the large world's, today
    assert window >= 1.5 * slowest_start, (window, slowest_start)
    largest_state = max(measured("(?:rss|memory)_mb_after_load"))  # the bench's older blocks say rss
    resources = container["resources"]
    assert mebibytes(resources["requests"]["memory"]) >= 1.25 * largest_state  # one state, with headroom
    assert mebibytes(resources["limits"]["memory"]) >= 1.5 * 2 * largest_state  # two during a reload
    deadline_s = Settings.model_fields["database_deadline_ms"].default / 1000
    assert container["readinessProbe"]["timeoutSeconds"] > deadline_s  # /readyz may wait one deadline


def test_deployed_services_need_a_key_to_read_pages():
    """The local default opens reads (embedded database); compose and the cluster say no explicitly."""
    assert compose()["services"]["api"]["environment"]["CORKBOARD_TRUSTED_GATEWAY"] == "false"
    settings = by_kind(manifests(), "ConfigMap")["corkboard-settings"]["data"]
    assert settings["CORKBOARD_TRUSTED_GATEWAY"] == "false"
    assert Settings(database_url="postgresql://db/corkboard", trusted_gateway=False).open_reads is False
