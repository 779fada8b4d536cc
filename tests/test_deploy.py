"""Deployment files, checked statically: the compose file by Debian's docker-compose, the
Kubernetes manifests against the API schemas (kubernetes-validate, offline), the accelerate
configs by accelerate's own loader, the Dockerfiles for what they promise. Each check is also
shown to reject a broken copy."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker" / "compose.yaml"
K8S = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))
HARDENED = ("service", "gpu-worker", "ray-head", "sandbox-node")


def _compose_config(path: Path) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (scripts/setup_system.sh installs it)")
    return subprocess.run(["docker-compose", "-f", str(path), "config"], capture_output=True,
                          text=True, cwd=path.parent, timeout=60)


@pytest.fixture(scope="module")
def compose() -> dict:
    done = _compose_config(COMPOSE)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_file_is_valid_and_has_every_part(compose):
    assert {"postgres", "service", "vllm", "gpu-worker", "ray-head", "sandbox-node"} <= set(compose["services"])


@pytest.mark.parametrize("name", HARDENED)
def test_compose_containers_that_run_candidates_are_hardened(compose, name):
    s = compose["services"][name]
    assert s["read_only"] is True
    assert s["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in s["security_opt"]
    assert s["pids_limit"] > 0 and s["mem_limit"]
    assert "privileged" not in s


def test_compose_never_mounts_the_docker_socket(compose):
    for name, s in compose["services"].items():
        mounts = [str(v.get("source", v) if isinstance(v, dict) else v) for v in s.get("volumes", [])]
        assert not any("docker.sock" in m for m in mounts), name


def test_compose_sandbox_network_has_no_route_out_and_vllm_has_a_gpu(compose):
    assert compose["networks"]["sandbox"]["internal"] is True
    assert compose["services"]["sandbox-node"]["networks"] == {"sandbox": None}
    vllm = compose["services"]["vllm"]
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert vllm["environment"]["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert "--enable-lora" in vllm["command"]


def test_compose_check_rejects_a_broken_file(tmp_path):
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["service"]["cap_drop"] = "ALL"        # must be a list
    broken["services"]["service"]["read_only"] = "yes please"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert _compose_config(path).returncode != 0


def _validate(doc: dict) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("path", K8S, ids=[p.name for p in K8S])
def test_kubernetes_manifests_match_the_api_schema(path):
    pytest.importorskip("kubernetes_validate")
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        _validate(doc)


def _docs() -> dict[str, dict]:
    return {d["kind"]: d for p in K8S for d in yaml.safe_load_all(p.read_text()) if d}


def test_kubernetes_nightly_never_overlaps_and_runs_in_utc():
    docs = _docs()
    assert {"Deployment", "Service", "CronJob", "Job"} <= set(docs)
    cron = docs["CronJob"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid" and cron["timeZone"] == "Etc/UTC"
    assert cron["startingDeadlineSeconds"] > 0
    for kind in ("Deployment", "CronJob", "Job"):
        text = yaml.safe_dump(docs[kind])
        assert "readOnlyRootFilesystem: true" in text and "allowPrivilegeEscalation: false" in text
        assert "runAsNonRoot: true" in text and "docker.sock" not in text


def test_kubernetes_check_rejects_a_broken_manifest():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    cron = copy.deepcopy(_docs()["CronJob"])
    cron["spec"]["concurencyPolicy"] = cron["spec"].pop("concurrencyPolicy")   # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(cron)


@pytest.mark.parametrize("name", ["ddp.yaml", "deepspeed-zero2.yaml", "cpu-2proc.yaml"])
def test_accelerate_configs_load(name):
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(ROOT / "configs" / "accelerate" / name))
    assert config.num_machines == 1
    if name == "deepspeed-zero2.yaml":
        assert config.deepspeed_config["zero_stage"] == 2


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [(line.split()[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_gpu_worker_recipe_builds_on_vllm_and_keeps_its_torch():
    steps = _instructions(ROOT / "docker" / "Dockerfile.gpu-worker")
    args = dict((a.split("=", 1)[0], a.split("=", 1)[1].split()[0]) for i, a in steps if i == "ARG")
    assert args["VLLM_IMAGE"].startswith("vllm/vllm-openai:")
    assert steps[1] == ("FROM", "${VLLM_IMAGE}")
    runs = " ".join(a for i, a in steps if i == "RUN")
    assert "[ml" not in runs and not re.search(r"pip install[^&]*\b(torch|vllm)\b", runs)
    assert "deepspeed" in runs and "trl" in runs
    user = [a for i, a in steps if i == "USER"]
    assert user and not user[-1].startswith(("0", "root"))
    copied = [a.split()[0] for i, a in steps if i == "COPY"]
    assert all((ROOT / c).exists() for c in copied), copied


def test_service_recipe_is_non_root_with_a_healthcheck():
    steps = _instructions(ROOT / "docker" / "Dockerfile.service")
    kinds = [i for i, _ in steps]
    assert "HEALTHCHECK" in kinds and "/healthz" in dict(steps)["HEALTHCHECK"]
    assert [a for i, a in steps if i == "USER"][-1] == "10001:10001"


def test_scale_example_recipe_uses_the_three_levers(monkeypatch):
    from codealign.config import load_config

    monkeypatch.chdir(ROOT)           # its accelerate config path is relative, as in compose
    config = load_config(ROOT / "configs" / "scale-example.yaml", check=False)
    assert config.backend == "openai" and config.generator["base_url"]
    assert config.sandbox.executor == "ray" and config.sandbox.ray_address
    assert config.dpo.accelerate_config == "configs/accelerate/ddp.yaml"
