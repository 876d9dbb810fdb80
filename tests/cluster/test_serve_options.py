"""Deployment options come from settings and the per-deployment overrides file: the defaults fit
one 2-core machine, autoscaling and spread are switched on by configuration, and a bad
overrides file is refused naming the offending key."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from services.common.config import Settings, load_settings
from services.common.errors import InvalidArgument
from services.common.serve_options import (
    BATCHED,
    COLOCATED,
    DEFENSE,
    DEPLOYMENTS,
    GENERATOR,
    INGRESS,
    RISK,
    SERVICES,
    batch_options,
    deployed,
    deployment_options,
    load_overrides,
)


@pytest.mark.parametrize("topology", [COLOCATED, SERVICES])
def test_defaults_fit_the_whole_graph_on_two_cores(topology, monkeypatch):
    monkeypatch.setattr("services.common.serve_options.usable_cpus", lambda: 2)
    settings = Settings().with_overrides(serve_topology=topology)
    cpus = 0.0
    for name in deployed(settings.serve):
        options = deployment_options(settings.serve, name)
        assert "autoscaling_config" not in options
        cpus += options["num_replicas"] * options["ray_actor_options"]["num_cpus"]
        assert options["max_ongoing_requests"] >= batch_options(settings.serve, name).max_batch_size
    assert cpus <= 1.0  # half the machine: Serve's controller and proxy need the rest


def test_one_machine_colocates_the_services_in_one_ingress_per_core(monkeypatch):
    monkeypatch.setattr("services.common.serve_options.usable_cpus", lambda: 3)
    settings = Settings()
    assert settings.serve.serve_topology == COLOCATED
    assert deployed(settings.serve) == (INGRESS,)
    assert deployment_options(settings.serve, INGRESS)["num_replicas"] == 3
    assert (
        deployment_options(settings.with_overrides(replicas=1).serve, INGRESS)["num_replicas"] == 1
    )
    services = settings.with_overrides(serve_topology=SERVICES).serve
    assert deployed(services) == DEPLOYMENTS
    assert {deployment_options(services, n)["num_replicas"] for n in DEPLOYMENTS} == {1}


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"serve_topology": "mesh"}, "serve_topology"), ({"replicas": -1}, "replicas")],
)
def test_a_bad_topology_or_replica_count_is_refused_naming_the_setting(changes, field):
    with pytest.raises(InvalidArgument) as err:
        deployment_options(Settings().with_overrides(**changes).serve, INGRESS)
    assert err.value.field == field


def test_overrides_for_a_deployment_the_topology_lacks_are_refused(tmp_path: Path):
    from services.router.app import build_app

    path = tmp_path / "deployments.yaml"
    path.write_text("deployments:\n  - name: RiskDeployment\n    num_replicas: 2\n")
    settings = Settings().with_overrides(serve_deployments_file=str(path))
    with pytest.raises(InvalidArgument) as err:
        build_app(settings)
    assert err.value.field == f"{path}:RiskDeployment"
    build_app(settings.with_overrides(serve_topology=SERVICES))  # there it exists


def test_autoscaling_from_environment_with_workload_targets():
    settings = load_settings(
        {
            "SOLACE_AUTOSCALING": "true",
            "SOLACE_MIN_REPLICAS": "2",
            "SOLACE_MAX_REPLICAS": "6",
            "SOLACE_BATCH_MAX_SIZE": "24",
            "SOLACE_SERVE_TOPOLOGY": "services",
        }
    )
    defense = deployment_options(settings.serve, DEFENSE)
    assert "num_replicas" not in defense
    assert defense["autoscaling_config"]["min_replicas"] == 2
    assert defense["autoscaling_config"]["max_replicas"] == 6
    # A batched classifier aims at a full batch per replica; the ingress mostly waits.
    assert defense["autoscaling_config"]["target_ongoing_requests"] == 24
    ingress = deployment_options(settings.serve, INGRESS)["autoscaling_config"]
    assert (
        ingress["target_ongoing_requests"]
        > deployment_options(settings.serve, RISK)["autoscaling_config"]["target_ongoing_requests"]
    )
    assert ingress["upscale_delay_s"] < ingress["downscale_delay_s"]
    # Colocated, the ingress does the CPU work itself: it aims as low as risk does.
    colocated = settings.with_overrides(serve_topology=COLOCATED).serve
    assert (
        deployment_options(colocated, INGRESS)["autoscaling_config"]["target_ongoing_requests"]
        == deployment_options(colocated, RISK)["autoscaling_config"]["target_ongoing_requests"]
    )


def test_overrides_file_sets_replicas_resources_and_batching(tmp_path: Path):
    path = tmp_path / "deployments.yaml"
    path.write_text(
        """
deployments:
  - name: DefenseDeployment
    num_replicas: 2
    max_replicas_per_node: 1
    ray_actor_options: {resources: {worker_node: 0.01}}
    max_batch_size: 32
    batch_wait_ms: 5
  - name: GeneratorDeployment
    autoscaling_config: {max_replicas: 3}
"""
    )
    settings = Settings().with_overrides(serve_deployments_file=str(path), replica_num_cpus=0.25)
    defense = deployment_options(settings.serve, DEFENSE)
    assert defense["num_replicas"] == 2
    assert defense["max_replicas_per_node"] == 1
    assert defense["ray_actor_options"] == {"num_cpus": 0.25, "resources": {"worker_node": 0.01}}
    assert "max_batch_size" not in defense  # Solace's own keys never reach .options()
    batching = batch_options(settings.serve, DEFENSE)
    assert (batching.max_batch_size, batching.wait_timeout_s) == (32, 0.005)
    generator = deployment_options(settings.serve, GENERATOR)
    assert "num_replicas" not in generator
    assert generator["autoscaling_config"]["max_replicas"] == 3
    assert generator["autoscaling_config"]["min_replicas"] == 1


def test_batching_switch_and_unbatched_deployments():
    assert {"DefenseDeployment", "StrategyDeployment"} == BATCHED
    assert not batch_options(Settings().with_overrides(batching=False).serve, DEFENSE).enabled
    assert not batch_options(Settings().serve, RISK).enabled
    on = batch_options(
        Settings().with_overrides(batch_max_size=8, batch_wait_ms=3.0).serve, DEFENSE
    )
    assert on.enabled and on.max_batch_size == 8 and on.wait_timeout_s == pytest.approx(0.003)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("deployments:\n  - name: Nope\n", "deployments[0].name"),
        (
            "deployments:\n  - name: RiskDeployment\n    num_replica: 2\n",
            "RiskDeployment.num_replica",
        ),
        ("deployments:\n  - name: RiskDeployment\n    max_batch_size: 2\n", "RiskDeployment"),
        ("deployments: {a: 1}\n", "deployments"),
    ],
)
def test_bad_overrides_file_is_refused_naming_the_key(tmp_path: Path, text: str, field: str):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InvalidArgument) as err:
        load_overrides(str(path))
    assert err.value.field == f"{path}:{field}"


@pytest.mark.parametrize(
    ("files", "cores"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, --cpus=1.5
        ({"cpu.max": "max 100000\n"}, None),  # v2, no limit
        ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_a_container_cpu_quota_caps_the_colocated_replicas(tmp_path, files, cores, monkeypatch):
    from services.common import serve_options

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert serve_options._cgroup_cpu_quota(tmp_path) == cores
    # A 1.5-core quota on a 64-core host: two replicas, not 64 copies of the models.
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(serve_options, "_cgroup_cpu_quota", lambda: cores)
    assert serve_options.usable_cpus() == (64 if cores is None else math.ceil(cores))
