"""One entry per Solace service: what names it, how it is built and how it is reached.

Everything that wires services together reads this table instead of listing them again:

- the settings ``<name>_port`` (``SOLACE_<NAME>_PORT``, the entry's default port) and
  ``<name>_target`` (``SOLACE_<NAME>_TARGET``) of ``services.common.config.Settings``, read
  through ``Service.port`` / ``Service.target``;
- the Serve deployments' names, which of them batch, and the deployment sizing keyed by them
  (``services/common/serve_options.py``);
- the Ray Serve app (``services/router/app.py``: each service's deployment bound, and handed to
  the Support ingress by name);
- ``solace serve <service>`` and its standalone server (``solace/standalone.py``) and the CLI's
  choices;
- the router's three client transports and their calls (``services/router/clients.py``);
- the RPCs forwarded on the main port (``services/router/forward.py``), the ingress methods that
  answer them and the servicer functions Serve's proxy registers for them.

Adding a service is one entry here plus its own room (``services/<name>/``); what the Support
pipeline does with it is the router's business (``services/router/pipeline.py``).

An entry names the proto service and its generated registration and stub, the RPCs (gRPC method,
the Python method its servicer and deployment answer with, and the ``ServiceClients`` call the
router makes), the servicer factory and the Serve deployment (import paths, so reading the table
loads no model and no Ray), whether that deployment batches, the default port, the timeout
setting, and whether the main port forwards it.

This module imports only the generated stubs and ``rpc_names``: it sits just above them, so the
config loader and the deployment options can read it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.common import rpc_names
from solace.v1 import (
    defense_pb2,
    defense_pb2_grpc,
    generation_pb2,
    generation_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)

if TYPE_CHECKING:  # the config loader reads this table, so it is not imported here
    from services.common.config import Settings

#: The Support router's Serve deployment (the ingress; it is no entry: it composes them).
SUPPORT_INGRESS = "SupportIngress"


@dataclass(frozen=True)
class Rpc:
    """One RPC: ``method`` in the proto, ``name`` as metrics and spans carry it
    (``package.Service/Method``), ``local`` the servicer's and deployment's Python method,
    ``call`` the router's ``ServiceClients`` method; ``stream`` for server streaming."""

    method: str
    name: str
    local: str
    call: str
    request: type
    response: type
    stream: bool = False


@dataclass(frozen=True)
class Service:
    """One service (see the module docstring)."""

    name: str
    full_name: str
    label: str  # what errors call it: "risk screening is unavailable"
    rpcs: tuple[Rpc, ...]
    add_to_server: Callable[[Any, Any], None]
    stub: Callable[[Any], Any]
    servicer_factory: str  # "module:function", called with the settings
    deployment: str  # the Serve deployment's name ("RiskDeployment")
    # "module:attribute" of its ``serve.deployment``. Bound with the settings, or, when
    # ``shared_deployment`` (one class bound once per service, as the classifiers'), with the
    # service's name, the settings and its ``BatchOptions``.
    deployment_class: str
    default_port: int  # of the ``<name>_port`` setting
    timeout_setting: str
    batched: bool = False  # its deployment gathers concurrent requests (``@serve.batch``)
    shared_deployment: bool = False
    forwarded: bool = False

    @property
    def port_setting(self) -> str:
        """The ``Settings`` field of its standalone port (``SOLACE_<NAME>_PORT``)."""
        return f"{self.name}_port"

    @property
    def target_setting(self) -> str:
        """The ``Settings`` field of where the standalone router reaches it
        (``SOLACE_<NAME>_TARGET``; empty: ``localhost:<port>``)."""
        return f"{self.name}_target"

    def port(self, settings: Settings) -> int:
        """The port ``solace serve <name>`` listens on."""
        return int(getattr(settings, self.port_setting))

    def target(self, settings: Settings) -> str:
        """host:port the standalone router's clients call."""
        return getattr(settings, self.target_setting) or f"localhost:{self.port(settings)}"

    def build_servicer(self, settings: Settings) -> Any:
        """The servicer with its models loaded (imported only now)."""
        return _load(self.servicer_factory)(settings)

    def load_deployment(self) -> Any:
        """Its Serve deployment (``ray.serve`` imported only now)."""
        return _load(self.deployment_class)

    def timeout_s(self, settings: Settings) -> float:
        return float(getattr(settings, self.timeout_setting)) / 1000.0


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _rpc(pb2: Any, service: str, method: str, local: str, call: str, stream: bool = False) -> Rpc:
    """The ``Rpc`` of ``service``/``method`` in a generated ``*_pb2`` module."""
    found = pb2.DESCRIPTOR.services_by_name[service].methods_by_name[method]
    return Rpc(
        method,
        rpc_names.rpc_name(pb2.DESCRIPTOR, service, method),
        local,
        call,
        getattr(pb2, found.input_type.name),
        getattr(pb2, found.output_type.name),
        stream,
    )


RISK_ENTRY = Service(
    name="risk",
    full_name=rpc_names.RISK_SERVICE,
    label="risk screening",
    rpcs=(_rpc(risk_pb2, "RiskScreening", "Screen", "screen", "screen"),),
    add_to_server=risk_pb2_grpc.add_RiskScreeningServicer_to_server,
    stub=risk_pb2_grpc.RiskScreeningStub,
    servicer_factory="services.risk.servicer:build_risk_servicer",
    deployment="RiskDeployment",
    deployment_class="services.risk.deployment:RiskDeployment",
    default_port=50052,
    timeout_setting="risk_timeout_ms",
    # Not batched: its screen interleaves per-turn rules with the classifier, so only a split of
    # ``RiskScreen.screen`` could batch it; replicas scale it instead.
    forwarded=True,
)
DEFENSE_ENTRY = Service(
    name="defense",
    full_name=rpc_names.DEFENSE_SERVICE,
    label="defense",
    rpcs=(_rpc(defense_pb2, "DefenseClassifier", "Classify", "infer", "classify"),),
    add_to_server=defense_pb2_grpc.add_DefenseClassifierServicer_to_server,
    stub=defense_pb2_grpc.DefenseClassifierStub,
    servicer_factory="services.defense.servicer:build_defense_servicer",
    deployment="DefenseDeployment",
    deployment_class="services.classifier.deployment:ClassifierDeployment",
    default_port=50053,
    timeout_setting="classify_timeout_ms",
    batched=True,
    shared_deployment=True,
    forwarded=True,
)
STRATEGY_ENTRY = Service(
    name="strategy",
    full_name=rpc_names.STRATEGY_SERVICE,
    label="strategy",
    rpcs=(_rpc(strategy_pb2, "StrategyPredictor", "Predict", "infer", "predict"),),
    add_to_server=strategy_pb2_grpc.add_StrategyPredictorServicer_to_server,
    stub=strategy_pb2_grpc.StrategyPredictorStub,
    servicer_factory="services.strategy.servicer:build_strategy_servicer",
    deployment="StrategyDeployment",
    deployment_class="services.classifier.deployment:ClassifierDeployment",
    default_port=50054,
    timeout_setting="classify_timeout_ms",
    batched=True,
    shared_deployment=True,
    forwarded=True,
)
GENERATOR_ENTRY = Service(
    name="generator",
    full_name=rpc_names.GENERATOR_SERVICE,
    label="generation",
    rpcs=(
        _rpc(generation_pb2, "Generator", "Generate", "generate", "generate"),
        _rpc(
            generation_pb2,
            "Generator",
            "GenerateStream",
            "generate_stream",
            "generate_stream",
            stream=True,
        ),
    ),
    add_to_server=generation_pb2_grpc.add_GeneratorServicer_to_server,
    stub=generation_pb2_grpc.GeneratorStub,
    servicer_factory="services.generator.servicer:build_generator_servicer",
    deployment="GeneratorDeployment",
    deployment_class="services.generator.deployment:GeneratorDeployment",
    default_port=50055,
    timeout_setting="generation_timeout_ms",
    # Not on the main port: it writes text for a conversation whose safety decision it is
    # handed, so a public Generate would be a way around the risk and output screens.
    forwarded=False,
)

#: The services the Support router composes, in the order it calls them.
SERVICES: tuple[Service, ...] = (RISK_ENTRY, DEFENSE_ENTRY, STRATEGY_ENTRY, GENERATOR_ENTRY)
BY_NAME: dict[str, Service] = {s.name: s for s in SERVICES}
#: ``solace serve <name>``: each service, and the Support router over them.
STANDALONE: tuple[str, ...] = (*BY_NAME, "support")
