"""The classifier services on the Support port: ``RiskScreening/Screen``,
``DefenseClassifier/Classify`` and ``StrategyPredictor/Predict`` answered by the platform's
public server, so a partner app can screen or classify its own messages without running (or
reaching) the services' own processes.

Which services are forwarded is the registry's say (``Service.forwarded``,
``services.registry``). Each call goes through the same ``ServiceClients`` the Support
pipeline uses (handles, local servicers or gRPC channels, whichever the topology built), so it
meets the same validation (the service's own), the same access control, rate limits, metrics and
error table as ``Respond``.

The Generator is deliberately not forwarded: it writes text for a conversation it trusts to be
screened already (the request carries the safety decision), so on a public port it would be a
way around the risk screen and the output screen. ``Support/Respond`` is its public face.
"""

from __future__ import annotations

from typing import Any

from services.common.config import Settings
from services.registry import SERVICES, Rpc, Service

FORWARDED: tuple[Service, ...] = tuple(s for s in SERVICES if s.forwarded)
FORWARDED_SERVICES: tuple[str, ...] = tuple(s.full_name for s in FORWARDED)
# gRPC method name -> (service, RPC): what the Serve ingress answers by name (Serve's proxy
# hands it a call by method name alone, so two forwarded RPCs may not share one).
BY_METHOD: dict[str, tuple[Service, Rpc]] = {
    rpc.method: (service, rpc) for service in FORWARDED for rpc in service.rpcs
}
if len(BY_METHOD) != sum(len(s.rpcs) for s in FORWARDED):
    raise ValueError("two forwarded RPCs share a method name (services/registry.py)")
if any(rpc.stream for _, rpc in BY_METHOD.values()):
    raise ValueError("a forwarded RPC streams; forward() answers unary calls only")


async def forward(method: str, clients: Any, request: Any, settings: Settings) -> Any:
    """Answer one forwarded call (``method``: "Screen", ...) through ``clients``."""
    service, rpc = BY_METHOD[method]
    return await getattr(clients, rpc.call)(request, service.timeout_s(settings))


class ForwardingServicer:
    """A grpc.aio servicer for one forwarded service (the standalone Support server): its
    methods call the service through the router's clients. The server's interceptor guards,
    parses, counts and maps errors, as for ``Support``."""

    def __init__(self, service: Service, clients: Any, settings: Settings) -> None:
        for rpc in service.rpcs:

            async def method(request: Any, context: Any, _name: str = rpc.method) -> Any:
                return await forward(_name, clients, request, settings)

            setattr(self, rpc.method, method)
