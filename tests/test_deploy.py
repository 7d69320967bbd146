"""The deployment files agree with the code: settings they set exist, commands they run exist."""

from pathlib import Path

import yaml

from corkboard.cli import build_parser
from corkboard.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_compose_sets_only_real_settings_and_runs_real_commands():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    fields = {f"CORKBOARD_{name.upper()}" for name in Settings.model_fields}
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for name, service in compose["services"].items():
        for variable in (v for v in service.get("environment", {}) if v.startswith("CORKBOARD_")):
            assert variable in fields, f"{name} sets unknown setting {variable}"
        command = service.get("command", [])
        if command and command[0] == "corkboard":
            assert command[1] in commands, f"{name} runs unknown command {command[1]}"


def test_dockerfile_copies_every_package_and_drops_root():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for package in ("corkboard", "features", "models", "orchestration", "service", "sql"):
        assert f"COPY {package} {package}" in dockerfile
    assert "USER corkboard" in dockerfile
