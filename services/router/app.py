"""The Ray Serve application, wired with ``.bind`` in this one place: with the ``services``
topology every registry service's deployment (``services/registry.py``) and the Support ingress
that calls them through their handles, by registry name; with ``colocated`` the Support ingress
alone, running the services in its process.
``build_app`` is used by ``solace serve``; ``app_builder`` is the import path for a Serve config
file or KubeRay (``services.router.app:app_builder``).

Replicas, autoscaling, resources and batching come from settings and the optional
per-deployment overrides file (``services/common/serve_options.py``), never from code here.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from services.common.config import Settings, load_settings
from services.common.errors import InvalidArgument
from services.common.serve_options import (
    COLOCATED,
    INGRESS,
    batch_options,
    deployed,
    deployment_options,
    load_overrides,
    topology,
)
from services.registry import SERVICES, Service
from services.router.deployment import SupportIngress

APP_NAME = "solace"


def build_app(settings: Settings) -> Application:
    """The whole Support graph; every deployment gets the same settings."""
    serve = settings.serve
    # Read the overrides file once, here, so replicas on other nodes never need the file.
    overrides = load_overrides(serve.serve_deployments_file)
    absent = sorted(set(overrides) - set(deployed(serve)))
    if absent:
        raise InvalidArgument(
            f"{serve.serve_deployments_file}:{absent[0]}",
            f"no such deployment with serve_topology {topology(serve)}",
        )

    ingress = SupportIngress.options(**deployment_options(serve, INGRESS, overrides))
    if topology(serve) == COLOCATED:
        return ingress.bind(settings)
    return ingress.bind(settings, {s.name: _bind(s, settings, overrides) for s in SERVICES})


def _bind(service: Service, settings: Settings, overrides: dict[str, Any]) -> Application:
    """One service's deployment, named and sized; a class shared by several services (the
    classifiers') is also told which one it serves and how it batches."""
    deployment = service.load_deployment().options(
        name=service.deployment, **deployment_options(settings.serve, service.deployment, overrides)
    )
    if service.shared_deployment:
        batching = batch_options(settings.serve, service.deployment, overrides)
        return deployment.bind(service.name, settings, batching)
    return deployment.bind(settings)


def app_builder(args: dict[str, Any]) -> Application:
    """Serve application builder: ``args`` override settings read from the environment."""
    return build_app(load_settings(**{k: v for k, v in (args or {}).items()}))
