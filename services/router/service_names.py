"""Names of the gRPC services Solace exposes, and the servicer functions Serve's proxy needs."""

from __future__ import annotations

from grpc_reflection.v1alpha import reflection

from services.common.rpc_names import HEALTH_SERVICE, SUPPORT_SERVICE

PUBLIC_SERVICES: tuple[str, ...] = (SUPPORT_SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME)

# Import paths the Ray Serve gRPC proxy registers (see ``gRPCOptions.grpc_servicer_functions``).
GRPC_SERVICER_FUNCTIONS: tuple[str, ...] = (
    "solace.v1.support_pb2_grpc.add_SupportServicer_to_server",
    "grpc_health.v1.health_pb2_grpc.add_HealthServicer_to_server",
    "grpc_reflection.v1alpha.reflection_pb2_grpc.add_ServerReflectionServicer_to_server",
)
