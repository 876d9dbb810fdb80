"""The service registry agrees with the generated code, the settings and the deployments it
names, so a wrong entry fails here rather than on the first call that uses it."""

from __future__ import annotations

import importlib
from dataclasses import fields

import pytest
from ray.serve import Deployment

from services.common.config import Settings, load_settings
from services.common.serve_options import BATCHED, DEPLOYMENTS
from services.registry import BY_NAME, SERVICES, STANDALONE, Service
from services.router.serve_grpc import _Collect


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_an_entry_registers_exactly_its_rpcs(service: Service) -> None:
    collected = _Collect()
    servicer = type("Servicer", (), {r.method: None for r in service.rpcs})()
    service.add_to_server(servicer, collected)
    assert set(collected.services) == {service.full_name}
    assert set(collected.services[service.full_name]) == {r.method for r in service.rpcs}
    for rpc in service.rpcs:
        assert rpc.name == f"{service.full_name}/{rpc.method}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_an_entry_names_real_settings_and_a_real_deployment(service: Service) -> None:
    settings = Settings()
    assert service.port(settings) == service.default_port
    assert service.target(settings) == f"localhost:{service.default_port}"
    assert service.timeout_s(settings) > 0
    assert service.deployment in DEPLOYMENTS
    assert service.batched == (service.deployment in BATCHED)
    # The Serve deployment it names is one (bound under the entry's name by the app).
    assert isinstance(service.load_deployment(), Deployment)
    module, _, function = service.servicer_factory.partition(":")
    assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_a_service_port_and_target_are_set_by_its_environment_variables(service: Service) -> None:
    """``SOLACE_<NAME>_PORT`` / ``SOLACE_<NAME>_TARGET``, as the Helm chart renders them."""
    upper = service.name.upper()
    settings = load_settings({f"SOLACE_{upper}_PORT": "6123", f"SOLACE_{upper}_TARGET": ""})
    assert service.port(settings) == 6123
    assert service.target(settings) == "localhost:6123"
    settings = load_settings({f"SOLACE_{upper}_TARGET": f"solace-{service.name}:7000"})
    assert service.target(settings) == f"solace-{service.name}:7000"


def test_every_service_setting_belongs_to_an_entry() -> None:
    # A port or target setting no entry names is a service wired by hand somewhere.
    names = {f.name for f in fields(Settings)}
    own = {f"{s.name}_{kind}" for s in SERVICES for kind in ("port", "target")}
    assert own <= names
    assert {n for n in names if n.endswith("_target")} == {s.target_setting for s in SERVICES}
    platform_ports = {"grpc_port", "http_port", "metrics_port", "ray_metrics_port"}
    assert {n for n in names if n.endswith("_port")} - platform_ports == {
        s.port_setting for s in SERVICES
    }


def test_solace_serve_accepts_every_entry_and_the_router() -> None:
    from solace_cli.cli import build_parser

    parser = build_parser()
    for name in (*BY_NAME, "support"):
        assert parser.parse_args(["serve", name]).service == name
    assert set(STANDALONE) == {*BY_NAME, "support"}


def test_the_generator_is_not_forwarded_on_the_public_port() -> None:
    # It writes text for a conversation it trusts to be screened already.
    assert not BY_NAME["generator"].forwarded
    assert {s.name for s in SERVICES if s.forwarded} == {"risk", "defense", "strategy"}


# A service added as one more registry entry (with its room, here the script's own module),
# imported before anything reads the table: nothing else is edited.
_ONE_MORE_ENTRY = """
import asyncio, dataclasses, grpc
from services import registry
from solace.v1 import risk_pb2

class EchoServicer:
    async def echo(self, request):
        return request

def build_echo(settings):
    return EchoServicer()

def add_echo(servicer, server):
    handler = grpc.unary_unary_rpc_method_handler(
        servicer.Echo, risk_pb2.ScreenRequest.FromString, risk_pb2.ScreenRequest.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "solace.v1.Echo", {"Echo": handler}),))

rpc = registry.Rpc("Echo", "solace.v1.Echo/Echo", "echo", "echo",
                   risk_pb2.ScreenRequest, risk_pb2.ScreenRequest)
echo = dataclasses.replace(
    registry.RISK_ENTRY, name="echo", full_name="solace.v1.Echo", label="echo", rpcs=(rpc,),
    add_to_server=add_echo, stub=lambda channel: ("echo stub", channel),
    servicer_factory="__main__:build_echo", deployment="EchoDeployment",
    deployment_class="services.generator.deployment:GeneratorDeployment", default_port=50099)
registry.SERVICES = (*registry.SERVICES, echo)
registry.BY_NAME["echo"] = echo
registry.STANDALONE = (*registry.BY_NAME, "support")

from services.common.config import Settings, load_settings
from services.common.serve_options import DEPLOYMENTS, deployment_options
from services.router.app import build_app
from services.router.clients import GrpcClients, HandleClients, LocalClients
from services.router.deployment import SupportIngressReplica
from services.router.forward import forward
from services.router.service_names import GRPC_SERVICER_FUNCTIONS, PUBLIC_SERVICES
from solace_cli.cli import build_parser
from solace_cli.standalone import service_specs

settings = Settings()
# Its settings, environment variables and standalone server.
assert settings.echo_port == 50099 and echo.target(settings) == "localhost:50099"
assert echo.target(load_settings({"SOLACE_ECHO_TARGET": "solace-echo:1"})) == "solace-echo:1"
assert build_parser().parse_args(["serve", "echo"]).service == "echo"
(spec,) = service_specs("echo", settings)
assert spec.name == "solace.v1.Echo" and isinstance(spec.servicer, EchoServicer)

# The router's clients call it, and the main port forwards it.
request = risk_pb2.ScreenRequest()
others = {s.name: None for s in registry.SERVICES}
local = LocalClients(**{**others, "echo": EchoServicer()})
assert asyncio.run(local.echo(request, 1.0)) is request
assert asyncio.run(forward("Echo", local, request, settings)) is request

class Handle:
    def __getattr__(self, name):
        class Method:
            async def remote(self, request, trace_metadata=None):
                return (name, request)
        return Method()

handles = HandleClients({name: Handle() for name in others})
assert asyncio.run(handles.echo(request, 1.0)) == ("echo", request)
async def echo_stub():
    clients = GrpcClients.from_settings(settings)
    try:
        return clients._stubs["echo"][0]
    finally:
        await clients.close()

assert asyncio.run(echo_stub()) == "echo stub"
assert callable(SupportIngressReplica.Echo)
assert "solace.v1.Echo" in PUBLIC_SERVICES
assert "services.router.serve_grpc.add_echo" in GRPC_SERVICER_FUNCTIONS

# The Serve app binds its deployment, sized like the others.
assert "EchoDeployment" in DEPLOYMENTS
assert deployment_options(settings.serve, "EchoDeployment")["num_replicas"] == 1
_, bound = build_app(settings.with_overrides(serve_topology="services"))._bound_deployment.init_args
assert bound["echo"]._bound_deployment.name == "EchoDeployment"
print("one more entry: wired")
"""


def test_one_more_registry_entry_is_served_called_forwarded_and_deployed() -> None:
    """What adding a service is: an entry appended to the table (and its room). Its settings,
    ``solace serve``, the standalone server, the three client transports, the forwarded RPC,
    the ingress and the Serve app all take it without another file changing."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _ONE_MORE_ENTRY],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "one more entry: wired" in done.stdout
