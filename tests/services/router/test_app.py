"""The Serve application is built from the service registry: with the ``services`` topology every
service's deployment is bound under its registry name and handed to the Support ingress by
name; colocated, the ingress stands alone; and every RPC the main port forwards is answered by
an ingress method and registered with Serve's gRPC proxy. Built, not run: no Ray cluster."""

from __future__ import annotations

import pytest
from ray.serve import Application
from ray.serve._private.utils import import_attr

from services.common.config import Settings
from services.common.serve_options import BATCHED, COLOCATED, INGRESS, SERVICES
from services.registry import SERVICES as REGISTRY
from services.router.app import build_app
from services.router.deployment import SupportIngressReplica
from services.router.forward import FORWARDED
from services.router.serve_grpc import _Collect
from services.router.service_names import GRPC_SERVICER_FUNCTIONS, PUBLIC_SERVICES


def test_the_services_topology_binds_every_registry_service_to_the_ingress() -> None:
    settings = Settings().with_overrides(serve_topology=SERVICES, replicas=2)
    ingress = build_app(settings)._bound_deployment
    assert ingress.name == INGRESS
    bound_settings, handles = ingress.init_args
    assert bound_settings == settings
    assert list(handles) == [s.name for s in REGISTRY]
    for service in REGISTRY:
        app = handles[service.name]
        assert isinstance(app, Application)
        deployment = app._bound_deployment
        assert deployment.name == service.deployment
        assert deployment.num_replicas == 2  # sized by serve_options, keyed by the entry's name
        if service.shared_deployment:
            name, _, batching = deployment.init_args
            assert name == service.name
            assert batching.enabled == (service.deployment in BATCHED)
        else:
            assert deployment.init_args == (settings,)


def test_the_colocated_topology_is_the_ingress_alone() -> None:
    ingress = build_app(Settings().with_overrides(serve_topology=COLOCATED))._bound_deployment
    assert ingress.name == INGRESS
    assert len(ingress.init_args) == 1  # the settings: it builds the services in its process


@pytest.mark.parametrize(
    "rpc", [r for s in FORWARDED for r in s.rpcs], ids=lambda r: r.name.rsplit(".", 1)[-1]
)
def test_every_forwarded_rpc_is_answered_by_the_ingress_and_registered_with_the_proxy(rpc) -> None:
    assert callable(getattr(SupportIngressReplica, rpc.method))
    service = rpc.name.split("/")[0]
    assert service in PUBLIC_SERVICES
    registered: dict[str, set[str]] = {}
    for path in GRPC_SERVICER_FUNCTIONS:
        collected = _Collect()
        import_attr(path)(SupportIngressReplica, collected)
        for name, methods in collected.services.items():
            registered.setdefault(name, set()).update(methods)
    assert rpc.method in registered[service]


def test_the_generator_is_neither_an_ingress_method_nor_registered() -> None:
    assert not hasattr(SupportIngressReplica, "Generate")
    assert "solace.v1.Generator" not in PUBLIC_SERVICES
