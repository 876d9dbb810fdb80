"""The servicer functions Solace gives Ray Serve's gRPC proxy (``gRPCOptions``
``grpc_servicer_functions``, listed in ``services.router.service_names``).

Serve's proxy registers each service's methods with their generated request deserializers and
replaces only the handlers: grpcio parses the request in the proxy before Serve's code runs,
so bytes that are not a valid message end there as ``UNKNOWN: Unexpected DecodeError``, out
of Solace's reach. These functions register the same methods without a request deserializer:
the proxy forwards the request's bytes unparsed (cheaper too: the proxy no longer parses a
message only to pickle it again) and the ingress parses them with ``services.common.wire``,
where a bad message is INVALID_ARGUMENT like any other bad input.

The proxy also answers a call whose replica died under it with INTERNAL (Serve maps
``RayActorError`` to INTERNAL): here it is UNAVAILABLE, which clients retry, as the error
table says for a lost dependency. Serve offers no hook for the status of a failed call; a
servicer function runs in the proxy's process, so it wraps the proxy's status function there
(``answer_lost_replicas_unavailable``); ``tests/services/router/test_serve_grpc.py`` fails if
a Ray upgrade moves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2_grpc

from services.common.interceptor import is_lost_worker
from services.router.forward import FORWARDED
from solace.v1 import support_pb2_grpc

log = logging.getLogger("solace.router")

AddToServer = Callable[[Any, Any], None]


class _Collect:
    """Stands in for a server to catch what a generated ``add_*_to_server`` registers."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, grpc.RpcMethodHandler]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        for handler in handlers:
            for path, method in handler._method_handlers.items():
                service, name = path.strip("/").split("/", 1)
                self.services.setdefault(service, {})[name] = method

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.services.setdefault(service, {}).update(handlers)


def unparsed(add_to_server: AddToServer) -> AddToServer:
    """A servicer function registering what ``add_to_server`` does, minus the request
    deserializers: the handlers receive the request's bytes."""

    def add(servicer: Any, server: Any) -> None:
        answer_lost_replicas_unavailable()
        collected = _Collect()
        add_to_server(servicer, collected)
        for service, methods in collected.services.items():
            raw = {
                name: handler._replace(request_deserializer=None)
                for name, handler in methods.items()
            }
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, raw),))
            register = getattr(server, "add_registered_method_handlers", None)
            if register is not None:
                register(service, raw)

    add.__doc__ = f"``{add_to_server.__name__}`` with the requests left as bytes."
    return add


add_support = unparsed(support_pb2_grpc.add_SupportServicer_to_server)
add_health = unparsed(health_pb2_grpc.add_HealthServicer_to_server)
add_reflection = unparsed(reflection_pb2_grpc.add_ServerReflectionServicer_to_server)
#: The services the ingress forwards (services/router/forward.py), as ``add_<name>``
#: (``add_risk``, ...): module attributes, since Serve imports a servicer function by path.
FORWARDED_ADDERS: dict[str, AddToServer] = {
    f"add_{s.name}": unparsed(s.add_to_server) for s in FORWARDED
}


def __getattr__(name: str) -> AddToServer:
    try:
        return FORWARDED_ADDERS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


_LOST_REPLICA = "the replica serving this call was lost; retry"


def lost_replica_status(exc: BaseException) -> tuple[grpc.StatusCode, str] | None:
    """UNAVAILABLE for an exception that says a replica (or the process or node under it)
    died; ``None`` for any other (Serve's own mapping then answers)."""
    if is_lost_worker(exc):
        return grpc.StatusCode.UNAVAILABLE, _LOST_REPLICA
    return None


def answer_lost_replicas_unavailable() -> bool:
    """In the proxy's process, make its status for a call whose replica died UNAVAILABLE.
    Idempotent; returns whether the proxy's status function was found (and wrapped)."""
    try:
        from ray.serve._private import proxy
        from ray.serve._private.proxy_request_response import ResponseStatus
    except ImportError:  # pragma: no cover - Ray is a dependency of the Serve topology
        return False
    original = getattr(proxy, "get_grpc_response_status", None)
    if original is None:
        log.warning("Serve's proxy has no get_grpc_response_status: lost replicas read INTERNAL")
        return False
    if getattr(original, "_solace", False):
        return True

    def get_grpc_response_status(exc: BaseException, *args: Any, **kwargs: Any) -> Any:
        lost = lost_replica_status(exc)
        if lost is not None:
            log.warning("call lost with its replica (%s): UNAVAILABLE", type(exc).__name__)
            return ResponseStatus(code=lost[0], is_error=True, message=lost[1])
        return original(exc, *args, **kwargs)

    get_grpc_response_status._solace = True  # type: ignore[attr-defined]
    proxy.get_grpc_response_status = get_grpc_response_status
    return True
