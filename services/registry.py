"""One entry per Solace service: what names it, how it is built and how it is reached.

Everything that wires services together reads this table instead of listing them again: the
Ray Serve app (``services/router/app.py``), ``solace serve <service>`` and its standalone server
(``solace/standalone.py``), the router's three client transports (``services/router/clients.py``),
the RPCs the router forwards on the main port (``services/router/forward.py``) and the CLI's
choices. Adding a service is one entry here plus its own room (``services/<name>/``).

An entry names the proto service and its generated registration and stub, the RPCs (gRPC method,
the Python method its servicer and deployment answer with, and the ``ServiceClients`` call the
router makes), the servicer factory (an import path, so reading the table loads no model), the
Serve deployment (which says whether it batches), the timeout setting, and whether the main port
forwards it.
Ports and targets are the settings ``<name>_port`` and ``<name>_target``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common import rpc_names
from services.common.config import Settings
from services.common.serve_options import BATCHED, DEFENSE, GENERATOR, RISK, STRATEGY
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
    deployment: str
    timeout_setting: str
    forwarded: bool = False

    @property
    def batched(self) -> bool:
        """Whether its deployment batches requests (``serve_options.BATCHED`` says)."""
        return self.deployment in BATCHED

    def build_servicer(self, settings: Settings) -> Any:
        """The servicer with its models loaded (imported only now)."""
        module, _, function = self.servicer_factory.partition(":")
        return getattr(importlib.import_module(module), function)(settings)

    def timeout_s(self, settings: Settings) -> float:
        return float(getattr(settings, self.timeout_setting)) / 1000.0


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
    deployment=RISK,
    timeout_setting="risk_timeout_ms",
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
    deployment=DEFENSE,
    timeout_setting="classify_timeout_ms",
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
    deployment=STRATEGY,
    timeout_setting="classify_timeout_ms",
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
    deployment=GENERATOR,
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
