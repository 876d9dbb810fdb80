"""Solace's servicer functions for Serve's gRPC proxy, without Ray running: they register every
method of the generated ones with the request left as bytes, and the proxy answers a call whose
replica died UNAVAILABLE (the Serve function they wrap is where this Ray keeps it)."""

from __future__ import annotations

from unittest.mock import Mock

import grpc

from services.router import serve_grpc
from services.router.service_names import GRPC_SERVICER_FUNCTIONS
from solace.v1 import support_pb2_grpc


class Recording:
    def __init__(self) -> None:
        self.generic: dict[str, grpc.RpcMethodHandler] = {}
        self.registered: dict[str, dict[str, grpc.RpcMethodHandler]] = {}

    def add_generic_rpc_handlers(self, handlers):
        for handler in handlers:
            self.generic.update(handler._method_handlers)

    def add_registered_method_handlers(self, service, handlers):
        self.registered[service] = handlers


def test_servicer_functions_are_importable_as_serve_imports_them():
    from ray._common.utils import import_attr

    for path in GRPC_SERVICER_FUNCTIONS:
        assert callable(import_attr(path)), path


def test_every_method_is_registered_without_a_request_deserializer():
    generated, ours = Recording(), Recording()
    support_pb2_grpc.add_SupportServicer_to_server(Mock(), generated)
    serve_grpc.add_support(Mock(), ours)
    assert (
        set(ours.generic)
        == set(generated.generic)
        == {
            "/solace.v1.Support/Respond",
            "/solace.v1.Support/RespondStream",
        }
    )
    assert set(ours.registered["solace.v1.Support"]) == {"Respond", "RespondStream"}
    for path, handler in ours.generic.items():
        assert handler.request_deserializer is None, path
        # Responses are still serialized as the generated code says (Serve replaces it).
        assert handler.response_serializer is generated.generic[path].response_serializer
        assert handler.response_streaming == generated.generic[path].response_streaming
    for fn in (serve_grpc.add_health, serve_grpc.add_reflection):
        recording = Recording()
        fn(Mock(), recording)
        assert recording.generic
        assert all(h.request_deserializer is None for h in recording.generic.values())


def test_the_proxy_answers_a_lost_replica_unavailable():
    from ray import exceptions
    from ray.serve._private import proxy
    from ray.serve.exceptions import BackPressureError

    assert serve_grpc.answer_lost_replicas_unavailable()
    assert serve_grpc.answer_lost_replicas_unavailable()  # idempotent
    status_of = proxy.get_grpc_response_status
    assert status_of._solace
    for exc in (exceptions.ActorDiedError(), exceptions.ActorUnavailableError("gone", None)):
        status = status_of(exc, None, "request-1")
        assert status.code == grpc.StatusCode.UNAVAILABLE
        assert status.is_error and "retry" in status.message
    # Everything else is Serve's own mapping, unchanged.
    assert status_of(TimeoutError(), 5.0, "r").code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert (
        status_of(BackPressureError(num_queued_requests=3, max_queued_requests=2), None, "r").code
        == grpc.StatusCode.RESOURCE_EXHAUSTED
    )
    assert status_of(RuntimeError("bug"), None, "r").code == grpc.StatusCode.INTERNAL
