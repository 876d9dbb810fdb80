"""The Ray Serve application, wired with ``.bind`` in this one place: with the ``services``
topology the four service deployments and the Support ingress that calls them through handles;
with ``colocated`` the Support ingress alone, running the four services in its process.
``build_app`` is used by ``solace serve``; ``app_builder`` is the import path for a Serve config
file or KubeRay (``services.router.app:app_builder``).

Replicas, autoscaling, resources and batching come from settings and the optional
per-deployment overrides file (``services/common/serve_options.py``), never from code here.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from services.classifier.deployment import ClassifierDeployment
from services.common.config import Settings, load_settings
from services.common.errors import InvalidArgument
from services.common.serve_options import (
    COLOCATED,
    GENERATOR,
    INGRESS,
    RISK,
    batch_options,
    deployed,
    deployment_options,
    load_overrides,
    topology,
)
from services.generator.deployment import GeneratorDeployment
from services.registry import DEFENSE_ENTRY, STRATEGY_ENTRY
from services.risk.deployment import RiskDeployment
from services.router.deployment import SupportIngress

APP_NAME = "solace"


def build_app(settings: Settings) -> Application:
    """The whole Support graph; every deployment gets the same settings."""
    # Read the overrides file once, here, so replicas on other nodes never need the file.
    overrides = load_overrides(settings.serve_deployments_file)
    absent = sorted(set(overrides) - set(deployed(settings)))
    if absent:
        raise InvalidArgument(
            f"{settings.serve_deployments_file}:{absent[0]}",
            f"no such deployment with serve_topology {topology(settings)}",
        )

    def options(name: str) -> dict[str, Any]:
        return deployment_options(settings, name, overrides)

    if topology(settings) == COLOCATED:
        return SupportIngress.options(**options(INGRESS)).bind(None, None, None, None, settings)
    risk = RiskDeployment.options(**options(RISK)).bind(settings)
    # Defense and strategy: one classifier deployment class, bound once per service.
    defense, strategy = (
        ClassifierDeployment.options(name=entry.deployment, **options(entry.deployment)).bind(
            entry.name, settings, batch_options(settings, entry.deployment, overrides)
        )
        for entry in (DEFENSE_ENTRY, STRATEGY_ENTRY)
    )
    generator = GeneratorDeployment.options(**options(GENERATOR)).bind(settings)
    return SupportIngress.options(**options(INGRESS)).bind(
        risk, defense, strategy, generator, settings
    )


def app_builder(args: dict[str, Any]) -> Application:
    """Serve application builder: ``args`` override settings read from the environment."""
    return build_app(load_settings(**{k: v for k, v in (args or {}).items()}))
