"""Ray Serve deployment options from configuration, never from code.

``deployment_options(serve, name)`` is the ``.options(...)`` of one deployment of the Solace
graph (replicas or autoscaling, CPU share and custom resources, queue depth, spread across
nodes) and ``batch_options(serve, name)`` its request batching. Both start from the settings'
Serve section (``settings.serve``: ``SOLACE_*`` variables or the config file) and then apply
the per-deployment overrides of ``serve_deployments_file``, a YAML file shaped like a Serve
config's ``deployments`` list::

    deployments:
      - name: DefenseDeployment
        num_replicas: 2
        max_replicas_per_node: 1
        ray_actor_options: {num_cpus: 0.2, resources: {worker_node: 0.01}}
        max_batch_size: 32          # Solace's batching keys: max_batch_size, batch_wait_ms,
        batch_wait_ms: 5            # batching (on/off)

``serve_topology`` says which deployments exist: with ``colocated`` (the one-machine default)
only the Support ingress, one replica per CPU core, each running the four services in its own
process; with ``services`` all five, one replica each, 0.2 CPU each, which still fits a 2-core
machine. ``docs/scaling.md`` says when to choose which and how to size them for a cluster.

Which deployments exist and which of them batch is the registry's say (``services/registry.py``:
each entry's ``deployment`` and ``batched``, and the Support ingress); this module sizes them.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services import registry
from services.common.config import ServeSettings
from services.common.errors import InvalidArgument

#: The Support ingress, and the service deployments in the registry's order, then the ingress.
INGRESS = registry.SUPPORT_INGRESS
DEPLOYMENTS: tuple[str, ...] = (*(s.deployment for s in registry.SERVICES), INGRESS)
#: Deployments with a ``@serve.batch`` path (the registry's ``batched``).
BATCHED: frozenset[str] = frozenset(s.deployment for s in registry.SERVICES if s.batched)
# One name per deployment, as the deployments and tools that size one of them import it.
RISK, DEFENSE, STRATEGY, GENERATOR = (
    registry.BY_NAME[name].deployment for name in ("risk", "defense", "strategy", "generator")
)
#: ``serve_topology`` values. Colocated: the ingress alone, running the four services in its
#: process (on one small machine every Ray hop costs more CPU than the service it reaches);
#: services: one deployment per service, each scaled and placed on its own (a cluster).
COLOCATED, SERVICES = "colocated", "services"
TOPOLOGIES: tuple[str, ...] = (COLOCATED, SERVICES)

# Ongoing requests per replica the autoscaler aims for when ``target_ongoing_requests`` is 0.
# A batched deployment wants a full batch in flight before another replica pays off; the
# ingress mostly awaits the others, so it carries many; the others (risk, the composer
# generator) are short CPU-bound calls run one at a time in a thread.
_UNBATCHED_TARGET, _INGRESS_TARGET = 8.0, 32.0

# What a per-deployment override may set: Serve's own options, plus Solace's batching keys.
_SERVE_KEYS = frozenset(
    {
        "num_replicas",
        "autoscaling_config",
        "ray_actor_options",
        "max_ongoing_requests",
        "max_queued_requests",
        "max_replicas_per_node",
        "placement_group_bundles",
        "placement_group_strategy",
        "health_check_period_s",
        "health_check_timeout_s",
        "graceful_shutdown_timeout_s",
        "graceful_shutdown_wait_loop_s",
    }
)
_BATCH_KEYS = frozenset({"batching", "max_batch_size", "batch_wait_ms"})


@dataclass(frozen=True)
class BatchOptions:
    """How one replica batches requests to its model (passed to the deployment at bind time)."""

    enabled: bool = True
    max_batch_size: int = 16
    wait_timeout_s: float = 0.002


def load_overrides(path: str) -> dict[str, dict[str, Any]]:
    """Per-deployment overrides from ``path`` (empty path: none), checked key by key."""
    if not path:
        return {}
    loaded = yaml.safe_load(Path(path).read_text()) or {}
    entries = loaded.get("deployments", []) if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        raise InvalidArgument(f"{path}:deployments", "must be a list of {name: ..., ...}")
    overrides: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or entry.get("name") not in DEPLOYMENTS:
            raise InvalidArgument(
                f"{path}:deployments[{i}].name", f"must be one of {', '.join(DEPLOYMENTS)}"
            )
        name = entry["name"]
        unknown = set(entry) - _SERVE_KEYS - _BATCH_KEYS - {"name"}
        if unknown:
            raise InvalidArgument(f"{path}:{name}.{sorted(unknown)[0]}", "unknown option")
        if name not in BATCHED and set(entry) & _BATCH_KEYS:
            raise InvalidArgument(f"{path}:{name}", "this deployment does not batch")
        overrides[name] = {k: v for k, v in entry.items() if k != "name"}
    return overrides


def topology(serve: ServeSettings) -> str:
    """The app's layout, checked: one of ``TOPOLOGIES``."""
    if serve.serve_topology not in TOPOLOGIES:
        choices = ", ".join(TOPOLOGIES)
        raise InvalidArgument(
            "serve_topology", f"must be one of {choices}, not {serve.serve_topology!r}"
        )
    return serve.serve_topology


def deployed(serve: ServeSettings) -> tuple[str, ...]:
    """The deployments the app binds under the settings' topology."""
    return (INGRESS,) if topology(serve) == COLOCATED else DEPLOYMENTS


def replica_count(serve: ServeSettings, name: str) -> int:
    """Fixed replicas of deployment ``name``: ``serve.replicas``, or when that is 0 the
    topology's default. A colocated ingress does all of a request's CPU work, so one per core
    the process that builds the app may use (``usable_cpus``; on 2 cores: 97 req/s with one,
    108-118 with two, 106-113 with three; docs/scaling.md); with services, one of each."""
    if serve.replicas < 0:
        raise InvalidArgument("replicas", "must be 0 (the topology's default) or more")
    if serve.replicas:
        return serve.replicas
    if topology(serve) == COLOCATED and name == INGRESS:
        return usable_cpus()
    return 1


def usable_cpus() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (a
    container's ``--cpus`` or a pod's limit), which ``os.cpu_count`` does not see."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def _cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota in cores (cgroup v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us``), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def _autoscaling(serve: ServeSettings, name: str) -> dict[str, Any]:
    if name in BATCHED:
        default = float(serve.batch_max_size)
    elif name == INGRESS and topology(serve) != COLOCATED:
        default = _INGRESS_TARGET
    else:
        # Colocated, the ingress does the CPU work itself, like risk and the generator.
        default = _UNBATCHED_TARGET
    target = serve.target_ongoing_requests or default
    return {
        "min_replicas": serve.min_replicas,
        "max_replicas": max(serve.max_replicas, serve.min_replicas),
        "target_ongoing_requests": target,
        "upscale_delay_s": serve.upscale_delay_s,
        "downscale_delay_s": serve.downscale_delay_s,
    }


def deployment_options(
    serve: ServeSettings, name: str, overrides: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The ``.options(**kwargs)`` of deployment ``name``: settings, then its overrides."""
    if name not in DEPLOYMENTS:
        raise InvalidArgument("deployment", f"unknown deployment {name!r}")
    if overrides is None:
        overrides = load_overrides(serve.serve_deployments_file)
    # Replicas are async and mostly wait on each other: a fraction of a CPU each lets the
    # whole graph fit on a 2-core machine, and a generous queue keeps load tests honest.
    options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": serve.replica_num_cpus},
        "max_ongoing_requests": serve.max_ongoing_requests,
    }
    if serve.autoscaling:
        options["autoscaling_config"] = _autoscaling(serve, name)
    else:
        options["num_replicas"] = replica_count(serve, name)
    if serve.max_replicas_per_node > 0:
        options["max_replicas_per_node"] = serve.max_replicas_per_node

    override = copy.deepcopy(overrides.get(name, {}))
    for key in _BATCH_KEYS:
        override.pop(key, None)
    # A fixed count and autoscaling exclude each other: the override's choice wins.
    if "num_replicas" in override:
        options.pop("autoscaling_config", None)
    if "autoscaling_config" in override:
        options.pop("num_replicas", None)
        override["autoscaling_config"] = {
            **options.get("autoscaling_config", _autoscaling(serve, name)),
            **override["autoscaling_config"],
        }
    if "ray_actor_options" in override:
        override["ray_actor_options"] = {
            **options["ray_actor_options"],
            **override["ray_actor_options"],
        }
    options.update(override)
    return options


def batch_options(
    serve: ServeSettings, name: str, overrides: dict[str, dict[str, Any]] | None = None
) -> BatchOptions:
    """Batching of deployment ``name`` (disabled for those that do not batch)."""
    if name not in BATCHED:
        return BatchOptions(enabled=False)
    if overrides is None:
        overrides = load_overrides(serve.serve_deployments_file)
    override = overrides.get(name, {})
    size = int(override.get("max_batch_size", serve.batch_max_size))
    wait_ms = float(override.get("batch_wait_ms", serve.batch_wait_ms))
    if size < 1:
        raise InvalidArgument(f"{name}.max_batch_size", "must be at least 1")
    if wait_ms < 0:
        raise InvalidArgument(f"{name}.batch_wait_ms", "must not be negative")
    return BatchOptions(
        enabled=bool(override.get("batching", serve.batching)),
        max_batch_size=size,
        wait_timeout_s=wait_ms / 1000.0,
    )
