"""Names of the gRPC services Solace exposes, and the servicer functions Serve's proxy needs."""

from __future__ import annotations

from grpc_reflection.v1alpha import reflection

from services.common.rpc_names import HEALTH_SERVICE, SUPPORT_SERVICE
from services.router.forward import FORWARDED_SERVICES
from services.router.serve_grpc import FORWARDED_ADDERS

# Support, the classifier services it forwards (services/router/forward.py), health, reflection.
PUBLIC_SERVICES: tuple[str, ...] = (
    SUPPORT_SERVICE,
    *FORWARDED_SERVICES,
    HEALTH_SERVICE,
    reflection.SERVICE_NAME,
)

# Import paths the Ray Serve gRPC proxy registers (see ``gRPCOptions.grpc_servicer_functions``):
# the generated ones with the requests left as bytes for the ingress to parse, so a corrupt
# request is INVALID_ARGUMENT, and a call whose replica died UNAVAILABLE (services/router/
# serve_grpc.py).
GRPC_SERVICER_FUNCTIONS: tuple[str, ...] = (
    "services.router.serve_grpc.add_support",
    "services.router.serve_grpc.add_health",
    "services.router.serve_grpc.add_reflection",
    *(f"services.router.serve_grpc.{name}" for name in FORWARDED_ADDERS),
)
