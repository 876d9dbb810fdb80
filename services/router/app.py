"""The Ray Serve application: the four service deployments and the Support ingress, wired with
``.bind`` in this one place. ``build_app`` is used by ``solace serve``; ``app_builder`` is the
import path for a Serve config file or KubeRay (``services.router.app:app_builder``).
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from services.common.config import Settings, load_settings
from services.defense.deployment import DefenseDeployment
from services.generator.deployment import GeneratorDeployment
from services.risk.deployment import RiskDeployment
from services.router.deployment import SupportIngress
from services.strategy.deployment import StrategyDeployment

APP_NAME = "solace"


def build_app(settings: Settings) -> Application:
    """The whole Support graph; every deployment gets the same settings."""
    replicas = {
        "num_replicas": settings.replicas,
        # Replicas are async and mostly wait on each other: a fraction of a CPU each lets the
        # whole graph fit on a 2-core machine, and a generous queue keeps load tests honest.
        "ray_actor_options": {"num_cpus": settings.replica_num_cpus},
        "max_ongoing_requests": settings.max_ongoing_requests,
    }
    risk = RiskDeployment.options(**replicas).bind(settings)
    defense = DefenseDeployment.options(**replicas).bind(settings)
    strategy = StrategyDeployment.options(**replicas).bind(settings)
    generator = GeneratorDeployment.options(**replicas).bind(settings)
    return SupportIngress.options(**replicas).bind(risk, defense, strategy, generator, settings)


def app_builder(args: dict[str, Any]) -> Application:
    """Serve application builder: ``args`` override settings read from the environment."""
    return build_app(load_settings(**{k: v for k, v in (args or {}).items()}))
