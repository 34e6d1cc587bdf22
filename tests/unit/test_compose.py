"""docker-compose.yml and the Dockerfile, checked without Docker (which cannot run here): every
service the deployment needs is there with a health check, every LAYERLOOM_* variable they name is a
real setting, the commands are real subcommands, ports and volumes agree, and docs/deploy.md gives
the command for each step."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from layerloom.cli import build_parser
from layerloom.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES = COMPOSE["services"]
SETTINGS = set(Settings.model_fields)


def layerloom_variables(environment: dict[str, object]) -> set[str]:
    return {name for name in environment if name.startswith("LAYERLOOM_")}


def setting_name(variable: str) -> str:
    return variable.removeprefix("LAYERLOOM_").lower()


def test_every_service_of_the_cluster_is_there_with_a_health_check() -> None:
    assert {"api", "worker", "postgres", "redis", "minio"} <= set(SERVICES)
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


@pytest.mark.parametrize("name", ["api", "worker", "gpu-worker"])
def test_layerloom_services_name_only_real_settings(name: str) -> None:
    variables = layerloom_variables(SERVICES[name]["environment"])
    assert {"LAYERLOOM_DATABASE_URL", "LAYERLOOM_BROKER_URL", "LAYERLOOM_AUTH_MODE", "LAYERLOOM_DATA_DIR"} <= variables
    unknown = {v for v in variables if setting_name(v) not in SETTINGS}
    assert not unknown, f"{name} sets variables that no setting reads: {unknown}"
    assert SERVICES[name]["environment"]["LAYERLOOM_AUTH_MODE"] == "token"


def test_the_dockerfile_sets_only_real_settings_and_exposes_the_api_port() -> None:
    variables = set(re.findall(r"\b(LAYERLOOM_[A-Z_]+)=", DOCKERFILE))
    assert variables and all(setting_name(v) in SETTINGS for v in variables), variables
    port = re.search(r"LAYERLOOM_PORT=(\d+)", DOCKERFILE).group(1)
    assert re.search(rf"^EXPOSE {port}$", DOCKERFILE, re.M)
    assert SERVICES["api"]["environment"]["LAYERLOOM_PORT"] == port
    assert all(p.endswith(f":{port}:{port}") or p.endswith(f":{port}") for p in SERVICES["api"]["ports"])
    assert 'ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu' in DOCKERFILE  # CPU unless asked for CUDA
    assert "torch==2.13.0" in DOCKERFILE  # the version the project pins
    assert "torch==2.13.0" in (ROOT / "pyproject.toml").read_text()


def test_commands_are_real_subcommands_and_the_api_runs_without_a_worker() -> None:
    parser = build_parser()
    for name in ("api", "worker"):
        command = SERVICES[name]["command"]
        assert command[0] == "layerloom"
        parser.parse_args(command[1:])  # exits (SystemExit) on an unknown subcommand or option
    assert "--no-worker" in SERVICES["api"]["command"]
    check = SERVICES["worker"]["healthcheck"]["test"]
    assert check[1] == "layerloom" and parser.parse_args(check[2:]).check
    cmd = re.search(r'^CMD (\[.*\])$', DOCKERFILE, re.M).group(1)
    parser.parse_args(yaml.safe_load(cmd)[1:])


def test_the_gpu_worker_takes_the_gpu_queue_with_its_devices_and_valid_settings() -> None:
    """The values compose gives the workers (defaults of the ${VAR:-default} forms) are accepted as they
    would be at start-up: queues, devices and concurrency go through the worker's own checks."""
    from layerloom.worker.options import WorkerOptions

    def resolved(name: str) -> dict[str, str]:
        env = SERVICES[name]["environment"]
        values = {setting_name(k): re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v))
                  for k, v in env.items() if k.startswith("LAYERLOOM_WORKER_")}
        return values

    gpu = WorkerOptions.from_settings(Settings(**resolved("gpu-worker")))
    assert gpu.queues == ["gpu"] and gpu.devices == ["cuda:0"] and gpu.concurrency == 1
    assert SERVICES["gpu-worker"]["profiles"] == ["gpu"]  # only with --profile gpu: a CPU host starts none
    assert SERVICES["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    cpu = WorkerOptions.from_settings(Settings(**resolved("worker")))
    assert cpu.queues == ["default"] and cpu.devices == [] and cpu.concurrency == 1


def test_the_worker_scales_and_shares_no_volume_with_the_api() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N needs nothing unique
    # Files go through object storage: a worker mounts no named volume (each container gets the image's
    # own /data), so nothing is shared between containers but the database, Redis and MinIO.
    for name in ("worker", "gpu-worker"):
        assert not [v for v in SERVICES[name].get("volumes", []) if not v.split(":")[0].startswith("/")], name
    assert re.search(r"^VOLUME /data$", DOCKERFILE, re.M)
    assert SERVICES["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["api"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert "profiles" not in SERVICES["minio"]  # storage is part of the cluster, not an option


@pytest.mark.parametrize("name", ["api", "worker", "gpu-worker"])
def test_layerloom_services_use_the_object_storage(name: str) -> None:
    """Every service reaches MinIO by its compose name and port, with MinIO's own credentials, and the
    URL is one the settings accept."""
    env = SERVICES[name]["environment"]
    resolved = {k: re.sub(r"\$\{[A-Z_]+:[-?]([^}]*)\}", r"\1", str(v)) for k, v in env.items()}
    url = resolved["LAYERLOOM_STORAGE_URL"]
    assert url.startswith("s3://")
    endpoint = resolved["LAYERLOOM_STORAGE_ENDPOINT_URL"]
    assert endpoint == "http://minio:9000" and "server" in SERVICES["minio"]["command"]  # MinIO's API port
    assert "MINIO_ROOT_USER" in env["LAYERLOOM_STORAGE_ACCESS_KEY"]
    assert "${MINIO_ROOT_PASSWORD:?" in env["LAYERLOOM_STORAGE_SECRET_KEY"]
    settings = Settings(storage_url=url, storage_endpoint_url=endpoint, storage_region=resolved["LAYERLOOM_STORAGE_REGION"])
    bucket = settings.storage_url.removeprefix("s3://").split("/")[0]
    assert f"local/{bucket}" in " ".join(SERVICES["minio-init"]["entrypoint"])  # the bucket is created


def test_every_named_volume_is_declared() -> None:
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts the undeclared volume {source}"


def test_secrets_come_from_the_environment_not_the_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${POSTGRES_PASSWORD:?" in text and "${MINIO_ROOT_PASSWORD:?" in text
    example = (ROOT / ".env.example").read_text()
    assert "POSTGRES_PASSWORD=" in example


def test_the_deployment_guide_gives_the_command_for_each_step() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for command in ("docker compose up -d --build", "--scale worker=", "layerloom token create", "pg_dump",
                    "--build-arg TORCH_INDEX=", "layerloom serve --no-worker", "layerloom worker",
                    "LAYERLOOM_LEASE_SECONDS", "LAYERLOOM_ADMIN_USERS", "/metrics", "--devices", "--queues",
                    "--concurrency", "--profile gpu"):
        assert command in guide, command
    # Every file goes through object storage: the guide names its settings, and no longer a shared data_dir.
    for setting in ("LAYERLOOM_STORAGE_URL", "LAYERLOOM_STORAGE_ENDPOINT_URL", "LAYERLOOM_STORAGE_ACCESS_KEY",
                    "LAYERLOOM_STORAGE_SECRET_KEY", "LAYERLOOM_STORAGE_PRESIGN_DOWNLOADS"):
        assert setting in guide, setting
    assert "not yet through storage" not in guide.lower()
