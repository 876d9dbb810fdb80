"""The classifier services on the Support port: ``RiskScreening/Screen``,
``DefenseClassifier/Classify`` and ``StrategyPredictor/Predict`` answered by the platform's
public server, so a partner app can screen or classify its own messages without running (or
reaching) the services' own processes.

Each call goes through the same ``ServiceClients`` the Support pipeline uses (handles, local
servicers or gRPC channels, whichever the topology built), so it meets the same validation (the
service's own), the same access control, rate limits, metrics and error table as ``Respond``.

The Generator is deliberately not forwarded: it writes text for a conversation it trusts to be
screened already (the request carries the safety decision), so on a public port it would be a
way around the risk screen and the output screen. ``Support/Respond`` is its public face.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.common.config import Settings
from services.common.rpc_names import (
    CLASSIFY,
    DEFENSE_SERVICE,
    PREDICT,
    RISK_SERVICE,
    SCREEN,
    STRATEGY_SERVICE,
)
from solace.v1 import (
    defense_pb2,
    defense_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    strategy_pb2,
    strategy_pb2_grpc,
)


@dataclass(frozen=True)
class Forwarded:
    """One forwarded RPC: its service and method names, request and response types, the
    ``ServiceClients`` call that answers it, the timeout setting (milliseconds) and the
    generated registration."""

    service: str
    rpc: str
    method: str
    request: type
    response: type
    call: str
    timeout_setting: str
    add_to_server: Callable[[Any, Any], None]

    def timeout(self, settings: Settings) -> float:
        return float(getattr(settings, self.timeout_setting)) / 1000.0


FORWARDED: tuple[Forwarded, ...] = (
    Forwarded(
        RISK_SERVICE,
        SCREEN,
        "Screen",
        risk_pb2.ScreenRequest,
        risk_pb2.ScreenResponse,
        "screen",
        "risk_timeout_ms",
        risk_pb2_grpc.add_RiskScreeningServicer_to_server,
    ),
    Forwarded(
        DEFENSE_SERVICE,
        CLASSIFY,
        "Classify",
        defense_pb2.ClassifyRequest,
        defense_pb2.ClassifyResponse,
        "classify",
        "classify_timeout_ms",
        defense_pb2_grpc.add_DefenseClassifierServicer_to_server,
    ),
    Forwarded(
        STRATEGY_SERVICE,
        PREDICT,
        "Predict",
        strategy_pb2.PredictRequest,
        strategy_pb2.PredictResponse,
        "predict",
        "classify_timeout_ms",
        strategy_pb2_grpc.add_StrategyPredictorServicer_to_server,
    ),
)
FORWARDED_SERVICES: tuple[str, ...] = tuple(f.service for f in FORWARDED)
BY_METHOD: dict[str, Forwarded] = {f.method: f for f in FORWARDED}


async def forward(entry: Forwarded, clients: Any, request: Any, settings: Settings) -> Any:
    """Answer one forwarded call through ``clients`` (a ``ServiceClients``)."""
    return await getattr(clients, entry.call)(request, entry.timeout(settings))


class ForwardingServicer:
    """A grpc.aio servicer for one forwarded service (the standalone Support server): its one
    method calls the service through the router's clients. The server's interceptor guards,
    parses, counts and maps errors, as for ``Support``."""

    def __init__(self, entry: Forwarded, clients: Any, settings: Settings) -> None:
        self._entry, self._clients, self._settings = entry, clients, settings

        async def method(request: Any, context: Any) -> Any:
            return await forward(self._entry, self._clients, request, self._settings)

        setattr(self, entry.method, method)
